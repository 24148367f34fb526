"""The pure decoders: handcrafted OTLP protobuf and JSON bodies -> rows of `records` and `metrics`.

Everything goes through collector.decode.decode_request, the single entry point of every receiver.
"""

import copy
import json
import math
import random

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector.decode import decode_request
from collector.errors import BadRequest
from collector.limits import (
    DROPPED_ATTRIBUTES_KEY,
    MAX_ATTRIBUTES,
    MAX_DEPTH,
    MAX_MESSAGE_CHARS,
    MAX_NAME_CHARS,
    MAX_STRING_CHARS,
    TOO_DEEP_MARKER,
)
from collector.otlp_json import parse_json_request
from collector.rows import METRIC_COLUMNS, RECORD_COLUMNS, metrics_table, records_table

RECEIVED_US = 1_700_000_000_000_000
TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SPAN = bytes.fromhex("b7ad6b7169203331")
PARENT = bytes.fromhex("00f067aa0ba902b7")
START_NS = 1_700_000_000_123_456_789
END_NS = START_NS + 1_500_000_000


def any_value(value) -> AnyValue:
    """A Python value as an AnyValue (bool before int: bool is an int subclass)."""
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=kvs(value)))
    return AnyValue(string_value=value)


def kvs(attributes: dict | list) -> list[KeyValue]:
    """KeyValues from a dict, or from a list of (key, value) pairs when a key must repeat."""
    items = attributes.items() if isinstance(attributes, dict) else attributes
    return [KeyValue(key=key, value=any_value(value)) for key, value in items]


def make_span(name: str = "span", attrs: dict | list | None = None, **fields) -> Span:
    values = dict(trace_id=TRACE, span_id=SPAN, start_time_unix_nano=START_NS, end_time_unix_nano=END_NS)
    values.update(fields)
    return Span(name=name, attributes=kvs(attrs or {}), **values)


def traces_body(*spans: Span, resource: dict | None = None, scope: InstrumentationScope | None = None) -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add(resource=Resource(attributes=kvs(resource or {})))
    resource_spans.scope_spans.add(scope=scope, spans=list(spans))
    return request.SerializeToString()


def decode_spans(*spans: Span, **kwargs):
    return decode_request("traces", traces_body(*spans, **kwargs), "protobuf", RECEIVED_US)


def one_row(*spans: Span, **kwargs) -> dict:
    decoded = decode_spans(*spans, **kwargs)
    assert decoded.rejected == 0, decoded.errors
    assert len(decoded.records) == 1 and not decoded.pending_spans
    row = decoded.records[0]
    assert set(row) == set(RECORD_COLUMNS)
    return row


def logs_body(*records: LogRecord, resource: dict | None = None) -> bytes:
    request = ExportLogsServiceRequest()
    request.resource_logs.add(resource=Resource(attributes=kvs(resource or {}))).scope_logs.add(
        scope=InstrumentationScope(name="logger"), log_records=list(records)
    )
    return request.SerializeToString()


def one_log(record: LogRecord) -> dict:
    decoded = decode_request("logs", logs_body(record), "protobuf", RECEIVED_US)
    assert decoded.rejected == 0, decoded.errors
    assert len(decoded.records) == 1
    return decoded.records[0]


def decode_metric_rows(*metrics: Metric):
    request = ExportMetricsServiceRequest()
    request.resource_metrics.add(resource=Resource(attributes=kvs({"service.name": "meter"}))).scope_metrics.add(
        scope=InstrumentationScope(name="m", version="2"), metrics=list(metrics)
    )
    return decode_request("metrics", request.SerializeToString(), "protobuf", RECEIVED_US)


def decode_json(signal: str, document: dict):
    return decode_request(signal, json.dumps(document).encode(), "json", RECEIVED_US)


# --- spans: resource, scope and core columns ---


def test_resource_and_scope_columns():
    resource = {
        "service.name": "checkout",
        "service.version": "1.2.3",
        "service.namespace": "shop",
        "service.instance.id": "pod-7",
        "process.pid": 4242,
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": "1.45.0",
        "deployment.environment": "old-key",
        "deployment.environment.name": "production",
    }
    scope = InstrumentationScope(name="my.lib", version="0.9", attributes=kvs({"scope.attr": 1}))
    row = one_row(make_span(), resource=resource, scope=scope)
    assert row["service_name"] == "checkout"
    assert row["service_version"] == "1.2.3"
    assert row["service_namespace"] == "shop"
    assert row["service_instance_id"] == "pod-7"
    assert row["process_pid"] == 4242
    assert (row["telemetry_sdk_name"], row["telemetry_sdk_language"], row["telemetry_sdk_version"]) == (
        "opentelemetry",
        "python",
        "1.45.0",
    )
    assert row["deployment_environment"] == "production"  # the current key wins over the old one
    assert json.loads(row["otel_resource_attributes"]) == resource
    assert row["otel_scope_name"] == "my.lib"
    assert row["otel_scope_version"] == "0.9"
    assert json.loads(row["otel_scope_attributes"]) == {"scope.attr": 1}
    assert row["created_at"] == RECEIVED_US


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ({}, {"service_name": "unknown_service", "deployment_environment": None, "process_pid": None}),
        ({"deployment.environment": "staging"}, {"deployment_environment": "staging"}),
        ({"deployment.environment.name": "dev"}, {"deployment_environment": "dev"}),
        ({"process.pid": "123"}, {"process_pid": 123}),
        ({"process.pid": "not a pid"}, {"process_pid": None}),
        # out of BIGINT range: must become NULL, not an insert error that fails the whole batch
        ({"process.pid": 1e30}, {"process_pid": None}),
        ({"process.pid": True}, {"process_pid": None}),
    ],
)
def test_resource_column_fallbacks(resource, expected):
    row = one_row(make_span(), resource=resource)
    assert {key: row[key] for key in expected} == expected


