"""ExportTraceServiceRequest -> rows of `records`. Pure: no I/O, no clock, no globals.

This is where a span becomes a row. Logfire's conventions are applied here (`logfire.msg` ->
message, `logfire.level_num` -> level, `logfire.tags` -> tags, `logfire.span_type` -> kind,
JSON-valued attributes named in `logfire.json_schema` parsed), and logfire's pending spans are
re-keyed onto the span they stand for.
"""

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.anyvalue import key_values
from collector.genai import drop_duplicate_calls, genai_columns
from collector.limits import (
    MAX_EVENTS,
    MAX_LINKS,
    MAX_MESSAGE_CHARS,
    MAX_NAME_CHARS,
    truncate,
)
from collector.jsontext import json_bytes
from collector.resource import resource_columns, scope_columns
from collector.rows import Decoded

STATUS_CODES = {0: "UNSET", 1: "OK", 2: "ERROR"}
SPAN_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}

# Levels are stored as numbers, as Logfire does: logfire.level_num and OTel severity numbers
# share one scale (trace 1, debug 5, info 9, notice 10, warn 13, error 17, fatal 21).
LEVEL_INFO = 9
LEVEL_ERROR = 17

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def level_number(value) -> int | None:
    """A valid level number (1-24), or None when unset (0) or not a number."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 24 else None


def iso_timestamp(nanos: int) -> str:
    """ISO 8601 in UTC with microseconds, for timestamps inside JSON columns."""
    return (_EPOCH + timedelta(microseconds=nanos // 1000)).isoformat()


def id_problem(name: str, value: bytes, size: int, required: bool) -> str | None:
    """Why a trace or span id is invalid, or None when it is fine (OTLP.md item 7)."""
    if not value:
        return f"{name} is missing" if required else None
    if len(value) != size:
        return f"{name} must be {size} bytes ({size * 2} hex characters), got {len(value)} bytes"
    if required and not any(value):
        return f"{name} must not be all zeros"
    return None


def decode_traces(request: ExportTraceServiceRequest, received_at_us: int) -> Decoded:
    """Turn a trace export into rows; invalid spans are counted and described, never stored."""
    out = Decoded()
    for resource_spans in request.resource_spans:
        resource = resource_columns(resource_spans.resource)
        for scope_spans in resource_spans.scope_spans:
            base = {**resource, **scope_columns(scope_spans.scope), "created_at": received_at_us}
            for index, span in enumerate(scope_spans.spans):
                problem = (
                    id_problem("trace_id", span.trace_id, 16, required=True)
                    or id_problem("span_id", span.span_id, 8, required=True)
                    or id_problem("parent_span_id", span.parent_span_id, 8, required=False)
                )
                if problem:
                    out.reject(f"span {index} ({truncate(span.name, 80)!r}): {problem}")
                    continue
                try:
                    row = span_row(span, base)
                except (ValueError, RecursionError) as error:
                    out.reject(f"span {index} ({truncate(span.name, 80)!r}): {error}")
                    continue
                if row["kind"] == "pending_span":
                    out.pending_spans.append(row)
                else:
                    out.records.append(row)
    drop_duplicate_calls(out.records)
    return out


def span_row(span: Span, base: dict[str, Any]) -> dict[str, Any]:
    """One span as a `records` row (base holds the resource, scope and created_at columns)."""
    attributes = key_values(span.attributes)
    raw_json = _parse_json_attributes(attributes)
    span_type = attributes.get("logfire.span_type")
    trace_id = span.trace_id.hex()
    span_id = span.span_id.hex()
    parent_span_id = span.parent_span_id.hex() if any(span.parent_span_id) else None
    start_ns = span.start_time_unix_nano
    end_ns: int | None = span.end_time_unix_nano

    kind = "span"
    if span_type == "log":
        kind = "log"
    elif span_type == "pending_span":
        if not parent_span_id:
            raise ValueError("pending span without a parent span id: it does not say which span it stands for")
        # A logfire pending span stands for its OTLP parent, the real span that has not ended
        # yet: store it under the real span's id and the real span's parent (REFERENCE-SPANS.md).
        kind = "pending_span"
        span_id = parent_span_id
        pending_parent = str(attributes.get("logfire.pending_parent_id") or "")
        parent_span_id = pending_parent if pending_parent.strip("0") else None
        end_ns = None

    events = [_event(event) for event in span.events[:MAX_EVENTS]]
    exception = next((e["attributes"] for e in reversed(events) if e["name"] == "exception"), None)
    status_code = STATUS_CODES.get(span.status.code, "UNSET")
    level = level_number(attributes.get("logfire.level_num"))
    if level is None:
        level = LEVEL_ERROR if status_code == "ERROR" else LEVEL_INFO
    tags = attributes.get("logfire.tags")
    message = attributes.get("logfire.msg")
    name = truncate(span.name, MAX_NAME_CHARS)

    return {
        **base,
        **http_columns(attributes),
        **genai_columns(attributes, start_ns),
        "start_timestamp": start_ns // 1000,
        "end_timestamp": None if end_ns is None else end_ns // 1000,
        "duration": None if end_ns is None else (end_ns - start_ns) / 1e9,
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent_span_id,
        "kind": kind,
        "level": level,
        "span_name": name,
        "message": truncate(str(message), MAX_MESSAGE_CHARS) if message is not None else name,
        "log_body": None,
        "attributes": json_bytes({**attributes, **raw_json} if raw_json else attributes),
        "attributes_json_schema": _optional_text(attributes.get("logfire.json_schema")),
        "tags": [str(tag) for tag in tags] if isinstance(tags, list) else None,
        "otel_status_code": status_code,
        "otel_status_message": span.status.message or None,
        "otel_span_kind": SPAN_KINDS.get(span.kind, "unspecified"),
        "otel_events": json_bytes(events) if events else None,
        "otel_links": json_bytes([_link(link) for link in span.links[:MAX_LINKS]]) if span.links else None,
        **exception_columns(exception),
    }


def exception_columns(exception: dict[str, Any] | None) -> dict[str, Any]:
    """is_exception and exception_* from the attributes of an `exception` event or log record."""
    if exception is None:
        return {"is_exception": False, "exception_type": None, "exception_message": None, "exception_stacktrace": None}
    return {
        "is_exception": True,
        "exception_type": _optional_text(exception.get("exception.type")),
        "exception_message": _optional_text(exception.get("exception.message")),
        "exception_stacktrace": _optional_text(exception.get("exception.stacktrace")),
    }


_HTTP_KEYS = frozenset({
    "http.target", "http.response.status_code", "http.status_code", "http.request.method", "http.method",
    "http.route", "url.full", "http.url", "url.path", "url.query",
})
_NO_HTTP = dict.fromkeys(("http_method", "http_route", "http_response_status_code", "url_full", "url_path", "url_query"))


def http_columns(attributes: dict[str, Any]) -> dict[str, Any]:
    """The http/url columns, from current or older HTTP semantic conventions."""
    if _HTTP_KEYS.isdisjoint(attributes):
        return _NO_HTTP  # most spans: skip ten lookups
    target = attributes.get("http.target")
    path, _, query = str(target).partition("?") if target is not None else (None, None, None)
    status = attributes.get("http.response.status_code", attributes.get("http.status_code"))
    return {
        "http_method": _optional_text(attributes.get("http.request.method", attributes.get("http.method"))),
        "http_route": _optional_text(attributes.get("http.route")),
        "http_response_status_code": status if isinstance(status, int) and not isinstance(status, bool) else None,
        "url_full": _optional_text(attributes.get("url.full", attributes.get("http.url"))),
        "url_path": _optional_text(attributes.get("url.path", path)),
        "url_query": _optional_text(attributes.get("url.query", query or None)),
    }


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _parse_json_attributes(attributes: dict[str, Any]) -> dict[str, orjson.Fragment]:
    """Parse attribute values that logfire.json_schema declares as JSON, as Logfire does.

    The logfire SDK sends dicts, lists and models as JSON text and lists their keys in
    logfire.json_schema; storing them parsed lets SQL reach inside (attributes->'x'->0).
    Returns the original text of each as an orjson.Fragment, so that serialising the attributes
    embeds the text as it came instead of writing the parsed value out again (agent messages are
    kilobytes: this saves ~10 us per chat span).
    """
    schema_text = attributes.get("logfire.json_schema")
    if not isinstance(schema_text, str):
        return {}
    try:
        properties = json.loads(schema_text).get("properties")
    except (ValueError, AttributeError, RecursionError):
        return {}
    if not isinstance(properties, dict):
        return {}  # not a JSON Schema object: nothing is declared as JSON
    raw: dict[str, orjson.Fragment] = {}
    for key in properties:
        value = attributes.get(key)
        if isinstance(value, str) and value[:1] in ("{", "["):
            try:
                attributes[key] = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue  # not JSON after all (or NaN, a lone surrogate, an int past 64 bits): kept as text
            raw[key] = orjson.Fragment(value)
    return raw


def _event(event: Span.Event) -> dict[str, Any]:
    return {
        "name": truncate(event.name, MAX_NAME_CHARS),
        "timestamp": iso_timestamp(event.time_unix_nano),
        "attributes": key_values(event.attributes),
    }


def _link(link: Span.Link) -> dict[str, Any]:
    return {
        "trace_id": link.trace_id.hex(),
        "span_id": link.span_id.hex(),
        "attributes": key_values(link.attributes),
    }
