"""Stored records -> standard OTLP/JSON export requests. Pure: rows in, plain dicts out.

The output is OTLP/JSON as the OTLP specification defines it, so any OTLP/HTTP receiver accepts it
(Spyglass's own /v1/traces, and `spyglass import`): hex trace and span ids, 64-bit integers and
nanosecond times as strings, enums as integers, lowerCamelCase keys, attributes as AnyValue.

- Spans (kind `span`, and logfire logs, which are spans with `logfire.span_type = "log"`) go into an
  ExportTraceServiceRequest; log records that came in through /v1/logs go into an
  ExportLogsServiceRequest. Pending spans are left out: they have no end, and the real span they
  stand for replaces them if it ever arrives.
- Resources and scopes are grouped as the exporters sent them: one ResourceSpans per distinct
  resource, one ScopeSpans per distinct scope within it.
- Values that `logfire.json_schema` declares as JSON (stored parsed) are written back as JSON text,
  as the logfire SDK sends them; other objects and arrays become kvlistValue / arrayValue.

Importing an export gives the same rows again (tests/e2e/test_trace_view.py checks it), except:
the ids of log records from /v1/logs (derived from the record's bytes), values the collector cut
(cut again, with a second marker) and the original type of bytes values (stored as base64 text) and
of NaN/Infinity doubles (stored as strings). Stored times have microseconds; the exported
nanoseconds are chosen so that start, end and the stored duration all come back exactly.
"""

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