def test_span_core_columns():
    span = make_span(
        "GET /items",
        {"a": "b"},
        parent_span_id=PARENT,
        kind=Span.SPAN_KIND_SERVER,
        status=Status(code=Status.STATUS_CODE_OK, message="fine"),
    )
    row = one_row(span)
    assert row["trace_id"] == TRACE.hex()
    assert row["span_id"] == SPAN.hex()
    assert row["parent_span_id"] == PARENT.hex()
    assert row["kind"] == "span"
    assert row["span_name"] == "GET /items"
    assert row["message"] == "GET /items"  # no logfire.msg: the name
    assert row["start_timestamp"] == START_NS // 1000
    assert row["end_timestamp"] == END_NS // 1000
    assert row["duration"] == pytest.approx(1.5)
    assert row["otel_status_code"] == "OK"
    assert row["otel_status_message"] == "fine"
    assert row["otel_span_kind"] == "server"
    assert row["level"] == 9
    assert json.loads(row["attributes"]) == {"a": "b"}
    assert row["tags"] is None
    assert row["log_body"] is None
    assert row["otel_events"] is None and row["otel_links"] is None
    assert row["is_exception"] is False and row["exception_type"] is None


def test_all_zero_parent_span_id_means_root():
    assert one_row(make_span(parent_span_id=bytes(8)))["parent_span_id"] is None
    assert one_row(make_span())["parent_span_id"] is None


@pytest.mark.parametrize(
    ("code", "name", "level"),
    [
        (Status.STATUS_CODE_UNSET, "UNSET", 9),
        (Status.STATUS_CODE_OK, "OK", 9),
        (Status.STATUS_CODE_ERROR, "ERROR", 17),
    ],
)
def test_status_code_and_default_level(code, name, level):
    row = one_row(make_span(status=Status(code=code)))
    assert (row["otel_status_code"], row["level"]) == (name, level)


@pytest.mark.parametrize(
    ("kind", "name"),
    [(0, "unspecified"), (1, "internal"), (2, "server"), (3, "client"), (4, "producer"), (5, "consumer")],
)
def test_span_kind(kind, name):
    assert one_row(make_span(kind=kind))["otel_span_kind"] == name


@pytest.mark.parametrize(
    ("level_num", "status", "expected"),
    [
        (13, Status.STATUS_CODE_ERROR, 13),  # logfire.level_num is kept even on an error span
        (5, Status.STATUS_CODE_UNSET, 5),
        (0, Status.STATUS_CODE_ERROR, 17),  # 0 = unset: the status decides
        (99, Status.STATUS_CODE_UNSET, 9),  # out of range: the default
        ("warn", Status.STATUS_CODE_UNSET, 9),  # not a number: the default
    ],
)
def test_logfire_level_num(level_num, status, expected):
    row = one_row(make_span(attrs={"logfire.level_num": level_num}, status=Status(code=status)))
    assert row["level"] == expected


def test_clock_skew_is_kept():
    row = one_row(make_span(start_time_unix_nano=END_NS, end_time_unix_nano=START_NS))
    assert row["duration"] == pytest.approx(-1.5)
    row = one_row(make_span(start_time_unix_nano=0, end_time_unix_nano=0))
    assert (row["start_timestamp"], row["end_timestamp"], row["duration"]) == (0, 0, 0.0)


def test_http_columns_current_semconv():
    row = one_row(
        make_span(
            attrs={
                "http.request.method": "POST",
                "http.route": "/items/{id}",
                "http.response.status_code": 201,
                "url.full": "https://shop.example/items/7?x=1",
                "url.path": "/items/7",
                "url.query": "x=1",
                # the older names lose when both are present
                "http.method": "GET",
                "http.status_code": 500,
                "http.url": "https://old.example/",
            }
        )
    )
    assert {k: row[k] for k in ("http_method", "http_route", "http_response_status_code")} == {
        "http_method": "POST",
        "http_route": "/items/{id}",
        "http_response_status_code": 201,
    }
    assert (row["url_full"], row["url_path"], row["url_query"]) == (
        "https://shop.example/items/7?x=1",
        "/items/7",
        "x=1",
    )


def test_http_columns_old_semconv():
    row = one_row(
        make_span(
            attrs={
                "http.method": "GET",
                "http.status_code": 404,
                "http.url": "http://old.example/a/b?q=2",
                "http.target": "/a/b?q=2",
            }
        )
    )
    assert (row["http_method"], row["http_response_status_code"], row["url_full"]) == (
        "GET",
        404,
        "http://old.example/a/b?q=2",
    )
    assert (row["url_path"], row["url_query"]) == ("/a/b", "q=2")
    assert one_row(make_span(attrs={"http.target": "/plain"}))["url_query"] is None
    empty = one_row(make_span())
    assert [empty[k] for k in ("http_method", "http_route", "http_response_status_code", "url_full", "url_path", "url_query")] == [None] * 6


def test_non_integer_status_code_is_not_stored_as_a_number():
    assert one_row(make_span(attrs={"http.response.status_code": "200"}))["http_response_status_code"] is None
    assert one_row(make_span(attrs={"http.response.status_code": True}))["http_response_status_code"] is None


def test_events_and_exception_columns_from_the_last_exception_event():
    span = make_span()
    span.events.add(name="exception", time_unix_nano=START_NS, attributes=kvs({"exception.type": "KeyError", "exception.message": "first"}))
    span.events.add(name="retry", time_unix_nano=START_NS + 1000, attributes=kvs({"attempt": 2}))
    span.events.add(
        name="exception",
        time_unix_nano=START_NS + 2000,
        attributes=kvs({"exception.type": "ValueError", "exception.message": "bad value", "exception.stacktrace": "Traceback..."}),
    )
    row = one_row(span)
    assert row["is_exception"] is True
    assert (row["exception_type"], row["exception_message"], row["exception_stacktrace"]) == (
        "ValueError",
        "bad value",
        "Traceback...",
    )
    events = json.loads(row["otel_events"])
    assert [e["name"] for e in events] == ["exception", "retry", "exception"]
    assert events[1] == {"name": "retry", "timestamp": "2023-11-14T22:13:20.123457+00:00", "attributes": {"attempt": 2}}


