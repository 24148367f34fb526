"""OTLP/HTTP against a real `spyglass serve`: every HTTP and JSON item (1-16) and data item (19-25)
of /work/shared/OTLP.md, with raw httpx requests. (Item 9, 503 + Retry-After, is tested elsewhere.)

Three servers in all, each started once for this module:
- `stored`: every request whose rows must be checked is sent up front (one named case each, with its
  own trace ids), then the server is stopped and the tests read the DuckDB file;
- `live`: requests judged only by their response (405, 415, 400, CORS, empty requests);
- `small`: a server started with `--max-body-mb 1` for the size limit (gzip bomb, chunked bodies).
"""

import gzip
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from google.rpc.status_pb2 import Status as RpcStatus
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.limits import (
    DROPPED_ATTRIBUTES_KEY,
    MAX_ATTRIBUTES,
    MAX_DEPTH,
    MAX_NAME_CHARS,
    MAX_STRING_CHARS,
    TOO_DEEP_MARKER,
)
from tests.collector.test_decode import any_value, kvs
from tests.conftest import read_db, start_server

PB = "application/x-protobuf"
JSON = "application/json"
PATHS = {"traces": "/v1/traces", "logs": "/v1/logs", "metrics": "/v1/metrics"}
RESPONSES = {"traces": ExportTraceServiceResponse, "logs": ExportLogsServiceResponse, "metrics": ExportMetricsServiceResponse}
REJECTED_FIELD = {"traces": "rejected_spans", "logs": "rejected_log_records", "metrics": "rejected_data_points"}
START_NS = 1_700_000_000_000_000_000
END_NS = START_NS + 250_000_000


# --- building requests ---


def tid(name: str) -> bytes:
    """A trace id of its own for each case."""
    return hashlib.md5(name.encode()).digest()


def sid(number: int) -> bytes:
    return number.to_bytes(8, "big")


def span(trace_id: bytes, number: int, name: str, attrs: dict | list | None = None, **fields) -> Span:
    values = dict(trace_id=trace_id, span_id=sid(number), start_time_unix_nano=START_NS, end_time_unix_nano=END_NS)
    values.update(fields)
    return Span(name=name, attributes=kvs(attrs or {}), **values)


def traces_pb(*spans: Span, service: str = "http-test") -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add(resource=Resource(attributes=kvs({"service.name": service})))
    resource_spans.scope_spans.add(spans=list(spans))
    return request.SerializeToString()


def json_span(trace_id: bytes | str, number: int, name: str, **fields) -> dict:
    value = {
        "traceId": trace_id if isinstance(trace_id, str) else trace_id.hex(),
        "spanId": sid(number).hex(),
        "name": name,
        "startTimeUnixNano": str(START_NS),
        "endTimeUnixNano": str(END_NS),
    }
    value.update(fields)
    return value


def traces_json(*spans: dict) -> bytes:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "http-test"}}]}
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": list(spans)}]}]}).encode()


def one_span_body(encoding: str, trace_id: bytes, name: str) -> bytes:
    if encoding == "protobuf":
        return traces_pb(span(trace_id, 1, name))
    return traces_json(json_span(trace_id, 1, name))


def chunks(body: bytes, size: int = 1000) -> Callable[[], Iterator[bytes]]:
    """A body httpx sends with Transfer-Encoding: chunked and no Content-Length."""

    def generate():
        for start in range(0, len(body), size):
            yield body[start : start + size]

    return generate


def nested(depth: int):
    value = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def json_nested(depth: int) -> dict:
    value = {"stringValue": "leaf"}
    for _ in range(depth):
        value = {"arrayValue": {"values": [value]}}
    return value


# --- reading responses ---


def status_of(response: httpx.Response) -> tuple[int, str]:
    """The google.rpc.Status of an error response, decoded in the response's own encoding."""
    if response.headers["content-type"] == PB:
        status = RpcStatus.FromString(response.content)
        return status.code, status.message
    assert response.headers["content-type"] == JSON
    body = response.json()
    assert set(body) == {"code", "message"}
    return body["code"], body["message"]


def export_response(response: httpx.Response, signal: str, encoding: str):
    assert response.status_code == 200, response.text
    message = RESPONSES[signal]()
    if encoding == "protobuf":
        assert response.headers["content-type"] == PB
        message.ParseFromString(response.content)
    else:
        assert response.headers["content-type"] == JSON
        json_format.Parse(response.text, message)
    return message


def assert_success(response: httpx.Response, signal: str, encoding: str) -> None:
    message = export_response(response, signal, encoding)
    assert not message.HasField("partial_success")
    if encoding == "json":
        assert response.json() == {}


def partial_success(response: httpx.Response, signal: str, encoding: str) -> tuple[int, str]:
    message = export_response(response, signal, encoding)
    assert message.HasField("partial_success")
    return getattr(message.partial_success, REJECTED_FIELD[signal]), message.partial_success.error_message


# --- the `stored` server: cases sent up front, checked in the database afterwards ---


@dataclass
class Request:
    path: str
    content: bytes | Callable[[], bytes | Iterator[bytes]]  # a generator is sent chunked
    content_type: str
    encoding: str | None = None  # Content-Encoding


CASES: dict[str, list[Request]] = {}


def case(name: str, *requests: Request) -> str:
    assert name not in CASES
    CASES[name] = list(requests)
    return name


def traces(content, content_type: str = PB, encoding: str | None = None) -> Request:
    return Request("/v1/traces", content, content_type, encoding)


