"""The native fast path (collector/fastspans.c + collector/fast_traces.py) gives exactly the rows of
the Python decoder (collector/spans.py), or gives the request back to it.

Each body is decoded both ways and compared column by column (JSON columns as parsed JSON: the two
write some floats differently, 4.08e-05 against 0.0000408). Bodies come from the real logfire SDK
and OTel SDK (encoded exactly as their exporters encode them), the captured pydantic-ai exports,
the benchmark's agent traces, handcrafted edge cases and random spans.
"""

import gzip
import http.server
import json
import math
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from bench.agent_traces import export_requests
from collector import fast_traces
from collector.decode import decode_request
from collector.errors import BadRequest
from collector.ingest import request_digest
from collector.otlp_json import parse_json_request
from collector.rows import to_batch
from tests.collector.test_decode import END_NS, PARENT, SPAN, START_NS, TRACE, any_value, kvs, make_span, traces_body

pytestmark = pytest.mark.skipif(not fast_traces.AVAILABLE, reason="the native module is not built (no C compiler?)")

RECEIVED_US = 1_700_000_000_000_000
JSON_COLUMNS = {"attributes", "otel_events", "otel_links", "otel_resource_attributes", "otel_scope_attributes"}
FIXTURES = Path(__file__).parent.parent / "fixtures"
LOGFIRE_CLIENTS = Path(__file__).parent.parent / "e2e" / "logfire_clients"


def python_batch(body: bytes):
    return to_batch(decode_request("traces", body, "protobuf", RECEIVED_US))


def column_values(table: pa.Table | None, name: str) -> list | None:
    if table is None:
        return None
    values = table[name].to_pylist()
    if name in JSON_COLUMNS:
        return [None if v is None else json.loads(v) for v in values]
    return values


def assert_same_rows(body: bytes) -> None:
    """The fast path takes this body and stores exactly what the Python decoder would."""
    fast = fast_traces.decode_traces_fast(body, RECEIVED_US)
    assert fast is not None, "the fast path gave this body back to the Python decoder"
    slow = python_batch(body)
    assert (fast.rejected, fast.error_message) == (slow.rejected, slow.error_message) == (0, "")
    for part in ("records", "pending_spans"):
        fast_table, slow_table = getattr(fast, part), getattr(slow, part)
        assert (fast_table is None) == (slow_table is None), part
        if slow_table is None:
            continue
        assert fast_table.schema == slow_table.schema
        for name in slow_table.schema.names:
            assert column_values(fast_table, name) == column_values(slow_table, name), f"{part}.{name}"


def gives_up(body: bytes) -> bool:
    return fast_traces.decode_traces_fast(body, RECEIVED_US) is None


# --- real clients ---------------------------------------------------------------------------------