def test_links_as_json_with_hex_ids():
    span = make_span()
    span.links.add(trace_id=bytes(range(16)), span_id=bytes(range(8)), attributes=kvs({"link.kind": "follows"}))
    links = json.loads(one_row(span)["otel_links"])
    assert links == [
        {"trace_id": "000102030405060708090a0b0c0d0e0f", "span_id": "0001020304050607", "attributes": {"link.kind": "follows"}}
    ]


# --- spans: logfire conventions ---


def test_logfire_msg_tags_and_log_span_type():
    row = one_row(
        make_span(
            "user {name} logged in",
            {"logfire.msg": "user alice logged in", "logfire.tags": ["auth", "audit"], "logfire.span_type": "log"},
        )
    )
    assert row["span_name"] == "user {name} logged in"
    assert row["message"] == "user alice logged in"
    assert row["tags"] == ["auth", "audit"]
    assert row["kind"] == "log"


@pytest.mark.parametrize(("pending_parent_id", "expected_parent"), [("1111111111111111", "1111111111111111"), ("0000000000000000", None)])
def test_pending_span_is_rekeyed_to_the_real_span(pending_parent_id, expected_parent):
    real_span_id = bytes.fromhex("abcdefabcdefabcd")
    pending = make_span(
        "work",
        {"logfire.span_type": "pending_span", "logfire.pending_parent_id": pending_parent_id},
        span_id=bytes.fromhex("9999999999999999"),
        parent_span_id=real_span_id,
        start_time_unix_nano=START_NS,
        end_time_unix_nano=START_NS,
    )
    decoded = decode_spans(pending)
    assert decoded.records == [] and len(decoded.pending_spans) == 1
    row = decoded.pending_spans[0]
    assert row["kind"] == "pending_span"
    assert row["span_id"] == real_span_id.hex()
    assert row["parent_span_id"] == expected_parent
    assert row["end_timestamp"] is None and row["duration"] is None
    assert row["start_timestamp"] == START_NS // 1000


def test_json_schema_attributes_are_parsed():
    schema = {"type": "object", "properties": {"obj": {"type": "object"}, "lst": {"type": "array"}, "broken": {}}}
    row = one_row(
        make_span(
            attrs={
                "logfire.json_schema": json.dumps(schema),
                "obj": '{"a": {"b": [1, 2]}}',
                "lst": '[1, "two"]',
                "broken": "{not json",
                "unlisted": '{"stays": "text"}',
            }
        )
    )
    attributes = json.loads(row["attributes"])
    assert attributes["obj"] == {"a": {"b": [1, 2]}}
    assert attributes["lst"] == [1, "two"]
    assert attributes["broken"] == "{not json"
    assert attributes["unlisted"] == '{"stays": "text"}'
    assert json.loads(row["attributes_json_schema"]) == schema


@pytest.mark.parametrize("schema", ['{"properties": [{}]}', '{"properties": 5}', "[1]", "not json", "null"])
def test_malformed_json_schema_leaves_attributes_alone(schema):
    row = one_row(make_span(attrs={"logfire.json_schema": schema, "obj": '{"a": 1}'}))
    assert json.loads(row["attributes"])["obj"] == '{"a": 1}'
    assert row["attributes_json_schema"] == schema


# --- spans: invalid ids, limits, AnyValue ---


def test_invalid_ids_are_rejected_one_by_one():
    spans = [
        make_span("good"),
        make_span("short trace", trace_id=TRACE[:15]),
        make_span("long span", span_id=SPAN + b"\x01"),
        make_span("zero trace", trace_id=bytes(16)),
        make_span("zero span", span_id=bytes(8)),
        make_span("no trace", trace_id=b""),
        make_span("bad parent", parent_span_id=b"\x01\x02\x03"),
        make_span("also good", span_id=PARENT),
    ]
    decoded = decode_spans(*spans)
    assert [r["span_name"] for r in decoded.records] == ["good", "also good"]
    assert decoded.rejected == 6
    assert decoded.errors == [
        "span 1 ('short trace'): trace_id must be 16 bytes (32 hex characters), got 15 bytes",
        "span 2 ('long span'): span_id must be 8 bytes (16 hex characters), got 9 bytes",
        "span 3 ('zero trace'): trace_id must not be all zeros",
        "span 4 ('zero span'): span_id must not be all zeros",
        "span 5 ('no trace'): trace_id is missing",
        "span 6 ('bad parent'): parent_span_id must be 8 bytes (16 hex characters), got 3 bytes",
    ]
    assert decoded.error_message.startswith("6 rejected: span 1 ('short trace'): trace_id must be 16 bytes")


def test_limits_truncate_with_a_marker():
    huge = "x" * (MAX_STRING_CHARS + 10)
    attrs = {"huge": huge, "logfire.msg": "m" * (MAX_MESSAGE_CHARS + 5), "K" * (MAX_NAME_CHARS + 3): 1}
    row = one_row(make_span("n" * (MAX_NAME_CHARS + 7), attrs))
    long_key = "K" * MAX_NAME_CHARS + "...[truncated by spyglass: 3 more characters]"
    assert json.loads(row["attributes"])[long_key] == 1
    assert row["span_name"] == "n" * MAX_NAME_CHARS + "...[truncated by spyglass: 7 more characters]"
    assert row["message"] == "m" * MAX_MESSAGE_CHARS + "...[truncated by spyglass: 5 more characters]"
    assert json.loads(row["attributes"])["huge"] == "x" * MAX_STRING_CHARS + "...[truncated by spyglass: 10 more characters]"