# items 2, 3, 5: content types with parameters, gzip, chunked; the response in the request's type
VARIANTS = {
    "protobuf": ("protobuf", PB, False, False),
    "protobuf-charset": ("protobuf", PB + "; charset=utf-8", False, False),
    "json-charset": ("json", JSON + "; charset=utf-8", False, False),
    "json-upper-case-type": ("json", "Application/JSON", False, False),
    "protobuf-gzip": ("protobuf", PB, True, False),
    "json-gzip": ("json", JSON, True, False),
    "protobuf-chunked": ("protobuf", PB, False, True),
    "json-chunked": ("json", JSON, False, True),
    "protobuf-gzip-chunked": ("protobuf", PB, True, True),
    "json-gzip-chunked": ("json", JSON + "; charset=utf-8", True, True),
}
for _name, (_encoding, _type, _gzip, _chunked) in VARIANTS.items():
    _body = one_span_body(_encoding, tid(_name), f"variant {_name}")
    _body = gzip.compress(_body) if _gzip else _body
    case(_name, traces(chunks(_body) if _chunked else _body, _type, "gzip" if _gzip else None))

# item 7: invalid spans next to valid ones
PARTIAL_PB = traces_pb(
    span(tid("partial-pb"), 1, "valid one"),
    span(tid("partial-pb")[:15], 2, "trace id of 15 bytes"),
    span(tid("partial-pb"), 3, "span id of 9 bytes", span_id=b"\x01" * 9),
    span(bytes(16), 4, "all-zero trace id"),
    span(tid("partial-pb"), 5, "all-zero span id", span_id=bytes(8)),
    span(tid("partial-pb"), 6, "parent of 5 bytes", parent_span_id=b"\x01" * 5),
    span(tid("partial-pb"), 7, "valid two", parent_span_id=sid(1)),
)
case("partial-pb", traces(PARTIAL_PB))
case("partial-pb-retry", traces(PARTIAL_PB))  # item 20: a retry gets the original outcome again
case(
    "partial-json",
    traces(
        traces_json(
            json_span(tid("partial-json"), 1, "valid one"),
            json_span("zz" * 16, 2, "non-hex trace id"),
            json_span(tid("partial-json"), 3, "odd span id", spanId="abc"),
            json_span(tid("partial-json")[:15], 4, "trace id of 30 hex characters"),
            json_span(tid("partial-json").hex().upper(), 5, "valid upper case"),
        ),
        JSON,
    ),
)
case(
    "partial-logs",
    Request(
        "/v1/logs",
        ExportLogsServiceRequest(
            resource_logs=[
                {
                    "resource": Resource(attributes=kvs({"service.name": "partial-logs"})),
                    "scope_logs": [
                        {
                            "log_records": [
                                LogRecord(time_unix_nano=START_NS, trace_id=tid("partial-logs"), body=any_value("kept")),
                                LogRecord(time_unix_nano=START_NS, trace_id=b"\x01\x02\x03", body=any_value("bad id")),
                            ]
                        }
                    ],
                }
            ]
        ).SerializeToString(),
        PB,
    ),
)
_METRIC_POINTS = {
    "resourceMetrics": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "partial-metrics"}}]},
            "scopeMetrics": [
                {
                    "metrics": [
                        {"name": "partial.gauge", "gauge": {"dataPoints": [{"timeUnixNano": str(START_NS), "asInt": "3"}]}},
                        {
                            "name": "partial.histogram",
                            "histogram": {
                                "aggregationTemporality": 1,
                                "dataPoints": [
                                    {"timeUnixNano": str(START_NS), "count": "18446744073709551615"},
                                    {"timeUnixNano": str(START_NS), "count": 4, "sum": 2.0, "bucketCounts": ["4"], "explicitBounds": []},
                                ],
                            },
                        },
                    ]
                }
            ],
        }
    ]
}
case("partial-metrics", Request("/v1/metrics", json.dumps(_METRIC_POINTS).encode(), JSON))

# item 10: many invalid spans, a short error_message
case("many-rejected", traces(lambda: traces_pb(*(span(bytes(16), i, "n" * 1000) for i in range(1, 5001)))))

# items 12-16: OTLP/JSON
_T = tid("json-hex")
case(
    "json-hex",
    traces(
        traces_json(
            json_span(
                _T.hex().upper(),
                1,
                "upper case ids",
                spanId="ABCDEF0123456789",
                parentSpanId="FEDCBA9876543210",
                links=[{"traceId": "AB" * 16, "spanId": "Cd" * 8, "attributes": []}],
            )
        ),
        JSON,
    ),
)
case(
    "json-values",
    traces(
        json.dumps(
            {
                "unknownTopLevel": {"x": 1},
                "resourceSpans": [
                    {
                        "unknownInResourceSpans": [1],
                        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-values"}}], "unknownInResource": 1},
                        "scopeSpans": [
                            {
                                "scope": {"name": "json.scope", "version": "1", "unknownInScope": True},
                                "unknownInScopeSpans": "x",
                                "spans": [
                                    json_span(
                                        tid("json-values"),
                                        1,
                                        "enums as integers, int64 as strings",
                                        kind=2,
                                        status={"code": 1, "unknownInStatus": 0},
                                        attributes=[
                                            {"key": "string", "value": {"stringValue": "s", "unknownInValue": 1}},
                                            {"key": "bool", "value": {"boolValue": True}},
                                            {"key": "int-as-string", "value": {"intValue": "9007199254740993"}},
                                            {"key": "int-as-number", "value": {"intValue": 42}},
                                            {"key": "double", "value": {"doubleValue": 0.25}},
                                            {"key": "nan", "value": {"doubleValue": "NaN"}},
                                            {"key": "inf", "value": {"doubleValue": "Infinity"}},
                                            {"key": "ninf", "value": {"doubleValue": "-Infinity"}},
                                            {"key": "bytes", "value": {"bytesValue": "AAEC/w=="}},
                                            {"key": "array", "value": {"arrayValue": {"values": [{"intValue": "1"}, {"stringValue": "two"}, {}]}}},
                                            {
                                                "key": "kvlist",
                                                "value": {"kvlistValue": {"values": [{"key": "inner", "value": {"boolValue": False}, "unknownInKv": 1}]}},
                                            },
                                            {"key": "empty", "value": {}},
                                        ],
                                        events=[{"timeUnixNano": START_NS, "name": "evt", "attributes": [], "unknownInEvent": 2}],
                                        unknownInSpan={"deep": [{"deeper": True}]},
                                    ),
                                    {
                                        **json_span(tid("json-values"), 2, "enums as names, int64 as numbers", kind="SPAN_KIND_CONSUMER"),
                                        "startTimeUnixNano": START_NS,
                                        "endTimeUnixNano": END_NS,
                                        "status": {"code": "STATUS_CODE_ERROR", "message": "failed"},
                                    },
                                ],
                            }
                        ],
                    }
                ],
            }
        ).encode(),
        JSON,
    ),
)