class _Capture(http.server.BaseHTTPRequestHandler):
    """Stands in for Spyglass at the HTTP level: keeps every trace export body, answers 200."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path == "/v1/traces":
            self.server.bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        payload = b'{"project_name": "capture"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def captured_logfire_exports(tmp_path):
    """What the real logfire SDK sends (records of every kind, a pydantic-ai agent run, pending
    spans), configured only by LOGFIRE_* variables as in tests/e2e/test_logfire_sdk.py."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    server.bodies = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOGFIRE_", "OTEL_"))}
    env.update(LOGFIRE_TOKEN="t", LOGFIRE_BASE_URL=f"http://127.0.0.1:{server.server_address[1]}",
               LOGFIRE_SEND_TO_LOGFIRE="true", LOGFIRE_CONSOLE="false", LOGFIRE_SERVICE_NAME="fast-path")
    try:
        for script in ("emit_records.py", "pydantic_ai_agent.py", "hold_span.py"):
            result = subprocess.run([sys.executable, str(LOGFIRE_CLIENTS / script)], cwd=tmp_path, env=env,
                                    input="\n\n", capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stderr
    finally:
        server.shutdown()
    return server.bodies


def test_logfire_sdk_exports(captured_logfire_exports):
    assert captured_logfire_exports
    pending = 0
    for body in captured_logfire_exports:
        assert_same_rows(body)
        batch = fast_traces.decode_traces_fast(body, RECEIVED_US)
        pending += 0 if batch.pending_spans is None else batch.pending_spans.num_rows
    assert pending > 0  # hold_span.py flushes while its spans are open: logfire sends pending spans


def test_otel_sdk_spans():
    """Spans of the real OpenTelemetry SDK, encoded by the OTLP exporters' own encoder."""
    from opentelemetry.sdk.resources import Resource as SdkResource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Link, SpanKind, StatusCode

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=SdkResource.create({"service.name": "otel-fast", "service.version": "3"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("fast.test", "1.0")
    with tracer.start_as_current_span("GET /things", kind=SpanKind.SERVER,
                                      attributes={"http.request.method": "GET", "http.route": "/things"}) as root:
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT, links=[Link(root.get_span_context())],
                                          attributes={"gen_ai.operation.name": "chat", "gen_ai.system": "openai",
                                                      "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 12,
                                                      "gen_ai.usage.output_tokens": 3, "tags": ("x", "y"),
                                                      "ratios": (0.5, 1e-9)}) as chat:
            chat.add_event("gen_ai.content.prompt", {"gen_ai.prompt": '[{"role": "user"}]'})
        try:
            with tracer.start_as_current_span("work"):
                raise RuntimeError("nope")
        except RuntimeError:
            pass
        root.set_status(StatusCode.ERROR, "failed")
    assert_same_rows(encode_spans(exporter.get_finished_spans()).SerializeToString())


@pytest.mark.parametrize("fixture", sorted(p.name for p in (FIXTURES / "llm").glob("*.json")))
def test_captured_pydantic_ai_and_openinference_exports(fixture):
    document = json.loads((FIXTURES / "llm" / fixture).read_text())
    if "traces" not in document:
        pytest.skip("logs only")
    request = ExportTraceServiceRequest()
    assert parse_json_request(json.dumps(document["traces"]).encode(), request, "traces") == []
    assert_same_rows(request.SerializeToString())


def test_benchmark_agent_traces():
    for body in export_requests(seed=11, spans=3000):
        assert_same_rows(body)


# --- handcrafted ----------------------------------------------------------------------------------


def test_values_of_every_kind_and_awkward_text():
    attrs = {
        "text": "plain", "unicode": "žluťoučký 🐍 \u2028", "controls": "a\x00b\x1fc\x7f\"\\/", "empty": "",
        "int": -42, "big": 2**63 - 1, "zero": 0, "bool": False, "true": True,
        "floats": [0.1, 1e-05, 4.08e-05, 1e20, 1.5e16, -0.0, 5e-324, 1.7976931348623157e308, 3.0],
        "non_finite": [math.nan, math.inf, -math.inf], "none": None,
        "nested": {"a": [1, {"b": [None, "c"]}], "": "empty key"}, "empty_list": [], "empty_map": {},
    }
    assert_same_rows(traces_body(make_span("values", attrs)))


def test_logfire_columns_messages_levels_tags_and_json_schema():
    schema = json.dumps({"type": "object", "properties": {"data": {"type": "object"}, "items": {"type": "array"},
                                                            "bad": {}, "text": {}, "num": {}}})
    spans = [
        make_span("with {data}", {"logfire.msg": "with data", "logfire.level_num": 13, "logfire.tags": ["a", "b"],
                                   "logfire.json_schema": schema, "data": '{"k": [1, 2.5, "x"], "n": null}',
                                   "items": '[{"a": 1}]', "bad": "{not json", "text": "just text", "num": 7},
                  span_id=b"\x01" * 8),
        make_span("log", {"logfire.span_type": "log", "logfire.level_num": 17, "logfire.msg": "an error"},
                  span_id=b"\x02" * 8),
        make_span("level out of range", {"logfire.level_num": 99, "logfire.tags": "not a list"}, span_id=b"\x03" * 8,
                  status=Status(code=Status.STATUS_CODE_ERROR, message="it failed")),
        make_span("weird schema", {"logfire.json_schema": "[1, 2]", "x": "[1]"}, span_id=b"\x04" * 8),
        make_span("schema without properties", {"logfire.json_schema": '{"type": "object"}', "x": "[1]"},
                  span_id=b"\x05" * 8),
        make_span("null msg", {"logfire.msg": None, "logfire.tags": []}, span_id=b"\x06" * 8, kind=3),
        make_span("odd kinds", {}, span_id=b"\x07" * 8, kind=42, status=Status(code=7)),
    ]
    assert_same_rows(traces_body(*spans))


def test_pending_spans_are_re_keyed_and_split():
    pending = make_span("running", {"logfire.span_type": "pending_span", "logfire.pending_parent_id": "00f067aa0ba902b7"},
                        span_id=b"\x09" * 8, parent_span_id=SPAN)
    root_pending = make_span("root running", {"logfire.span_type": "pending_span", "logfire.pending_parent_id": "0000000000000000"},
                             span_id=b"\x0a" * 8, parent_span_id=b"\x0b" * 8)
    assert_same_rows(traces_body(make_span("finished"), pending, root_pending))
    assert_same_rows(traces_body(pending))


def test_events_exceptions_and_links():
    exception = Span.Event(name="exception", time_unix_nano=START_NS + 5, attributes=kvs({
        "exception.type": "KeyError", "exception.message": "'x'", "exception.stacktrace": "Traceback...\n  line 1"}))
    later = Span.Event(name="exception", time_unix_nano=START_NS // 1000 * 1000, attributes=kvs({"exception.type": "Second"}))
    plain = Span.Event(name="note", time_unix_nano=0, attributes=kvs({"n": 1}))
    link = Span.Link(trace_id=TRACE, span_id=PARENT, attributes=kvs({"why": "retry"}))
    odd_link = Span.Link(trace_id=b"\x01\x02", span_id=b"")
    spans = [
        make_span("failed", events=[plain, exception], links=[link, odd_link], span_id=b"\x01" * 8),
        make_span("two exceptions", events=[exception, later], span_id=b"\x02" * 8),
        make_span("empty exception", events=[Span.Event(name="exception")], span_id=b"\x03" * 8),
    ]
    assert_same_rows(traces_body(*spans))


def test_resources_and_scopes_map_to_their_spans():
    request = ExportTraceServiceRequest()
    first = request.resource_spans.add(resource=Resource(attributes=kvs({
        "service.name": "api", "service.version": "1.2", "process.pid": 4242, "deployment.environment.name": "prod"})))
    first.scope_spans.add(scope=InstrumentationScope(name="one", version="0.1", attributes=kvs({"s": 1})),
                          spans=[make_span("a", span_id=b"\x01" * 8), make_span("b", span_id=b"\x02" * 8)])
    first.scope_spans.add(spans=[make_span("c", span_id=b"\x03" * 8)])
    request.resource_spans.add().scope_spans.add(scope=InstrumentationScope(name="two"),
                                                 spans=[make_span("d", span_id=b"\x04" * 8)])
    request.resource_spans.add()  # no scopes at all
    assert_same_rows(request.SerializeToString())


def test_model_call_columns_http_columns_and_duplicate_calls():
    chat = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20}
    spans = [
        make_span("chat reported", {**chat, "operation.cost": 0.0012}, span_id=b"\x01" * 8),
        make_span("chat computed", chat, span_id=b"\x02" * 8),  # genai-prices, in Python
        make_span("inner sdk span", {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
                                     "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20},
                  span_id=b"\x03" * 8, parent_span_id=b"\x01" * 8),  # same call as its parent: cleared
        make_span("attempt", {**chat, "operation.cost": 0.5, "pydantic_ai.model_request.attempt": 1},
                  span_id=b"\x04" * 8, parent_span_id=b"\x01" * 8),
        make_span("agent", {"gen_ai.operation.name": "invoke_agent", "gen_ai.usage.input_tokens": 5}, span_id=b"\x05" * 8),
        make_span("float tokens", {**chat, "gen_ai.usage.input_tokens": 7.0, "gen_ai.usage.output_tokens": -3,
                                   "operation.cost": 2}, span_id=b"\x06" * 8),
        make_span("openinference", {"openinference.span.kind": "LLM", "llm.model_name": "claude-sonnet-4-0",
                                    "llm.provider": "anthropic", "llm.token_count.prompt": 10,
                                    "llm.token_count.completion": 5}, span_id=b"\x07" * 8),
        make_span("GET /items", {"http.request.method": "GET", "http.route": "/items/{id}", "url.path": "/items/3",
                                 "http.response.status_code": 200}, span_id=b"\x08" * 8),
        make_span("old http", {"http.method": "POST", "http.target": "/a?b=c", "http.status_code": 500},
                  span_id=b"\x09" * 8),
        make_span("unknown model", {**chat, "gen_ai.request.model": "no-such-model"}, span_id=b"\x0a" * 8),
    ]
    assert_same_rows(traces_body(*spans))
    records = fast_traces.decode_traces_fast(traces_body(*spans), RECEIVED_US).records.to_pylist()
    by_name = {r["span_name"]: r for r in records}
    assert by_name["chat reported"]["cost_source"] == "reported"
    assert by_name["chat computed"]["cost_source"] == "computed"
    assert by_name["inner sdk span"]["input_tokens"] is None
    assert by_name["attempt"]["input_tokens"] == 100
    assert by_name["GET /items"]["http_route"] == "/items/{id}"


def test_random_spans():
    rng = random.Random(5)
    words = ["a", "é", "🐍", "\n", '"', "\\", "\x01", "{", "[1]", "chat", "gen_ai.usage.input_tokens", "logfire.msg"]

    def value(depth=0):
        kind = rng.randrange(9 if depth < 3 else 6)
        if kind == 0:
            return "".join(rng.choice(words) for _ in range(rng.randrange(6)))
        if kind == 1:
            return rng.randrange(-2**63, 2**63)
        if kind == 2:
            return rng.choice([0.0, -1.5, 1e-7, 123456.789, rng.random() * 10 ** rng.randrange(-30, 30)])
        if kind == 3:
            return rng.random() < 0.5
        if kind in (4, 5):
            return None if kind == 4 else rng.choice(words)
        if kind == 6:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        return {f"k{i}{rng.choice(words)}": value(depth + 1) for i in range(rng.randrange(4))}

    for request in range(40):
        spans = []
        for index in range(rng.randrange(1, 30)):
            attrs = {f"key{i}.{rng.choice(words)}": value() for i in range(rng.randrange(12))}
            events = [Span.Event(name=rng.choice(["exception", "log", ""]), time_unix_nano=rng.randrange(2**61),
                                 attributes=kvs({"exception.type": rng.choice(words), "x": value()}))
                      for _ in range(rng.randrange(3))]
            spans.append(Span(trace_id=rng.randbytes(15) + b"\x01", span_id=rng.randbytes(7) + b"\x01",
                              parent_span_id=rng.choice([b"", b"\x00" * 8, rng.randbytes(8)]),
                              name=rng.choice(words) * rng.randrange(3), kind=rng.randrange(7),
                              start_time_unix_nano=rng.randrange(2**61), end_time_unix_nano=rng.randrange(2**61),
                              attributes=kvs(attrs), events=events, status=Status(code=rng.randrange(4))))
        assert_same_rows(traces_body(*spans))


# --- what the fast path leaves to the Python decoder ----------------------------------------------


def _nested(depth: int) -> list:
    value: list = ["deep"]
    for _ in range(depth):
        value = [value]
    return value



@pytest.mark.parametrize("span", [
    make_span("bad trace id", trace_id=b"\x00" * 16),
    make_span("short span id", span_id=b"\x01\x02"),
    make_span("bytes value", {"b": b"\x00\x01"}),
    make_span("repeated key", [("k", 1), ("k", 2)]),
    make_span("x" * 5000),
    make_span("long message", {"logfire.msg": "m" * 20_000}),
    make_span("deep", {"d": _nested(40)}),
    make_span("pending without parent", {"logfire.span_type": "pending_span"}),
    make_span("non-text message", {"logfire.msg": 42}),
    make_span("tags with a number", {"logfire.tags": ["a", 1]}),
    make_span("big number in declared JSON", {"logfire.json_schema": '{"properties": {"j": {}}}', "j": "[1e999]"}),
], ids=lambda span: span.name[:30])
def test_gives_unusual_spans_to_the_python_decoder(span):
    body = traces_body(make_span("fine", span_id=b"\x05" * 8), span)
    assert gives_up(body)
    python_batch(body)  # which decodes (or rejects) them as before


def test_gives_up_on_malformed_protobuf_and_invalid_utf8():
    body = traces_body(make_span("caf\u00e9"))
    broken = body.replace("caf\u00e9".encode(), b"caf\xff\xfe")
    assert gives_up(broken) and gives_up(body[:-3]) and gives_up(b"\xff\xff\xff")
    assert fast_traces.decode_traces_fast(b"", RECEIVED_US) is None  # no spans: nothing to gain


def test_request_digest_tells_bodies_apart_and_repeats_itself():
    body = traces_body(make_span("x"))
    assert request_digest("traces", body) == request_digest("traces", bytes(body))
    assert request_digest("traces", body) != request_digest("logs", body)
    assert request_digest("traces", body) != request_digest("traces", body + b"\x00")
    assert len({request_digest("traces", bytes([i])) for i in range(256)}) == 256


def test_mutated_bodies_decode_the_same_or_go_to_python():
    """Random byte flips, deletions and insertions in real-shaped bodies: whatever the fast path
    takes, the Python decoder takes too and turns into the same rows (never a crash)."""
    rng = random.Random(8)
    seeds = export_requests(seed=3, spans=60, batch=5) + [traces_body(make_span(
        "x", {"a": [1, {"b": "c"}], "logfire.json_schema": '{"properties": {"j": {}}}', "j": '{"k": [1, 2]}',
              "logfire.tags": ["t"], "logfire.msg": "m", "logfire.level_num": 13},
        events=[Span.Event(name="exception", attributes=kvs({"exception.type": "E"}))],
        links=[Span.Link(trace_id=TRACE, span_id=SPAN)]))]
    taken = 0
    for _ in range(4000):
        body = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(1, 4)):
            where = rng.randrange(len(body))
            action = rng.randrange(3)
            if action == 0:
                body[where] = rng.randrange(256)
            elif action == 1:
                del body[where]
            else:
                body.insert(where, rng.randrange(256))
        body = bytes(body)
        if gives_up(body):
            continue
        taken += 1
        assert_same_rows(body)
    assert taken > 100  # most single flips land in text, which both paths store the same way


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (payloads here are shorter than 128 bytes)."""
    assert len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


def _with_raw_attribute(value: bytes) -> bytes:
    """A trace export whose one span carries an attribute with this raw AnyValue encoding."""
    span = make_span("raw").SerializeToString() + _field(9, _field(1, b"k") + _field(2, value))
    return _field(1, _field(2, _field(2, span)))


def test_gives_up_on_any_value_encodings_python_reads_differently():
    # a corrupt array_value replaced by a string_value: upb still parses (and refuses) the array
    two_members = _with_raw_attribute(_field(5, b"\x0a\x05") + _field(1, b"ok"))
    # string_value_strindex (field 8, newer OTLP): Python rejects the span
    strindex = _with_raw_attribute(b"\x40\x03")
    for body in (two_members, strindex):
        assert gives_up(body)
    with pytest.raises(BadRequest):
        python_batch(two_members)
    assert python_batch(strindex).rejected == 1