def test_too_many_attributes_are_counted_not_stored():
    row = one_row(make_span(attrs={f"k{i}": i for i in range(MAX_ATTRIBUTES + 100)}))
    attributes = json.loads(row["attributes"])
    assert len(attributes) == MAX_ATTRIBUTES + 1
    assert attributes[f"k{MAX_ATTRIBUTES - 1}"] == MAX_ATTRIBUTES - 1
    assert f"k{MAX_ATTRIBUTES}" not in attributes
    assert attributes[DROPPED_ATTRIBUTES_KEY] == 100


def test_deep_nesting_is_cut_with_a_marker():
    value: list | str = "leaf"
    for _ in range(MAX_DEPTH + 5):
        value = [value]
    stored = json.loads(one_row(make_span(attrs={"deep": value}))["attributes"])["deep"]
    depth = 0
    while isinstance(stored, list):
        stored, depth = stored[0], depth + 1
    assert (depth, stored) == (MAX_DEPTH, TOO_DEEP_MARKER)
    shallow = json.loads(one_row(make_span(attrs={"ok": [[["leaf"]]]}))["attributes"])["ok"]
    assert shallow == [[["leaf"]]]


def test_duplicate_attribute_keys_last_wins():
    row = one_row(make_span(attrs=[("k", "first"), ("other", 1), ("k", "last")]))
    assert json.loads(row["attributes"]) == {"k": "last", "other": 1}


def test_every_anyvalue_kind():
    attrs = {
        "s": "text",
        "b": True,
        "i": -(2**63),
        "d": 1.5,
        "nan": math.nan,
        "inf": math.inf,
        "ninf": -math.inf,
        "bytes": b"\x00\x01\xff",
        "arr": [1, "two", [3.0]],
        "kv": {"inner": {"deeper": False}},
        "empty": None,
    }
    assert json.loads(one_row(make_span(attrs=attrs))["attributes"]) == {
        "s": "text",
        "b": True,
        "i": -(2**63),
        "d": 1.5,
        "nan": "NaN",
        "inf": "Infinity",
        "ninf": "-Infinity",
        "bytes": "AAH/",
        "arr": [1, "two", [3.0]],
        "kv": {"inner": {"deeper": False}},
        "empty": None,
    }


def test_unknown_anyvalue_kind_rejects_the_span_or_the_request():
    # string_value_strindex only makes sense inside profiles; outside them it cannot be read.
    odd = KeyValue(key="odd", value=AnyValue(string_value_strindex=3))
    bad = make_span("bad")
    bad.attributes.append(odd)
    decoded = decode_spans(make_span("good"), bad)
    assert [r["span_name"] for r in decoded.records] == ["good"]
    assert decoded.errors == ["span 1 ('bad'): unsupported AnyValue kind 'string_value_strindex'"]
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add(resource=Resource(attributes=[odd]))
    resource_spans.scope_spans.add(spans=[make_span()])
    with pytest.raises(BadRequest, match="unsupported AnyValue kind"):
        decode_request("traces", request.SerializeToString(), "protobuf", RECEIVED_US)


def test_malformed_protobuf_is_a_bad_request():
    with pytest.raises(BadRequest, match="not a valid OTLP protobuf traces export"):
        decode_request("traces", b"\x0a\xff\xff\xff", "protobuf", RECEIVED_US)
    invalid_utf8 = traces_body(make_span("ok")).replace(b"ok", b"\xff\xfe")
    with pytest.raises(BadRequest):
        decode_request("traces", invalid_utf8, "protobuf", RECEIVED_US)


def test_empty_requests_decode_to_nothing():
    for signal in ("traces", "logs", "metrics"):
        for body, encoding in ((b"", "protobuf"), (b"", "json"), (b"{}", "json"), (b" \n", "json")):
            decoded = decode_request(signal, body, encoding, RECEIVED_US)
            assert (decoded.row_count, decoded.rejected) == (0, 0)


# --- OTLP/JSON specifics ---


def json_span(**fields) -> dict:
    span = {"traceId": TRACE.hex(), "spanId": SPAN.hex(), "name": "j", "startTimeUnixNano": str(START_NS), "endTimeUnixNano": END_NS}
    span.update(fields)
    return span


def json_traces(*spans: dict) -> dict:
    return {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "s"}, "spans": list(spans)}]}]}


def test_json_ids_are_hex_case_insensitive():
    span = json_span(
        traceId=TRACE.hex().upper(),
        spanId=SPAN.hex().upper(),
        parentSpanId=PARENT.hex().upper(),
        links=[{"traceId": "AB" * 16, "spanId": "CD" * 8}],
    )
    decoded = decode_json("traces", json_traces(span))
    row = decoded.records[0]
    assert (row["trace_id"], row["span_id"], row["parent_span_id"]) == (TRACE.hex(), SPAN.hex(), PARENT.hex())
    assert json.loads(row["otel_links"])[0] | {"attributes": {}} == {"trace_id": "ab" * 16, "span_id": "cd" * 8, "attributes": {}}
    assert row["start_timestamp"] == START_NS // 1000 and row["end_timestamp"] == END_NS // 1000


def test_json_non_hex_ids_reject_only_their_span():
    decoded = decode_json(
        "traces",
        json_traces(json_span(name="ok"), json_span(traceId="zz" * 16), json_span(spanId=SPAN.hex()[:-1]), json_span(spanId=5)),
    )
    assert [r["span_name"] for r in decoded.records] == ["ok"]
    assert decoded.rejected == 3
    assert decoded.errors[0] == f"span 1: traceId must be a hex string, got {'zz' * 16!r}"
    assert "spanId must be a hex string" in decoded.errors[1] and "spanId must be a hex string" in decoded.errors[2]


