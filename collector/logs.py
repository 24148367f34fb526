"""ExportLogsServiceRequest -> rows of `records` with kind 'log'. Pure: no I/O, no clock.

A log record has no id of its own in OTLP. Spyglass gives it a span_id derived from its content
(so a retried export yields the same id) and hangs it under the span it was emitted in
(parent_span_id = the record's span_id). A log with no trace context gets a trace_id derived the
same way, so it shows up as a one-record trace, as in Logfire's live view.
"""

import hashlib
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from collector import genai
from collector.anyvalue import any_value, key_values
from collector.limits import MAX_MESSAGE_CHARS, MAX_NAME_CHARS, truncate
from collector.jsontext import json_bytes, json_text
from collector.resource import resource_columns, scope_columns
from collector.rows import Decoded
from collector.spans import LEVEL_INFO, exception_columns, http_columns, id_problem, level_number

# severity_text fallbacks for records that carry no severity_number
_SEVERITY_TEXT = {
    "TRACE": 1, "DEBUG": 5, "INFO": 9, "NOTICE": 10, "WARN": 13, "WARNING": 13,
    "ERROR": 17, "CRITICAL": 21, "FATAL": 21,
}


def decode_logs(request: ExportLogsServiceRequest, received_at_us: int) -> Decoded:
    """Turn a logs export into rows; records with malformed ids are counted and described."""
    out = Decoded()
    for resource_logs in request.resource_logs:
        resource = resource_columns(resource_logs.resource)
        for scope_logs in resource_logs.scope_logs:
            base = {**resource, **scope_columns(scope_logs.scope), "created_at": received_at_us}
            for index, record in enumerate(scope_logs.log_records):
                problem = id_problem("trace_id", record.trace_id, 16, required=False) or id_problem(
                    "span_id", record.span_id, 8, required=False
                )
                if problem:
                    out.reject(f"log record {index}: {problem}")
                    continue
                try:
                    out.records.append(log_row(record, base))
                except (ValueError, RecursionError) as error:
                    out.reject(f"log record {index}: {error}")
    return out


def log_row(record: LogRecord, base: dict[str, Any]) -> dict[str, Any]:
    """One log record as a `records` row."""
    attributes = key_values(record.attributes)
    body = any_value(record.body)
    body_text = body if isinstance(body, str) else (None if body is None else json_text(body))
    content_id = hashlib.blake2b(record.SerializeToString(deterministic=True), digest_size=16).digest()
    trace_id = record.trace_id.hex() if any(record.trace_id) else content_id.hex()
    parent_span_id = record.span_id.hex() if any(record.span_id) else None
    timestamp_ns = record.time_unix_nano or record.observed_time_unix_nano
    level = level_number(record.severity_number) or _SEVERITY_TEXT.get(record.severity_text.upper(), LEVEL_INFO)
    event_name = record.event_name or attributes.get("event.name")
    name = event_name or attributes.get("logfire.msg_template") or body_text or "log"
    exception = attributes if "exception.type" in attributes or "exception.message" in attributes else None

    return {
        **base,
        **http_columns(attributes),
        **genai.EMPTY,
        "start_timestamp": timestamp_ns // 1000,
        "end_timestamp": timestamp_ns // 1000,
        "duration": 0.0,
        "trace_id": trace_id,
        "span_id": content_id[:8].hex(),
        "parent_span_id": parent_span_id,
        "kind": "log",
        "level": level,
        "span_name": truncate(str(name), MAX_NAME_CHARS),
        "message": truncate(body_text if body_text is not None else str(name), MAX_MESSAGE_CHARS),
        "log_body": body_text,
        "attributes": json_bytes(attributes),
        "attributes_json_schema": None,
        "tags": None,
        "otel_status_code": "UNSET",
        "otel_status_message": None,
        "otel_span_kind": None,
        "otel_events": None,
        "otel_links": None,
        **exception_columns(exception),
    }