# logs and metrics endpoints, both encodings
_LOG_TRACE = tid("logs-pb")
case(
    "logs-pb",
    Request(
        "/v1/logs",
        ExportLogsServiceRequest(
            resource_logs=[
                {
                    "resource": Resource(attributes=kvs({"service.name": "logs-pb"})),
                    "scope_logs": [
                        {
                            "log_records": [
                                LogRecord(
                                    time_unix_nano=START_NS,
                                    severity_number=17,
                                    severity_text="ERROR",
                                    trace_id=_LOG_TRACE,
                                    span_id=sid(7),
                                    body=any_value("disk is full"),
                                    attributes=kvs({"path": "/var"}),
                                )
                            ]
                        }
                    ],
                }
            ]
        ).SerializeToString(),
        PB,
    ),
)
_LOGS_JSON = json.dumps(
    {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "logs-json"}}]},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": START_NS,
                                "severityNumber": "SEVERITY_NUMBER_WARN",
                                "body": {"kvlistValue": {"values": [{"key": "event", "value": {"stringValue": "login"}}]}},
                                "attributes": [{"key": "user", "value": {"stringValue": "alice"}}],
                                "unknownInLogRecord": 1,
                            }
                        ]
                    }
                ],
            }
        ]
    }
).encode()
case("logs-json", Request("/v1/logs", _LOGS_JSON, JSON), Request("/v1/logs", _LOGS_JSON, JSON))  # sent twice: item 20

_metrics_pb = ExportMetricsServiceRequest()
_scope_metrics = _metrics_pb.resource_metrics.add(resource=Resource(attributes=kvs({"service.name": "metrics-pb"}))).scope_metrics.add()
_gauge = _scope_metrics.metrics.add(name="pb.gauge", unit="1")
_gauge.gauge.data_points.add(time_unix_nano=START_NS, as_double=1.5)
_sum = _scope_metrics.metrics.add(name="pb.sum")
_sum.sum.aggregation_temporality = 2
_sum.sum.is_monotonic = True
_point = _sum.sum.data_points.add(time_unix_nano=START_NS, as_int=10)
_point.exemplars.add(time_unix_nano=START_NS, as_int=1, trace_id=tid("metrics-pb"), span_id=sid(3))
_histogram = _scope_metrics.metrics.add(name="pb.histogram")
_histogram.histogram.aggregation_temporality = 1
_histogram.histogram.data_points.add(time_unix_nano=START_NS, count=3, sum=6.0, bucket_counts=[1, 2], explicit_bounds=[2.0])
case("metrics-pb", Request("/v1/metrics", _metrics_pb.SerializeToString(), PB))

# item 19: children before their parents, and orphans
_T = tid("child-first")
case(
    "child-first",
    traces(traces_pb(span(_T, 2, "child", parent_span_id=sid(1)), span(_T, 3, "grandchild", parent_span_id=sid(2)))),
    traces(traces_pb(span(_T, 1, "parent arrives last"))),
)
case("orphan", traces(traces_pb(span(tid("orphan"), 2, "orphan", parent_span_id=sid(1)))))

# item 21: one (trace_id, span_id), several different spans
_T = tid("same-ids")
case(
    "same-ids",
    traces(traces_pb(span(_T, 1, "attempt 1"), span(_T, 1, "attempt 1 again in the same request"))),
    traces(traces_pb(span(_T, 1, "attempt 2", start_time_unix_nano=END_NS, end_time_unix_nano=END_NS + 10))),
    # a span that names itself as its own parent must be stored too (and not loop anything)
    traces(traces_pb(span(_T, 9, "own parent", parent_span_id=sid(9)))),
)

# item 22: clock skew
_FAR_FUTURE_NS = 13_569_465_600 * 10**9  # 2400-01-01
_T = tid("clock-skew")
case(
    "clock-skew",
    traces(
        traces_pb(
            span(_T, 1, "ends before it starts", start_time_unix_nano=END_NS, end_time_unix_nano=START_NS),
            span(_T, 2, "starts at zero", start_time_unix_nano=0, end_time_unix_nano=0),
            span(_T, 3, "far future", start_time_unix_nano=_FAR_FUTURE_NS, end_time_unix_nano=_FAR_FUTURE_NS + 10**9),
            span(_T, 4, "child before parent", parent_span_id=sid(5), start_time_unix_nano=START_NS - 10**9),
            span(_T, 5, "parent", start_time_unix_nano=START_NS),
        )
    ),
)