def test_json_enums_int64_unknown_fields_and_lone_surrogates():
    span = json_span(
        kind="SPAN_KIND_CLIENT",
        status={"code": 2, "message": "boom", "futureField": 1},
        attributes=[
            {"key": "n", "value": {"intValue": "9007199254740993"}},
            {"key": "m", "value": {"intValue": 12}},
            {"key": "surrogate", "value": {"stringValue": "a\ud800b"}},
            {"key": "b64", "value": {"bytesValue": "aGVsbG8="}},
            {"key": "dbl", "value": {"doubleValue": "-Infinity"}},
            {"key": "nothing", "value": {}},
        ],
        someNewSpanField={"nested": [1, 2]},
    )
    document = json_traces(span)
    document["unknownTopLevel"] = True
    document["resourceSpans"][0]["schemaUrlNext"] = "x"
    decoded = decode_json("traces", document)
    assert decoded.rejected == 0
    row = decoded.records[0]
    assert row["otel_span_kind"] == "client"
    assert (row["otel_status_code"], row["otel_status_message"], row["level"]) == ("ERROR", "boom", 17)
    assert json.loads(row["attributes"]) == {
        "n": 9007199254740993,
        "m": 12,
        "surrogate": "a\ufffdb",
        "b64": "aGVsbG8=",
        "dbl": "-Infinity",
        "nothing": None,
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b"{\"resourceSpans\": \"\xff\"}", "not UTF-8 JSON"),
        (b'{"resourceSpans": 5}', "not a valid OTLP/JSON traces export"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}', "not a valid OTLP/JSON"),
    ],
)
def test_json_malformed_is_a_bad_request(body, message):
    with pytest.raises(BadRequest, match=message):
        decode_request("traces", body, "json", RECEIVED_US)


# --- logs ---


def make_log(**fields) -> LogRecord:
    values = dict(time_unix_nano=START_NS, severity_number=9, severity_text="INFO", body=any_value("hello"))
    values.update(fields)
    return LogRecord(**values)


def test_log_record_columns():
    record = make_log(trace_id=TRACE, span_id=SPAN, attributes=kvs({"http.method": "GET", "k": "v"}))
    row = one_log(record)
    assert row["kind"] == "log"
    assert row["trace_id"] == TRACE.hex()
    assert row["parent_span_id"] == SPAN.hex()  # hangs under the span it was emitted in
    assert len(row["span_id"]) == 16 and row["span_id"] != SPAN.hex()
    assert row["start_timestamp"] == row["end_timestamp"] == START_NS // 1000
    assert row["duration"] == 0.0
    assert (row["level"], row["message"], row["log_body"], row["span_name"]) == (9, "hello", "hello", "hello")
    assert row["otel_scope_name"] == "logger"
    assert row["http_method"] == "GET"
    assert json.loads(row["attributes"]) == {"http.method": "GET", "k": "v"}
    assert row["otel_status_code"] == "UNSET" and row["otel_span_kind"] is None
    assert row["created_at"] == RECEIVED_US


def test_log_span_id_is_deterministic():
    first = one_log(make_log(trace_id=TRACE, span_id=SPAN))
    again = one_log(make_log(trace_id=TRACE, span_id=SPAN))
    other = one_log(make_log(trace_id=TRACE, span_id=SPAN, body=any_value("other")))
    assert first["span_id"] == again["span_id"]
    assert other["span_id"] != first["span_id"]


def test_log_without_trace_context_gets_a_derived_trace_id():
    first = one_log(make_log())
    again = one_log(make_log())
    assert len(first["trace_id"]) == 32 and int(first["trace_id"], 16) != 0
    assert first["trace_id"] == again["trace_id"]
    assert first["parent_span_id"] is None
    assert one_log(make_log(body=any_value("different")))["trace_id"] != first["trace_id"]


@pytest.mark.parametrize(
    ("number", "text", "level"),
    [(17, "", 17), (21, "INFO", 21), (0, "WARN", 13), (0, "warning", 13), (0, "error", 17), (0, "fatal", 21), (0, "debug", 5), (0, "", 9), (0, "chatty", 9)],
)
def test_log_level_from_severity(number, text, level):
    assert one_log(make_log(severity_number=number, severity_text=text))["level"] == level


def test_structured_log_body_and_names():
    row = one_log(make_log(body=any_value({"event": "login", "user": "alice"}), event_name="auth.login"))
    assert json.loads(row["log_body"]) == {"event": "login", "user": "alice"}
    assert json.loads(row["message"]) == {"event": "login", "user": "alice"}
    assert row["span_name"] == "auth.login"
    templated = one_log(make_log(attributes=kvs({"logfire.msg_template": "hi {name}"})))
    assert (templated["span_name"], templated["message"]) == ("hi {name}", "hello")
    bodyless = one_log(make_log(body=AnyValue()))
    assert (bodyless["span_name"], bodyless["message"], bodyless["log_body"]) == ("log", "log", None)


def test_log_timestamp_falls_back_to_observed_time():
    row = one_log(make_log(time_unix_nano=0, observed_time_unix_nano=END_NS))
    assert row["start_timestamp"] == END_NS // 1000


def test_log_exception_attributes():
    row = one_log(make_log(attributes=kvs({"exception.type": "OSError", "exception.message": "disk full"})))
    assert (row["is_exception"], row["exception_type"], row["exception_message"]) == (True, "OSError", "disk full")
    assert one_log(make_log())["is_exception"] is False


def test_log_bad_ids_are_rejected_one_by_one():
    decoded = decode_request(
        "logs", logs_body(make_log(), make_log(trace_id=b"\x01\x02\x03"), make_log(span_id=b"\x01" * 9)), "protobuf", RECEIVED_US
    )
    assert len(decoded.records) == 1
    assert decoded.errors == [
        "log record 1: trace_id must be 16 bytes (32 hex characters), got 3 bytes",
        "log record 2: span_id must be 8 bytes (16 hex characters), got 9 bytes",
    ]