SPAN_KINDS = {"unspecified": 0, "internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
STATUS_CODES = {"UNSET": 0, "OK": 1, "ERROR": 2}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_INT64 = range(-(2**63), 2**63)


def is_log_record(record: dict[str, Any]) -> bool:
    """True for a record that came in as an OTLP log record (it has no span kind)."""
    return record["kind"] == "log" and record.get("otel_span_kind") is None


def traces_request(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """An ExportTraceServiceRequest (OTLP/JSON) with the spans among `records`."""
    spans = [r for r in records if r["kind"] != "pending_span" and not is_log_record(r)]
    return {"resourceSpans": [
        {"resource": resource, "scopeSpans": [{"scope": scope, "spans": [span(r) for r in rows]} for scope, rows in scopes]}
        for resource, scopes in _group(spans)
    ]}


def logs_request(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """An ExportLogsServiceRequest (OTLP/JSON) with the log records (from /v1/logs) among `records`."""
    logs = [r for r in records if is_log_record(r)]
    return {"resourceLogs": [
        {"resource": resource, "scopeLogs": [{"scope": scope, "logRecords": [log_record(r) for r in rows]} for scope, rows in scopes]}
        for resource, scopes in _group(logs)
    ]}


def span(record: dict[str, Any]) -> dict[str, Any]:
    """One finished span record as an OTLP/JSON Span."""
    start_ns, end_ns = span_times(record["start_us"], record["end_us"], record["duration"])
    result: dict[str, Any] = {"traceId": record["trace_id"], "spanId": record["span_id"]}
    if record.get("parent_span_id"):
        result["parentSpanId"] = record["parent_span_id"]
    result.update({
        "name": record["span_name"] or "",
        "kind": SPAN_KINDS.get(record.get("otel_span_kind") or "unspecified", 0),
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(end_ns),
        "attributes": key_values(record.get("attributes") or {}, _json_text_keys(record.get("attributes_json_schema"))),
    })
    events = record.get("otel_events") or []
    if events:
        result["events"] = [
            {"timeUnixNano": str(iso_to_ns(event.get("timestamp"))), "name": event.get("name") or "",
             "attributes": key_values(event.get("attributes") or {})}
            for event in events
        ]
    links = record.get("otel_links") or []
    if links:
        result["links"] = [
            {"traceId": link.get("trace_id"), "spanId": link.get("span_id"), "attributes": key_values(link.get("attributes") or {})}
            for link in links
        ]
    status: dict[str, Any] = {"code": STATUS_CODES.get(record.get("otel_status_code") or "UNSET", 0)}
    if record.get("otel_status_message"):
        status["message"] = record["otel_status_message"]
    result["status"] = status
    return result


def log_record(record: dict[str, Any]) -> dict[str, Any]:
    """One log record (from /v1/logs) as an OTLP/JSON LogRecord."""
    attributes = record.get("attributes") or {}
    result: dict[str, Any] = {
        "timeUnixNano": str(record["start_us"] * 1000),
        "severityNumber": record.get("level") or 0,
        "attributes": key_values(attributes),
        "traceId": record["trace_id"],
    }
    if record.get("parent_span_id"):
        result["spanId"] = record["parent_span_id"]
    body = record.get("log_body")
    if body is not None:
        result["body"] = {"stringValue": body}
    # span_name was the record's event_name unless it came from one of these fallbacks
    fallback = attributes.get("event.name") or attributes.get("logfire.msg_template") or body or "log"
    if record.get("span_name") and record["span_name"] != str(fallback):
        result["eventName"] = record["span_name"]
    return result


def span_times(start_us: int, end_us: int, duration: float | None) -> tuple[int, int]:
    """Nanosecond start and end that give back the stored start, end (microseconds) and duration.

    The duration was computed from the original nanoseconds, so it says how far apart they were; the
    start's lost sub-microsecond part is chosen (0-999 ns) so that the end still falls in its stored
    microsecond.
    """
    if duration is None:
        return start_us * 1000, end_us * 1000
    gap = round(duration * 1e9)
    below = min(max((end_us - start_us) * 1000 - gap, 0), 999)
    start_ns = start_us * 1000 + below
    return start_ns, start_ns + gap


def iso_to_ns(text: str | None) -> int:
    """ISO 8601 text (as stored in otel_events) -> nanoseconds since the epoch."""
    if not text:
        return 0
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // datetime.resolution * 1000


def any_value(value: Any, as_json_text: bool = False) -> dict[str, Any]:
    """A stored JSON value as an OTLP AnyValue."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)} if value in _INT64 else {"stringValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if as_json_text:
        return {"stringValue": json.dumps(value, ensure_ascii=False, separators=(",", ":"))}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value(item) for item in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": key_values(value)}}
    return {"stringValue": str(value)}


def key_values(mapping: dict[str, Any], json_text_keys: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """A dict as an OTLP KeyValue list; keys in `json_text_keys` holding objects or arrays become JSON text."""
    if not isinstance(mapping, dict):
        return []
    return [{"key": key, "value": any_value(value, key in json_text_keys)} for key, value in mapping.items()]


def _json_text_keys(schema_text: str | None) -> frozenset[str]:
    """The attribute names `logfire.json_schema` declares (their values were sent as JSON text)."""
    if not schema_text:
        return frozenset()
    try:
        properties = json.loads(schema_text).get("properties")
    except (ValueError, AttributeError, RecursionError):
        return frozenset()
    return frozenset(properties) if isinstance(properties, dict) else frozenset()


def _group(records: list[dict[str, Any]]) -> list[tuple[dict, list[tuple[dict, list[dict]]]]]:
    """[(resource, [(scope, records), ...]), ...] in order of first appearance."""
    resources: dict[str, tuple[dict, dict[str, tuple[dict, list]]]] = {}
    for record in records:
        resource_attributes = record.get("otel_resource_attributes") or {}
        resource_key = json.dumps(resource_attributes, sort_keys=True)
        scope_attributes = record.get("otel_scope_attributes") or {}
        scope_key = json.dumps([record.get("otel_scope_name"), record.get("otel_scope_version"), scope_attributes], sort_keys=True)
        if resource_key not in resources:
            resources[resource_key] = ({"attributes": key_values(resource_attributes)}, {})
        scopes = resources[resource_key][1]
        if scope_key not in scopes:
            scope: dict[str, Any] = {}
            if record.get("otel_scope_name"):
                scope["name"] = record["otel_scope_name"]
            if record.get("otel_scope_version"):
                scope["version"] = record["otel_scope_version"]
            if scope_attributes:
                scope["attributes"] = key_values(scope_attributes)
            scopes[scope_key] = (scope, [])
        scopes[scope_key][1].append(record)
    return [(resource, list(scopes.values())) for resource, scopes in resources.values()]