# item 23: a lone surrogate in one span of a JSON batch
_T = tid("lone-surrogate")
case(
    "lone-surrogate",
    traces(
        (
            '{"resourceSpans": [{"scopeSpans": [{"spans": ['
            f'{{"traceId": "{_T.hex()}", "spanId": "{sid(1).hex()}", "name": "bad \\ud800 name", '
            f'"attributes": [{{"key": "bad", "value": {{"stringValue": "x\\ud800y"}}}}, {{"key": "k\\udfff", "value": {{"intValue": 1}}}}]}},'
            f'{{"traceId": "{_T.hex()}", "spanId": "{sid(2).hex()}", "name": "good", "attributes": [{{"key": "emoji", "value": {{"stringValue": "\\ud83d\\ude00"}}}}]}}'
            "]}]}]}"
        ).encode(),
        JSON,
    ),
)

# item 24: huge values (built only when sent) and deep nesting
_T = tid("huge")
case("huge-attribute", traces(lambda: traces_pb(span(tid("huge"), 1, "10 MB attribute", {"big": "a" * (10 * 1024 * 1024)}))))
case("many-attributes", traces(lambda: traces_pb(span(tid("huge"), 2, "100k attributes", {f"key{i}": i for i in range(100_000)}))))
case("huge-name", traces(lambda: traces_pb(span(tid("huge"), 3, "N" * (1024 * 1024)))))
case("huge-key", traces(lambda: traces_pb(span(tid("huge"), 6, "1 MB attribute key", {"K" * (1024 * 1024): "v"}))))
case("deep-protobuf", traces(traces_pb(span(_T, 4, "deep protobuf", {"deep": nested(40), "shallow": nested(3)}))))
case(
    "deep-json",
    traces(traces_json(json_span(_T, 5, "deep json", attributes=[{"key": "deep", "value": json_nested(40)}])), JSON),
)

# item 25: duplicate attribute keys
case("duplicate-keys", traces(traces_pb(span(tid("duplicate-keys"), 1, "dup", [("k", "first"), ("other", 1), ("k", "last")]))))

# item 20: the same batch twice (and a third time gzip-compressed): stored once
_RETRIED = traces_pb(*(span(tid("retried"), i, f"retried {i}") for i in range(1, 4)))
case("retried", traces(_RETRIED), traces(_RETRIED), traces(gzip.compress(_RETRIED), PB, "gzip"))


@dataclass
class Stored:
    responses: dict[str, list[httpx.Response]]
    db: Path
    output: str
    alive_after_all: bool

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        return read_db(self.db, sql, params)

    def spans(self, trace_id: bytes, columns: str = "span_name") -> list[tuple]:
        return self.rows(f"SELECT {columns} FROM records WHERE trace_id = ? ORDER BY span_name", [trace_id.hex()])


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Stored:
    server = start_server(tmp_path_factory.mktemp("stored") / "stored.duckdb")
    responses: dict[str, list[httpx.Response]] = {}
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            for name, requests in CASES.items():
                responses[name] = []
                for request in requests:
                    headers = {"Content-Type": request.content_type}
                    if request.encoding:
                        headers["Content-Encoding"] = request.encoding
                    content = request.content() if callable(request.content) else request.content
                    responses[name].append(client.post(request.path, content=content, headers=headers))
            alive = client.get("/v1/info").status_code == 200
    finally:
        server.stop()
    return Stored(responses, server.db, server.output(), alive)


def test_server_survived_every_stored_case(stored):
    assert stored.alive_after_all
    assert all(r.status_code == 200 for rs in stored.responses.values() for r in rs), {
        name: [r.status_code for r in rs] for name, rs in stored.responses.items()
    }
    assert "Traceback" not in stored.output and "ERROR" not in stored.output, stored.output


@pytest.mark.parametrize("name", list(VARIANTS))
def test_content_types_gzip_and_chunked_bodies(stored, name):
    encoding, _, gzipped, chunked = VARIANTS[name]
    (response,) = stored.responses[name]
    assert_success(response, "traces", encoding)
    sent = response.request.headers
    if chunked:
        assert sent["transfer-encoding"] == "chunked" and "content-length" not in sent
    else:
        assert "transfer-encoding" not in sent and int(sent["content-length"]) > 0
    assert (sent.get("content-encoding") == "gzip") == gzipped
    assert stored.spans(tid(name), "span_name, service_name") == [(f"variant {name}", "http-test")]


def test_partial_success_protobuf(stored):
    (response,) = stored.responses["partial-pb"]
    rejected, message = partial_success(response, "traces", "protobuf")
    assert rejected == 5
    assert message.startswith("5 rejected: ")
    for problem in (
        "span 1 ('trace id of 15 bytes'): trace_id must be 16 bytes (32 hex characters), got 15 bytes",
        "span 2 ('span id of 9 bytes'): span_id must be 8 bytes (16 hex characters), got 9 bytes",
        "span 3 ('all-zero trace id'): trace_id must not be all zeros",
        "span 4 ('all-zero span id'): span_id must not be all zeros",
        "span 5 ('parent of 5 bytes'): parent_span_id must be 8 bytes (16 hex characters), got 5 bytes",
    ):
        assert problem in message
    assert stored.spans(tid("partial-pb"), "span_name, span_id, parent_span_id") == [
        ("valid one", sid(1).hex(), None),
        ("valid two", sid(7).hex(), sid(1).hex()),
    ]
    assert stored.rows("SELECT count(*) FROM records WHERE trace_id = ?", [bytes(16).hex()]) == [(0,)]


def test_partial_success_is_repeated_for_a_retry_without_storing_twice(stored):
    (first,) = stored.responses["partial-pb"]
    (retry,) = stored.responses["partial-pb-retry"]
    assert partial_success(retry, "traces", "protobuf") == partial_success(first, "traces", "protobuf")
    assert stored.rows("SELECT count(*) FROM records WHERE trace_id = ?", [tid("partial-pb").hex()]) == [(2,)]