def test_json_log_records():
    document = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": str(START_NS),
                                "severityNumber": "SEVERITY_NUMBER_WARN",
                                "traceId": TRACE.hex().upper(),
                                "spanId": SPAN.hex(),
                                "body": {"stringValue": "careful"},
                            },
                            {"traceId": "not hex", "body": {"stringValue": "dropped"}},
                        ]
                    }
                ],
            }
        ]
    }
    decoded = decode_json("logs", document)
    assert decoded.errors == ["logRecord 1: traceId must be a hex string, got 'not hex'"]
    row = decoded.records[0]
    assert (row["service_name"], row["level"], row["message"]) == ("api", 13, "careful")
    assert (row["trace_id"], row["parent_span_id"]) == (TRACE.hex(), SPAN.hex())


# --- metrics ---


def only_rows(decoded) -> list[dict]:
    assert decoded.rejected == 0, decoded.errors
    for row in decoded.metrics:
        assert set(row) == set(METRIC_COLUMNS)
    return decoded.metrics


def test_gauge_int_and_double():
    metric = Metric(name="queue.depth", unit="1", description="items waiting")
    metric.gauge.data_points.add(time_unix_nano=END_NS, as_int=7, attributes=kvs({"queue": "a"}))
    metric.gauge.data_points.add(time_unix_nano=END_NS, as_double=2.5)
    rows = only_rows(decode_metric_rows(metric))
    assert [r["scalar_value"] for r in rows] == [7.0, 2.5]
    row = rows[0]
    assert (row["metric_name"], row["metric_type"], row["unit"], row["metric_description"]) == ("queue.depth", "gauge", "1", "items waiting")
    assert (row["aggregation_temporality"], row["is_monotonic"]) == (None, None)
    assert (row["recorded_timestamp"], row["start_timestamp"]) == (END_NS // 1000, None)
    assert json.loads(row["attributes"]) == {"queue": "a"}
    assert (row["service_name"], row["otel_scope_name"], row["otel_scope_version"]) == ("meter", "m", "2")
    assert row["histogram_count"] is None and row["exemplars"] is None
    assert row["created_at"] == RECEIVED_US


@pytest.mark.parametrize(("temporality", "monotonic", "expected"), [(1, True, "delta"), (2, False, "cumulative"), (0, True, None)])
def test_sum_temporality_and_monotonic(temporality, monotonic, expected):
    metric = Metric(name="requests")
    metric.sum.aggregation_temporality = temporality
    metric.sum.is_monotonic = monotonic
    metric.sum.data_points.add(start_time_unix_nano=START_NS, time_unix_nano=END_NS, as_int=3)
    (row,) = only_rows(decode_metric_rows(metric))
    assert (row["metric_type"], row["aggregation_temporality"], row["is_monotonic"]) == ("sum", expected, monotonic)
    assert (row["start_timestamp"], row["scalar_value"]) == (START_NS // 1000, 3.0)


def test_histogram():
    metric = Metric(name="latency", unit="ms")
    metric.histogram.aggregation_temporality = 1
    metric.histogram.data_points.add(
        time_unix_nano=END_NS, count=6, sum=42.5, min=0.5, max=30.0, bucket_counts=[1, 2, 3], explicit_bounds=[1.0, 10.0]
    )
    metric.histogram.data_points.add(time_unix_nano=END_NS, count=0)
    full, bare = only_rows(decode_metric_rows(metric))
    assert (full["metric_type"], full["aggregation_temporality"], full["is_monotonic"]) == ("histogram", "delta", None)
    assert (full["histogram_count"], full["histogram_sum"], full["histogram_min"], full["histogram_max"]) == (6, 42.5, 0.5, 30.0)
    assert (full["histogram_bucket_counts"], full["histogram_explicit_bounds"]) == ([1, 2, 3], [1.0, 10.0])
    assert (bare["histogram_sum"], bare["histogram_min"], bare["histogram_max"]) == (None, None, None)
    assert full["scalar_value"] is None


def test_exponential_histogram():
    metric = Metric(name="size")
    metric.exponential_histogram.aggregation_temporality = 2
    point = metric.exponential_histogram.data_points.add(
        time_unix_nano=END_NS, count=9, sum=12.0, scale=3, zero_count=1, zero_threshold=0.001, min=-2.0, max=8.0
    )
    point.positive.offset = 4
    point.positive.bucket_counts.extend([2, 3])
    point.negative.offset = -1
    point.negative.bucket_counts.extend([3])
    (row,) = only_rows(decode_metric_rows(metric))
    assert (row["metric_type"], row["aggregation_temporality"]) == ("exponential_histogram", "cumulative")
    assert {k: row[k] for k in row if k.startswith("exp_histogram_")} == {
        "exp_histogram_scale": 3,
        "exp_histogram_zero_count": 1,
        "exp_histogram_zero_threshold": 0.001,
        "exp_histogram_positive_bucket_counts": [2, 3],
        "exp_histogram_positive_bucket_counts_offset": 4,
        "exp_histogram_negative_bucket_counts": [3],
        "exp_histogram_negative_bucket_counts_offset": -1,
    }
    assert (row["histogram_count"], row["histogram_sum"], row["histogram_min"], row["histogram_max"]) == (9, 12.0, -2.0, 8.0)


def test_summary():
    metric = Metric(name="rpc.duration")
    point = metric.summary.data_points.add(time_unix_nano=END_NS, count=4, sum=10.0, attributes=kvs({"rpc": "get"}))
    point.quantile_values.add(quantile=0.5, value=2.0)
    point.quantile_values.add(quantile=0.99, value=math.inf)
    (row,) = only_rows(decode_metric_rows(metric))
    assert (row["metric_type"], row["histogram_count"], row["histogram_sum"]) == ("summary", 4, 10.0)
    assert json.loads(row["attributes"]) == {"rpc": "get", "spyglass.quantiles": {"0.5": 2.0, "0.99": "Infinity"}}


def test_exemplars_with_hex_ids():
    metric = Metric(name="requests")
    point = metric.sum.data_points.add(time_unix_nano=END_NS, as_int=1)
    point.exemplars.add(time_unix_nano=START_NS, as_double=0.25, trace_id=TRACE, span_id=SPAN, filtered_attributes=kvs({"user": "u1"}))
    point.exemplars.add(time_unix_nano=START_NS, as_int=5)
    (row,) = only_rows(decode_metric_rows(metric))
    assert json.loads(row["exemplars"]) == [
        {"timestamp": "2023-11-14T22:13:20.123456+00:00", "value": 0.25, "trace_id": TRACE.hex(), "span_id": SPAN.hex(), "attributes": {"user": "u1"}},
        {"timestamp": "2023-11-14T22:13:20.123456+00:00", "value": 5, "trace_id": None, "span_id": None, "attributes": {}},
    ]


def test_metric_without_data_yields_no_rows():
    decoded = decode_metric_rows(Metric(name="empty"))
    assert (decoded.metrics, decoded.rejected) == ([], 0)


def test_count_past_bigint_rejects_only_that_point():
    metric = Metric(name="latency")
    metric.histogram.data_points.add(time_unix_nano=END_NS, count=2**64 - 1)
    metric.histogram.data_points.add(time_unix_nano=END_NS, count=2, bucket_counts=[2**63, 0])
    metric.histogram.data_points.add(time_unix_nano=END_NS, count=3)
    decoded = decode_metric_rows(metric)
    assert [r["histogram_count"] for r in decoded.metrics] == [3]
    assert decoded.errors == [
        "metric 'latency' data point 0: count 18446744073709551615 does not fit a signed 64-bit integer",
        "metric 'latency' data point 1: count 9223372036854775808 does not fit a signed 64-bit integer",
    ]


def test_json_metrics_with_hex_exemplar_ids():
    document = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "hits",
                                "sum": {
                                    "aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA",
                                    "isMonotonic": True,
                                    "dataPoints": [
                                        {
                                            "timeUnixNano": END_NS,
                                            "asInt": "4",
                                            "exemplars": [
                                                {"timeUnixNano": str(START_NS), "asDouble": "NaN", "traceId": TRACE.hex().upper(), "spanId": SPAN.hex()},
                                                {"timeUnixNano": str(START_NS), "asInt": 1, "traceId": "not-hex"},
                                            ],
                                        }
                                    ],
                                },
                            }
                        ]
                    }
                ]
            }
        ]
    }
    (row,) = only_rows(decode_json("metrics", document))
    assert (row["aggregation_temporality"], row["is_monotonic"], row["scalar_value"]) == ("delta", True, 4.0)
    exemplars = json.loads(row["exemplars"])
    assert [(e["value"], e["trace_id"], e["span_id"]) for e in exemplars] == [("NaN", TRACE.hex(), SPAN.hex()), (1, None, None)]


