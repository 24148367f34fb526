"""query/otlp_export.py: stored rows -> OTLP/JSON, read back by Spyglass's own decoders.

Rows are made by the collector's decoders from hand-built protobuf requests, turned into what the
database gives back (times in microseconds, JSON columns parsed), exported, and decoded again: the
rows must come back the same. tests/e2e/test_trace_view.py does the same through real servers.
"""

import json
import random

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector.decode import decode_request
from query import otlp_export
from query.trace import JSON_COLUMNS

TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
RECEIVED_US = 1_800_000_000_000_000


def stored(row: dict) -> dict:
    """A decoded row as query/trace.py's export_records returns it from the database."""
    record = dict(row, start_us=row["start_timestamp"], end_us=row["end_timestamp"])
    for column in JSON_COLUMNS:
        if isinstance(record.get(column), (str, bytes)):  # the decoders hand JSON columns over as UTF-8 bytes
            record[column] = json.loads(record[column])
    return record


def comparable(row: dict) -> dict:
    parsed = {c: (json.loads(v) if c in JSON_COLUMNS and v is not None else v) for c, v in row.items()}
    return {**parsed, "created_at": None}


def decode(signal: str, payload: dict) -> list[dict]:
    decoded = decode_request(signal, json.dumps(payload).encode(), "json", RECEIVED_US)
    assert decoded.rejected == 0, decoded.errors
    return decoded.records + decoded.pending_spans


def kv(key: str, **value) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))


def traces() -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for service in ("api", "worker"):
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend([kv("service.name", string_value=service), kv("process.pid", int_value=42)])
        for scope_name in ("logfire", "opentelemetry.instrumentation.httpx"):
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.name = scope_name
            scope_spans.scope.version = "1.2"
            scope_spans.scope.attributes.append(kv("scope.k", bool_value=True))
            for n in range(3):
                span = scope_spans.spans.add()
                span.trace_id = TRACE
                span.span_id = bytes([len(request.resource_spans), len(resource_spans.scope_spans), n + 1, 0, 0, 0, 0, 9])
                if n:
                    span.parent_span_id = bytes([len(request.resource_spans), len(resource_spans.scope_spans), 1, 0, 0, 0, 0, 9])
                span.name = f"{scope_name} {n} <b>"
                span.kind = n + 1
                span.start_time_unix_nano = 1_799_999_999_123_456_789 + n * 1_000_001
                span.end_time_unix_nano = span.start_time_unix_nano + 987_654_321 - n * 777
                span.attributes.extend([
                    kv("logfire.msg", string_value=f"message {n}"),
                    kv("logfire.json_schema", string_value='{"type":"object","properties":{"doc":{"type":"object"},"items":{}}}'),
                    kv("doc", string_value='{"a": [1, 2.5, {"b": null}], "big": 9007199254740993}'),
                    kv("items", string_value="[1,2,3]"),
                    kv("text_json", string_value='{"not": "declared"}'),
                    kv("int", int_value=-(2**63)),
                    kv("float", double_value=0.1),
                    kv("whole_float", double_value=3.0),
                    kv("flag", bool_value=False),
                    kv("empty", ),
                ])
                nested = span.attributes.add(key="nested")
                nested.value.kvlist_value.values.extend([kv("x", string_value="y"), kv("n", int_value=1)])
                array = span.attributes.add(key="array")
                array.value.array_value.values.extend([AnyValue(string_value="a"), AnyValue(int_value=2)])
                if n == 2:
                    span.status.code = 2
                    span.status.message = "it failed"
                    event = span.events.add(name="exception", time_unix_nano=span.start_time_unix_nano + 5_432)
                    event.attributes.extend([kv("exception.type", string_value="ValueError"),
                                             kv("exception.stacktrace", string_value="Traceback...")])
                    span.events.add(name="retry", time_unix_nano=span.start_time_unix_nano + 999)
                    link = span.links.add(trace_id=bytes(range(16)), span_id=bytes(range(8)))
                    link.attributes.append(kv("why", string_value="caused by"))
                elif n == 1:
                    span.status.code = 1
    return request