def test_partial_success_json(stored):
    (response,) = stored.responses["partial-json"]
    rejected, message = partial_success(response, "traces", "json")
    assert response.json()["partialSuccess"]["rejectedSpans"] == "3"  # int64 as a string in OTLP/JSON
    assert rejected == 3
    assert f"traceId must be a hex string, got {'zz' * 16!r}" in message
    assert "spanId must be a hex string, got 'abc'" in message
    assert "trace_id must be 16 bytes (32 hex characters), got 15 bytes" in message
    assert stored.spans(tid("partial-json")) == [("valid one",), ("valid upper case",)]


def test_partial_success_logs(stored):
    (response,) = stored.responses["partial-logs"]
    assert partial_success(response, "logs", "protobuf") == (
        1,
        "1 rejected: log record 1: trace_id must be 16 bytes (32 hex characters), got 3 bytes",
    )
    assert stored.rows("SELECT message, kind FROM records WHERE service_name = 'partial-logs'") == [("kept", "log")]


def test_partial_success_metrics(stored):
    (response,) = stored.responses["partial-metrics"]
    assert partial_success(response, "metrics", "json") == (
        1,
        "1 rejected: metric 'partial.histogram' data point 0: count 18446744073709551615 does not fit a signed 64-bit integer",
    )
    assert stored.rows(
        "SELECT metric_name, scalar_value, histogram_count FROM metrics WHERE service_name = 'partial-metrics' ORDER BY metric_name"
    ) == [("partial.gauge", 3.0, None), ("partial.histogram", None, 4)]


def test_error_message_stays_short(stored):
    (response,) = stored.responses["many-rejected"]
    rejected, message = partial_success(response, "traces", "protobuf")
    assert rejected == 5000
    assert message.startswith("5000 rejected: span 0 (") and message.endswith("; and 4980 more")
    assert len(message) <= 4096
    assert len(response.content) < 5000


def test_json_ids_are_hex_case_insensitive(stored):
    ((trace_id, span_id, parent, links),) = stored.rows(
        "SELECT trace_id, span_id, parent_span_id, otel_links FROM records WHERE span_name = 'upper case ids'"
    )
    assert (trace_id, span_id, parent) == (tid("json-hex").hex(), "abcdef0123456789", "fedcba9876543210")
    assert json.loads(links) == [{"trace_id": "ab" * 16, "span_id": "cd" * 8, "attributes": {}}]


def test_json_values_enums_int64_and_unknown_fields(stored):
    (response,) = stored.responses["json-values"]
    assert_success(response, "traces", "json")
    rows = stored.spans(
        tid("json-values"),
        "span_name, otel_span_kind, otel_status_code, otel_status_message, level, epoch_ns(start_timestamp), "
        "epoch_ns(end_timestamp), attributes, otel_scope_name, service_name, otel_events",
    )
    integers_row, names_row = rows  # ordered by span_name
    assert names_row[:7] == (
        "enums as names, int64 as numbers",
        "consumer",
        "ERROR",
        "failed",
        17,
        START_NS,
        END_NS,
    )
    assert integers_row[:7] == ("enums as integers, int64 as strings", "server", "OK", None, 9, START_NS, END_NS)
    assert json.loads(integers_row[7]) == {
        "string": "s",
        "bool": True,
        "int-as-string": 9007199254740993,
        "int-as-number": 42,
        "double": 0.25,
        "nan": "NaN",
        "inf": "Infinity",
        "ninf": "-Infinity",
        "bytes": "AAEC/w==",  # bytesValue stays base64
        "array": [1, "two", None],
        "kvlist": {"inner": False},
        "empty": None,
    }
    assert integers_row[8:10] == ("json.scope", "json-values")
    assert [e["name"] for e in json.loads(integers_row[10])] == ["evt"]


def test_logs_endpoint_protobuf(stored):
    assert_success(stored.responses["logs-pb"][0], "logs", "protobuf")
    ((kind, level, message, body, trace_id, parent, span_id, attributes),) = stored.rows(
        "SELECT kind, level, message, log_body, trace_id, parent_span_id, span_id, attributes FROM records "
        "WHERE service_name = 'logs-pb'"
    )
    assert (kind, level, message, body) == ("log", 17, "disk is full", "disk is full")
    assert (trace_id, parent) == (tid("logs-pb").hex(), sid(7).hex())
    assert len(span_id) == 16
    assert json.loads(attributes) == {"path": "/var"}


def test_logs_endpoint_json_sent_twice_is_stored_once(stored):
    first, second = stored.responses["logs-json"]
    assert_success(first, "logs", "json")
    assert_success(second, "logs", "json")
    ((kind, level, message, trace_id, parent),) = stored.rows(
        "SELECT kind, level, message, trace_id, parent_span_id FROM records WHERE service_name = 'logs-json'"
    )
    assert (kind, level, json.loads(message), parent) == ("log", 13, {"event": "login"}, None)
    assert len(trace_id) == 32  # derived: the record had no trace context


def test_metrics_endpoint_protobuf(stored):
    assert_success(stored.responses["metrics-pb"][0], "metrics", "protobuf")
    rows = stored.rows(
        "SELECT metric_name, metric_type, scalar_value, aggregation_temporality, is_monotonic, histogram_count, "
        "histogram_bucket_counts, exemplars FROM metrics WHERE service_name = 'metrics-pb' ORDER BY metric_name"
    )
    assert [row[:7] for row in rows] == [
        ("pb.gauge", "gauge", 1.5, None, None, None, None),
        ("pb.histogram", "histogram", None, "delta", None, 3, [1, 2]),
        ("pb.sum", "sum", 10.0, "cumulative", True, None, None),
    ]
    exemplars = json.loads(rows[2][7])
    assert [(e["trace_id"], e["span_id"], e["value"]) for e in exemplars] == [(tid("metrics-pb").hex(), sid(3).hex(), 1)]