def test_json_and_protobuf_decode_to_the_same_rows():
    span = make_span("same", {"k": [1, "a"]}, parent_span_id=PARENT, kind=3)
    span.events.add(name="e", time_unix_nano=START_NS)
    body = traces_body(span, resource={"service.name": "svc"})
    request = ExportTraceServiceRequest.FromString(body)
    document = json_format.MessageToDict(request)
    # MessageToDict writes ids as base64; OTLP/JSON wants hex
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0].update(traceId=TRACE.hex(), spanId=SPAN.hex(), parentSpanId=PARENT.hex())
    from_json = decode_json("traces", document).records
    from_protobuf = decode_request("traces", body, "protobuf", RECEIVED_US).records
    assert from_json == from_protobuf


# --- never a 500, never a row that fails the whole insert ---

_ODD_VALUES = [5, -1, 1.5, True, None, "x", "NaN", "deadbeef", "18446744073709551615", 2**64 - 1, 2**70, [], {}, [5], [{}], {"values": 5}]


def _sample_documents() -> dict[str, dict]:
    point = {"timeUnixNano": "5", "startTimeUnixNano": 1, "asInt": "3", "exemplars": [{"traceId": "11" * 16, "spanId": "22" * 8, "asDouble": 1.0}]}
    histogram = {"timeUnixNano": "5", "count": 3, "sum": 1.0, "bucketCounts": [1, 2], "explicitBounds": [1.0]}
    exponential = {"timeUnixNano": "5", "count": 3, "zeroCount": 1, "positive": {"offset": 1, "bucketCounts": [1]}}
    resource = {"attributes": [{"key": "process.pid", "value": {"intValue": 7}}, {"key": "service.name", "value": {"stringValue": "s"}}]}
    attributes = [{"key": "logfire.json_schema", "value": {"stringValue": '{"properties": {"k": {}}}'}}, {"key": "k", "value": {"stringValue": "[1]"}}]
    return {
        "traces": {
            "resourceSpans": [
                {
                    "resource": resource,
                    "scopeSpans": [
                        {
                            "scope": {"name": "s", "attributes": []},
                            "spans": [
                                {
                                    "traceId": "11" * 16,
                                    "spanId": "22" * 8,
                                    "parentSpanId": "33" * 8,
                                    "name": "n",
                                    "kind": 1,
                                    "startTimeUnixNano": "5",
                                    "endTimeUnixNano": 6,
                                    "attributes": attributes,
                                    "events": [{"name": "exception", "timeUnixNano": 1, "attributes": [{"key": "exception.type", "value": {"stringValue": "E"}}]}],
                                    "links": [{"traceId": "44" * 16, "spanId": "55" * 8}],
                                    "status": {"code": 2},
                                }
                            ],
                        }
                    ],
                }
            ]
        },
        "logs": {
            "resourceLogs": [
                {
                    "resource": resource,
                    "scopeLogs": [
                        {
                            "logRecords": [
                                {
                                    "traceId": "11" * 16,
                                    "spanId": "22" * 8,
                                    "timeUnixNano": "5",
                                    "severityNumber": 9,
                                    "severityText": "INFO",
                                    "body": {"kvlistValue": {"values": [{"key": "a", "value": {"intValue": 1}}]}},
                                    "attributes": attributes,
                                }
                            ]
                        }
                    ],
                }
            ]
        },
        "metrics": {
            "resourceMetrics": [
                {
                    "resource": resource,
                    "scopeMetrics": [
                        {
                            "metrics": [
                                {"name": "g", "gauge": {"dataPoints": [point]}},
                                {"name": "s", "sum": {"dataPoints": [point], "aggregationTemporality": 2, "isMonotonic": True}},
                                {"name": "h", "histogram": {"dataPoints": [histogram], "aggregationTemporality": 1}},
                                {"name": "e", "exponentialHistogram": {"dataPoints": [exponential]}},
                                {"name": "q", "summary": {"dataPoints": [{"count": 3, "sum": 1.0, "quantileValues": [{"quantile": 0.5, "value": 1}]}]}},
                            ]
                        }
                    ],
                }
            ]
        },
    }