def test_spans_come_back_the_same():
    original = decode_request("traces", traces().SerializeToString(), "protobuf", RECEIVED_US).records
    export = otlp_export.traces_request([stored(r) for r in original])
    assert [len(r["scopeSpans"]) for r in export["resourceSpans"]] == [2, 2]
    assert [[len(s["spans"]) for s in r["scopeSpans"]] for r in export["resourceSpans"]] == [[3, 3], [3, 3]]
    span = export["resourceSpans"][0]["scopeSpans"][0]["spans"][2]
    # standard OTLP/JSON: hex ids, int64 and nanoseconds as strings, enums as numbers
    assert span["traceId"] == TRACE.hex() and len(span["spanId"]) == 16 and span["kind"] == 3
    assert isinstance(span["startTimeUnixNano"], str) and span["status"] == {"code": 2, "message": "it failed"}
    attributes = {a["key"]: a["value"] for a in span["attributes"]}
    assert attributes["int"] == {"intValue": str(-(2**63))}
    assert attributes["doc"] == {"stringValue": '{"a":[1,2.5,{"b":null}],"big":9007199254740993}'}  # declared JSON: text
    assert attributes["nested"] == {"kvlistValue": {"values": [
        {"key": "x", "value": {"stringValue": "y"}}, {"key": "n", "value": {"intValue": "1"}},
    ]}}
    assert attributes["empty"] == {}

    again = decode("traces", json.loads(json.dumps(export)))
    assert len(again) == len(original) == 12
    # JSON columns compared as JSON: declared JSON text is stored as it came, whitespace included
    assert [comparable(r) for r in again] == [comparable(r) for r in original]


def test_times_come_back_to_the_microsecond_with_the_same_duration():
    generator = random.Random(3)
    for _ in range(2000):
        start_ns = generator.randrange(10**18, 2 * 10**18)
        end_ns = start_ns + generator.choice([0, 1, 999, 1000, 1001, -1, -999_999]) + generator.randrange(0, 10**11)
        duration = (end_ns - start_ns) / 1e9
        start, end = otlp_export.span_times(start_ns // 1000, end_ns // 1000, duration)
        assert (start // 1000, end // 1000, (end - start) / 1e9) == (start_ns // 1000, end_ns // 1000, duration)


def test_log_records_come_back_except_their_derived_ids():
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.append(kv("service.name", string_value="logs"))
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = "app"
    records = [
        dict(body=AnyValue(string_value="plain body"), severity_number=13),
        dict(body=AnyValue(string_value="with event"), event_name="user.login", severity_text="ERROR"),
        dict(attributes=[kv("event.name", string_value="from attribute")], severity_number=9),
        dict(body=AnyValue(int_value=5), trace_id=TRACE, span_id=bytes(range(1, 9))),
        dict(),
    ]
    for n, fields in enumerate(records):
        scope_logs.log_records.add(time_unix_nano=1_800_000_000_000_000_000 + n * 1500, **fields)
    original = decode_request("logs", request.SerializeToString(), "protobuf", RECEIVED_US).records
    rows = [stored(r) for r in original]
    assert otlp_export.traces_request(rows) == {"resourceSpans": []}
    again = decode("logs", otlp_export.logs_request(rows))
    assert len(again) == 5
    # log records have no id in OTLP: Spyglass derives span_id from the record's bytes, which differ
    assert [dict(r, created_at=None, span_id=None) for r in again] == [dict(r, created_at=None, span_id=None) for r in original]


def test_pending_spans_are_left_out():
    rows = [stored(r) for r in decode_request("traces", traces().SerializeToString(), "protobuf", RECEIVED_US).records]
    rows[0] = dict(rows[0], kind="pending_span", end_us=None, duration=None)
    spans = [s for r in otlp_export.traces_request(rows)["resourceSpans"] for sc in r["scopeSpans"] for s in sc["spans"]]
    assert len(spans) == 11 and rows[0]["span_id"] not in {s["spanId"] for s in spans}