def test_children_before_parents_and_orphans_are_stored(stored):
    assert stored.spans(tid("child-first"), "span_name, span_id, parent_span_id") == [
        ("child", sid(2).hex(), sid(1).hex()),
        ("grandchild", sid(3).hex(), sid(2).hex()),
        ("parent arrives last", sid(1).hex(), None),
    ]
    assert stored.spans(tid("orphan"), "span_name, parent_span_id") == [("orphan", sid(1).hex())]


def test_same_trace_and_span_id_twice_keeps_both(stored):
    assert stored.spans(tid("same-ids"), "span_name, span_id") == [
        ("attempt 1", sid(1).hex()),
        ("attempt 1 again in the same request", sid(1).hex()),
        ("attempt 2", sid(1).hex()),
        ("own parent", sid(9).hex()),
    ]


def test_clock_skew_is_stored_not_rejected(stored):
    rows = stored.spans(tid("clock-skew"), "span_name, epoch_us(start_timestamp), epoch_us(end_timestamp), duration")
    assert rows == [
        ("child before parent", (START_NS - 10**9) // 1000, END_NS // 1000, pytest.approx(1.25)),
        ("ends before it starts", END_NS // 1000, START_NS // 1000, pytest.approx(-0.25)),
        ("far future", _FAR_FUTURE_NS // 1000, _FAR_FUTURE_NS // 1000 + 10**6, pytest.approx(1.0)),
        ("parent", START_NS // 1000, END_NS // 1000, pytest.approx(0.25)),
        ("starts at zero", 0, 0, 0.0),
    ]


def test_lone_surrogate_costs_no_other_span(stored):
    assert_success(stored.responses["lone-surrogate"][0], "traces", "json")
    rows = stored.spans(tid("lone-surrogate"), "span_name, attributes")
    assert [(name, json.loads(attributes)) for name, attributes in rows] == [
        ("bad \ufffd name", {"bad": "x\ufffdy", "k\ufffd": 1}),
        ("good", {"emoji": "\U0001f600"}),  # a proper surrogate pair is one character
    ]


def test_huge_attribute_is_truncated_with_a_marker(stored):
    assert_success(stored.responses["huge-attribute"][0], "traces", "protobuf")
    ((value,),) = stored.rows("SELECT attributes->>'big' FROM records WHERE span_name = '10 MB attribute'")
    cut = 10 * 1024 * 1024 - MAX_STRING_CHARS
    assert value == "a" * MAX_STRING_CHARS + f"...[truncated by spyglass: {cut} more characters]"


def test_too_many_attributes_are_counted(stored):
    assert_success(stored.responses["many-attributes"][0], "traces", "protobuf")
    ((attributes,),) = stored.rows("SELECT attributes FROM records WHERE span_name = '100k attributes'")
    attributes = json.loads(attributes)
    assert len(attributes) == MAX_ATTRIBUTES + 1
    assert attributes[DROPPED_ATTRIBUTES_KEY] == 100_000 - MAX_ATTRIBUTES
    assert attributes["key0"] == 0 and attributes[f"key{MAX_ATTRIBUTES - 1}"] == MAX_ATTRIBUTES - 1


def test_huge_span_name_is_truncated(stored):
    assert_success(stored.responses["huge-name"][0], "traces", "protobuf")
    ((name, message),) = stored.rows("SELECT span_name, message FROM records WHERE span_id = ? AND trace_id = ?", [sid(3).hex(), tid("huge").hex()])
    expected = "N" * MAX_NAME_CHARS + f"...[truncated by spyglass: {1024 * 1024 - MAX_NAME_CHARS} more characters]"
    assert name == expected and message == expected


def test_huge_attribute_key_is_truncated(stored):
    assert_success(stored.responses["huge-key"][0], "traces", "protobuf")
    ((attributes,),) = stored.rows("SELECT attributes FROM records WHERE span_name = '1 MB attribute key'")
    key = "K" * MAX_NAME_CHARS + f"...[truncated by spyglass: {1024 * 1024 - MAX_NAME_CHARS} more characters]"
    assert json.loads(attributes) == {key: "v"}


@pytest.mark.parametrize("name", ["deep-protobuf", "deep-json"])
def test_deep_nesting_is_cut_with_a_marker(stored, name):
    assert stored.responses[name][0].status_code == 200
    ((attributes,),) = stored.rows("SELECT attributes FROM records WHERE span_name = ?", [name.replace("-", " ")])
    value = json.loads(attributes)["deep"]
    depth = 0
    while isinstance(value, list):
        (value,), depth = value, depth + 1
    assert (depth, value) == (MAX_DEPTH, TOO_DEEP_MARKER)


def test_duplicate_attribute_keys_last_wins(stored):
    assert stored.spans(tid("duplicate-keys"), "attributes") == [('{"k":"last","other":1}',)]


def test_same_batch_twice_is_stored_once(stored):
    responses = stored.responses["retried"]
    for response in responses:
        assert_success(response, "traces", "protobuf")
    assert stored.spans(tid("retried")) == [("retried 1",), ("retried 2",), ("retried 3",)]
    assert stored.rows("SELECT count(*) FROM ingested_requests WHERE accepted = 3 AND signal = 'traces'") == [(1,)]


# --- the `live` server: answers only ---


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("live") / "live.duckdb")
    yield server
    server.stop()
    assert "Traceback" not in server.output(), server.output()


@pytest.mark.parametrize("path", list(PATHS.values()))
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(live, path, method):
    response = httpx.request(method, live.url + path, content=b"{}", headers={"Content-Type": JSON})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize("signal", list(PATHS))
@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/jsonx", None])
def test_unknown_content_type_is_415(live, signal, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = httpx.post(live.url + PATHS[signal], content=b"{}", headers=headers)
    assert response.status_code == 415
    code, message = status_of(response)  # JSON: the request's encoding is unknown
    assert code == 3 and "unsupported Content-Type" in message


@pytest.mark.parametrize(("content_type", "body"), [(PB, b""), (JSON, b"{}")])
@pytest.mark.parametrize("content_encoding", ["br", "deflate", "zstd", "gzip, br"])
def test_unknown_content_encoding_is_415(live, content_type, body, content_encoding):
    response = httpx.post(
        live.url + "/v1/traces", content=body, headers={"Content-Type": content_type, "Content-Encoding": content_encoding}
    )
    assert response.status_code == 415
    assert response.headers["content-type"] == content_type
    code, message = status_of(response)
    assert code == 3 and "unsupported Content-Encoding" in message


@pytest.mark.parametrize(("content_type", "encoding"), [(PB, "protobuf"), (JSON, "json")])
@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"\x1f\x8b\x08\x00garbage-not-deflate", "not valid gzip"),
        (b"plain text, not gzip at all", "not valid gzip"),
        (gzip.compress(b"{}")[:-4], "truncated"),  # the length at the end is missing
        (gzip.compress(bytes(range(256)) * 64)[:200], "truncated"),
    ],
    ids=["corrupt", "not-gzip", "no-trailer", "cut-short"],
)
def test_corrupt_gzip_is_400(live, content_type, encoding, body, problem):
    response = httpx.post(live.url + "/v1/traces", content=body, headers={"Content-Type": content_type, "Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert response.headers["content-type"] == content_type
    code, message = status_of(response)
    assert code == 3 and problem in message


def _unknown_anyvalue_kind() -> bytes:
    request = ExportTraceServiceRequest()
    resource = Resource(attributes=[KeyValue(key="odd", value=AnyValue(string_value_strindex=1))])
    request.resource_spans.add(resource=resource).scope_spans.add(spans=[span(tid("strindex"), 1, "x")])
    return request.SerializeToString()


def _too_deep_for_upb() -> bytes:
    """An attribute nested 60 arrays deep, built top-down (copying it would hit upb's depth limit)."""
    request = ExportTraceServiceRequest()
    deep = request.resource_spans.add().scope_spans.add().spans.add(trace_id=tid("too-deep"), span_id=sid(1), name="x")
    value = deep.attributes.add(key="deep").value
    for _ in range(60):
        value = value.array_value.values.add()
    value.string_value = "leaf"
    return request.SerializeToString()


# Bodies no signal can read.
MALFORMED_ANY = {
    "protobuf-garbage": (PB, b"\x0a\xff\xff\xff\xff\x0f", "not a valid OTLP protobuf"),
    "protobuf-truncated": (PB, b"\x0a\x10\x0a\x02", "not a valid OTLP protobuf"),
    "json-syntax": (JSON, b'{"resourceSpans": [', "not valid JSON"),
    "json-array": (JSON, b"[]", "must be a JSON object"),
    "json-string": (JSON, b'"resourceSpans"', "must be a JSON object"),
    "json-not-utf8": (JSON, b'{"key": "\xff"}', "not UTF-8"),
    "json-too-deep-for-python": (JSON, b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
}
MALFORMED = {
    **{f"traces-{name}": ("traces", *value) for name, value in MALFORMED_ANY.items()},
    **{f"logs-{name}": ("logs", *value) for name, value in MALFORMED_ANY.items()},
    **{f"metrics-{name}": ("metrics", *value) for name, value in MALFORMED_ANY.items()},
    # item 23: upb refuses the whole message for invalid UTF-8 in a string field, so the valid
    # span next to it is refused too (a 400, not a partial success)
    "traces-protobuf-invalid-utf8": (
        "traces",
        PB,
        traces_pb(span(tid("utf8"), 1, "ok"), span(tid("utf8"), 2, "@@@@")).replace(b"@@@@", b"\xff\xfe\xfd\xfc"),
        "not a valid OTLP protobuf",
    ),
    # item 24: past ~100 message levels upb refuses the whole message too
    "traces-protobuf-too-deep": ("traces", PB, _too_deep_for_upb(), "not a valid OTLP protobuf"),
    "traces-protobuf-unknown-anyvalue-kind-in-resource": ("traces", PB, _unknown_anyvalue_kind(), "unsupported AnyValue kind"),
    "traces-json-wrong-type": ("traces", JSON, b'{"resourceSpans": {"scopeSpans": []}}', "not a valid OTLP/JSON traces export"),
    "traces-json-bad-int64": (
        "traces",
        JSON,
        traces_json(json_span(tid("bad-int"), 1, "x", startTimeUnixNano="yesterday")),
        "not a valid OTLP/JSON traces export",
    ),
    # ParseDict stops at the same ~100 levels as upb
    "traces-json-too-deep-for-protobuf": (
        "traces",
        JSON,
        traces_json(json_span(tid("too-deep"), 1, "x", attributes=[{"key": "d", "value": json_nested(60)}])),
        "Message too deep",
    ),
    "logs-json-wrong-type": ("logs", JSON, b'{"resourceLogs": 5}', "not a valid OTLP/JSON logs export"),
    "logs-json-bad-body": ("logs", JSON, b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"intValue": "x"}}]}]}]}', "not a valid OTLP/JSON logs export"),
    "metrics-json-wrong-type": ("metrics", JSON, b'{"resourceMetrics": [{"scopeMetrics": 5}]}', "not a valid OTLP/JSON metrics export"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_body_is_400_with_rpc_status(live, name):
    signal, content_type, body, problem = MALFORMED[name]
    response = httpx.post(live.url + PATHS[signal], content=body, headers={"Content-Type": content_type})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == content_type
    code, message = status_of(response)
    assert code == 3  # INVALID_ARGUMENT
    assert problem in message


def test_server_still_accepts_after_malformed_bodies(live):
    for name, (signal, content_type, body, _) in MALFORMED.items():
        assert httpx.post(live.url + PATHS[signal], content=body, headers={"Content-Type": content_type}).status_code == 400, name
    response = httpx.post(live.url + "/v1/traces", content=one_span_body("protobuf", tid("after-malformed"), "fine"), headers={"Content-Type": PB})
    assert_success(response, "traces", "protobuf")
    traces = httpx.get(live.url + "/api/traces", params={"limit": 1000}).json()
    assert [t["record_count"] for t in traces if t["trace_id"] == tid("after-malformed").hex()] == [1]


EMPTY = [
    ("traces", PB, b""),
    ("traces", JSON, b""),
    ("traces", JSON, b"{}"),
    ("traces", JSON, b'{"resourceSpans": []}'),
    ("traces", JSON, b'{"resourceSpans": [{"scopeSpans": [{"spans": []}]}]}'),
    ("traces", PB, ExportTraceServiceRequest(resource_spans=[{"scope_spans": [{}]}]).SerializeToString()),
    ("logs", PB, b""),
    ("logs", JSON, b'{"resourceLogs": []}'),
    ("metrics", PB, b""),
    ("metrics", JSON, b'{"resourceMetrics": []}'),
    ("metrics", JSON, b'{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "no data"}]}]}]}'),
]


@pytest.mark.parametrize(("signal", "content_type", "body"), EMPTY)
def test_empty_request_is_a_success_that_stores_nothing(live, signal, content_type, body):
    before = live.stats()
    response = httpx.post(live.url + PATHS[signal], content=body, headers={"Content-Type": content_type})
    assert_success(response, signal, "protobuf" if content_type == PB else "json")
    after = live.stats()
    assert (after["records"], after["records_by_kind"], after["metrics"]) == (before["records"], before["records_by_kind"], before["metrics"])


def test_cors_preflight(live):
    response = httpx.options(
        live.url + "/v1/traces",
        headers={
            "Origin": "http://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, content-encoding",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "http://app.example")
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "content-type" in allowed and "content-encoding" in allowed
    export = httpx.post(
        live.url + "/v1/traces",
        content=one_span_body("json", tid("cors"), "from a browser"),
        headers={"Content-Type": JSON, "Origin": "http://app.example"},
    )
    assert_success(export, "traces", "json")
    assert export.headers["access-control-allow-origin"] in ("*", "http://app.example")


# --- the `small` server: --max-body-mb 1 ---


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("small") / "small.duckdb", "--max-body-mb", "1")
    yield server
    server.stop()


LIMIT = 1024 * 1024


def assert_413(response: httpx.Response, content_type: str) -> str:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == content_type
    code, message = status_of(response)
    assert code == 8  # RESOURCE_EXHAUSTED
    assert f"over the {LIMIT} byte limit" in message
    return message


def assert_still_accepting(server, name: str) -> None:
    assert server.process.poll() is None
    response = httpx.post(server.url + "/v1/traces", content=one_span_body("protobuf", tid(name), name), headers={"Content-Type": PB})
    assert_success(response, "traces", "protobuf")
    traces = httpx.get(server.url + "/api/traces", params={"limit": 1000}).json()
    assert [t["root_message"] for t in traces if t["trace_id"] == tid(name).hex()] == [name]


@pytest.mark.parametrize("content_type", [PB, JSON])
def test_gzip_bomb_is_413(small, content_type):
    bomb = gzip.compress(b" " * (64 * LIMIT), 9)  # 64 MiB of spaces
    assert len(bomb) < 100_000
    response = httpx.post(small.url + "/v1/traces", content=bomb, headers={"Content-Type": content_type, "Content-Encoding": "gzip"})
    assert "after decompression" in assert_413(response, content_type)
    assert_still_accepting(small, f"after bomb {content_type}")


def test_over_limit_with_content_length_is_413(small):
    response = httpx.post(small.url + "/v1/traces", content=b"\x00" * (LIMIT + 1), headers={"Content-Type": PB})
    assert_413(response, PB)
    assert_still_accepting(small, "after content-length")


@pytest.mark.parametrize("gzipped", [False, True])
def test_over_limit_chunked_is_413(small, gzipped):
    body = traces_pb(span(tid("chunked-over"), 1, "x", {"pad": "p" * (LIMIT + 1000)}))
    body = gzip.compress(body) if gzipped else body
    headers = {"Content-Type": PB, **({"Content-Encoding": "gzip"} if gzipped else {})}
    response = httpx.post(small.url + "/v1/traces", content=chunks(body, 64 * 1024)(), headers=headers)
    assert "content-length" not in response.request.headers
    assert_413(response, PB)
    assert_still_accepting(small, f"after chunked gzip={gzipped}")


def test_chunked_under_the_limit_is_stored(small):
    body = traces_pb(span(tid("chunked-under"), 1, "almost at the limit", {"pad": "p" * (LIMIT - 2000)}))
    assert LIMIT - 2000 < len(body) <= LIMIT
    response = httpx.post(small.url + "/v1/traces", content=chunks(body, 64 * 1024)(), headers={"Content-Type": PB})
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_success(response, "traces", "protobuf")
    traces = httpx.get(small.url + "/api/traces", params={"limit": 1000}).json()
    assert [t["root_message"] for t in traces if t["trace_id"] == tid("chunked-under").hex()] == ["almost at the limit"]