def _paths(node, path=()):
    yield path
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, (*path, key))


def _decodes_or_refuses(signal: str, body: bytes, encoding: str) -> None:
    try:
        decoded = decode_request(signal, body, encoding, RECEIVED_US)
    except BadRequest:
        return
    # the writer turns rows into Arrow tables: a value out of a column's range would fail every
    # request of its batch, so the decoder must have rejected it already
    records_table(decoded.records + decoded.pending_spans)
    metrics_table(decoded.metrics)


@pytest.mark.parametrize("signal", ["traces", "logs", "metrics"])
def test_any_json_value_anywhere_is_decoded_or_refused(signal):
    document = _sample_documents()[signal]
    assert decode_json(signal, document).row_count >= 1
    for path in list(_paths(document))[1:]:
        for odd in _ODD_VALUES:
            mutated = copy.deepcopy(document)
            node = mutated
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = odd
            _decodes_or_refuses(signal, json.dumps(mutated).encode(), "json")


@pytest.mark.parametrize("signal", ["traces", "logs", "metrics"])
def test_corrupted_protobuf_is_decoded_or_refused(signal):
    message = {"traces": ExportTraceServiceRequest, "logs": ExportLogsServiceRequest, "metrics": ExportMetricsServiceRequest}[signal]()
    assert parse_json_request(json.dumps(_sample_documents()[signal]).encode(), message, signal) == []
    body = message.SerializeToString()
    sample = decode_request(signal, body, "protobuf", RECEIVED_US)
    assert (sample.rejected, sample.row_count) == (0, 5 if signal == "metrics" else 1)
    rng = random.Random(signal)
    for _ in range(1500):
        corrupted = bytearray(body)
        for _ in range(rng.randint(1, 3)):
            corrupted[rng.randrange(len(corrupted))] = rng.randrange(256)
        _decodes_or_refuses(signal, bytes(corrupted), "protobuf")


def test_pending_span_without_parent_is_rejected_not_stored_as_a_finished_span():
    orphan_pending = make_span("p", {"logfire.span_type": "pending_span"})
    decoded = decode_spans(orphan_pending, make_span("kept"))
    assert decoded.rejected == 1
    assert "pending span without a parent span id" in decoded.error_message
    assert [row["span_name"] for row in decoded.records] == ["kept"] and decoded.pending_spans == []


@pytest.mark.parametrize(
    "attrs, expected",
    [
        ({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
          "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.usage.input_tokens": 120,
          "gen_ai.usage.output_tokens": 30, "gen_ai.usage.cache_read.input_tokens": 100, "operation.cost": 0.0012},
         ("openai", "gpt-4o-2024-08-06", 120, 30, 100, None, 0.0012, "reported")),
        # an agent run repeats the run's usage: never counted again
        ({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a", "gen_ai.usage.input_tokens": 120},
         (None, None, None, None, None, None, None, None)),
        # OpenInference LLM span, no cost reported: priced with genai-prices
        ({"openinference.span.kind": "LLM", "llm.system": "openai", "llm.model_name": "gpt-4o-mini",
          "llm.token_count.prompt": 50, "llm.token_count.completion": 5, "llm.token_count.prompt_details.cache_read": 20},
         ("openai", "gpt-4o-mini", 50, 5, 20, None, pytest.approx(9e-06), "computed")),
        ({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"}, (None,) * 8),
    ],
)
def test_model_call_columns(attrs, expected):
    row = one_row(make_span("call", attrs))
    columns = ("gen_ai_provider", "gen_ai_model", "input_tokens", "output_tokens", "cache_read_tokens",
               "cache_write_tokens", "cost_usd", "cost_source")
    assert tuple(row[c] for c in columns) == expected


def test_json_attributes_are_stored_parsed_from_their_original_text():
    schema = json.dumps({"type": "object", "properties": {"msgs": {"type": "array"}, "big": {"type": "array"},
                                                          "bad": {"type": "object"}}})
    row = one_row(make_span("s", {
        "logfire.json_schema": schema,
        "msgs": '[{"role": "user", "content": "h\\u00e9llo"}]',
        "big": "[123456789012345678901234567890]",  # past 64 bits: embedded as it came
        "bad": "{not json",
    }))
    attributes = json.loads(row["attributes"])
    assert attributes["msgs"] == [{"role": "user", "content": "héllo"}]
    assert attributes["big"] == [123456789012345678901234567890]
    assert attributes["bad"] == "{not json"
