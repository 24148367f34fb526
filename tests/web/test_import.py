"""`spyglass import FILE` (web/importer.py), run as the real CLI against a real server.

Files are written here in standard OTLP/JSON (hex ids, lowerCamelCase, 64-bit integers as
strings), and one comes from the server's own trace export (GET /api/trace/{id}/otlp.json).
"""

import json
import subprocess
import sys

import httpx
import pytest

from tests.conftest import ROOT, export_spans, free_port, read_db, start_server
from web import importer

TRACE_ID = "5b8efff798038103d269b633813fc60c"


def span(span_id: str, name: str, parent: str = "", trace_id: str = TRACE_ID, **extra) -> dict:
    return {
        "traceId": trace_id, "spanId": span_id, "parentSpanId": parent, "name": name, "kind": 1,
        "startTimeUnixNano": "1764000000000000000", "endTimeUnixNano": "1764000001500000000",
        "attributes": [{"key": "user.id", "value": {"intValue": "42"}}],
        "status": {}, **extra,
    }


def traces_request(*spans: dict, service: str = "imported") -> dict:
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "import-test"}, "spans": list(spans)}],
    }]}


def logs_request() -> dict:
    return {"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "imported"}}]},
        "scopeLogs": [{"scope": {"name": "import-test"}, "logRecords": [
            {"timeUnixNano": "1764000000500000000", "severityNumber": 13, "severityText": "WARN",
             "body": {"stringValue": "disk almost full"}, "traceId": TRACE_ID, "spanId": "eee7b1b2c3d4e5f6"},
        ]}],
    }]}


def metrics_request() -> dict:
    return {"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "imported"}}]},
        "scopeMetrics": [{"scope": {"name": "import-test"}, "metrics": [
            {"name": "requests", "sum": {"aggregationTemporality": 1, "isMonotonic": True, "dataPoints": [
                {"timeUnixNano": "1764000000000000000", "asInt": "3"},
                {"timeUnixNano": "1764000060000000000", "asInt": "5"},
            ]}},
        ]}],
    }]}


def spyglass_import(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "web.cli", "import", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.fixture
def stopped(tmp_path):
    """A server that the test stops before reading its file; yields it."""
    server = start_server(tmp_path / "spyglass.duckdb")
    yield server
    server.stop()


def test_import_a_trace_file_twice_stores_it_once(stopped, tmp_path):
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(traces_request(
        span("eee7b1b2c3d4e5f6", "handle request"),
        span("a1a2a3a4a5a6a7a8", "SELECT users", "eee7b1b2c3d4e5f6"),
    ), indent=2))  # pretty-printed: one request over many lines
    first = spyglass_import(str(path), "--url", stopped.url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"{path}: 1 request: 2 spans accepted, 0 rejected"
    second = spyglass_import(str(path), "--url", stopped.url)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == f"{path}: 1 request: 1 request already stored by an earlier import (not stored again)"
    stopped.stop()
    assert sorted(read_db(stopped.db, "SELECT span_name, parent_span_id, service_name, attributes->>'user.id', duration "
                                      "FROM records")) == [
        ("SELECT users", "eee7b1b2c3d4e5f6", "imported", "42", 1.5),
        ("handle request", None, "imported", "42", 1.5),
    ]


def test_json_lines_of_traces_logs_and_metrics(stopped, tmp_path):
    path = tmp_path / "export.jsonl"
    lines = [traces_request(span("eee7b1b2c3d4e5f6", "root")), logs_request(), metrics_request(),
             traces_request(span("b1b2b3b4b5b6b7b8", "other", trace_id="0af7651916cd43dd8448eb211c80319c"))]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    result = spyglass_import(str(path), "--url", stopped.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"{path}: 4 requests: 2 spans accepted, 0 rejected; "
                                     "1 log records accepted, 0 rejected; 2 data points accepted, 0 rejected")
    stopped.stop()
    assert read_db(stopped.db, "SELECT kind, count(*) FROM records GROUP BY kind ORDER BY kind") == [("log", 1), ("span", 2)]
    assert read_db(stopped.db, "SELECT metric_name, sum(scalar_value) FROM metrics GROUP BY ALL") == [("requests", 8.0)]


def test_rejected_spans_are_counted_and_reported(stopped, tmp_path):
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(traces_request(
        span("eee7b1b2c3d4e5f6", "fine"),
        span("not-hex-at-all!!", "bad id"),
    )))
    result = spyglass_import(str(path), "--url", stopped.url)
    assert result.returncode == 1
    assert result.stdout.strip() == f"{path}: 1 request: 1 spans accepted, 1 rejected"
    assert f"spyglass import: {path}, line 1: 1 spans rejected:" in result.stderr
    stopped.stop()
    assert read_db(stopped.db, "SELECT span_name FROM records") == [("fine",)]


def test_bad_json_names_the_line_and_sends_nothing(stopped, tmp_path):
    path = tmp_path / "broken.jsonl"
    good = json.dumps(traces_request(span("eee7b1b2c3d4e5f6", "root")))
    path.write_text(f"{good}\n{good}\n{{\"resourceSpans\": [}}\n")
    result = spyglass_import(str(path), "--url", stopped.url)
    assert result.returncode == 2
    assert result.stderr.strip() == f"spyglass import: {path}: bad JSON on line 3, column 20: Expecting value"
    assert result.stdout == ""
    stopped.stop()
    assert read_db(stopped.db, "SELECT count(*) FROM records") == [(0,)]


@pytest.mark.parametrize("content, message", [
    ('{"spans": []}', "line 1: not an OTLP/JSON export: expected exactly one of resourceSpans, resourceLogs or "
                      "resourceMetrics at the top level (keys found: spans)"),
    ('\n\n[1, 2]', "line 3: expected an OTLP/JSON export object, got a JSON int"),
    ('"text"', "line 1: expected an OTLP/JSON export object, got a JSON str"),
])
def test_not_an_export(tmp_path, content, message):
    path = tmp_path / "other.json"
    path.write_text(content)
    result = spyglass_import(str(path), "--url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 2
    assert result.stderr.strip() == f"spyglass import: {path}, {message}"


def test_missing_file_and_no_server(tmp_path):
    missing = spyglass_import(str(tmp_path / "nope.json"))
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"spyglass import: {tmp_path / 'nope.json'}: no such file"

    path = tmp_path / "trace.json"
    path.write_text(json.dumps(traces_request(span("eee7b1b2c3d4e5f6", "root"))))
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    nobody = spyglass_import(str(path), "--url", url)
    assert nobody.returncode == 2
    assert nobody.stderr.startswith(f"spyglass import: no Spyglass server answers at {url} (")
    assert nobody.stderr.rstrip().endswith("start one with `spyglass serve` or pass --url")


def test_token(tmp_path):
    server = start_server(tmp_path / "spyglass.duckdb", "--token", "s3cret")
    try:
        path = tmp_path / "trace.json"
        path.write_text(json.dumps(traces_request(span("eee7b1b2c3d4e5f6", "root"))))
        refused = spyglass_import(str(path), "--url", server.url)
        assert refused.returncode == 2
        assert "refused the token" in refused.stderr and "--token" in refused.stderr
        accepted = spyglass_import(str(path), "--url", server.url, "--token", "s3cret")
        assert accepted.returncode == 0, accepted.stderr
        assert "1 spans accepted" in accepted.stdout
    finally:
        server.stop()


def test_a_real_export_round_trips(tmp_path):
    """Spans from the OTel SDK, exported by one server as OTLP/JSON, imported into another."""
    source = start_server(tmp_path / "source.duckdb")
    target = start_server(tmp_path / "target.duckdb")
    try:
        def build(tracer):
            with tracer.start_as_current_span("checkout", attributes={"order.id": 17, "tags": ["a", "b"]}):
                with tracer.start_as_current_span("charge card") as charge:
                    charge.add_event("retry", {"attempt": 2})

        export_spans(source.url, build)
        (trace,) = httpx.get(f"{source.url}/api/traces").json()
        exported = httpx.get(f"{source.url}/api/trace/{trace['trace_id']}/otlp.json")
        assert exported.status_code == 200, exported.text
        path = tmp_path / "exported.json"
        path.write_bytes(exported.content)
        result = spyglass_import(str(path), "--url", target.url)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{path}: 1 request: 2 spans accepted, 0 rejected"
    finally:
        source.stop()
        target.stop()
    columns = ("trace_id, span_id, parent_span_id, span_name, start_timestamp, end_timestamp, service_name, "
               "attributes, otel_events->0->>'name', otel_scope_name, otel_status_code, otel_span_kind")
    query = f"SELECT {columns} FROM records ORDER BY span_id"
    assert read_db(target.db, query) == read_db(source.db, query)


def test_split_request_keeps_every_record_under_the_size():
    spans = [span(f"{n:016x}", "x" * 300) for n in range(1, 41)]
    request = {"resourceSpans": [
        {"resource": {}, "scopeSpans": [{"scope": {"name": "a"}, "spans": spans[:30]}, {"scope": {"name": "b"}, "spans": spans[30:]}]},
        {"resource": {}, "scopeSpans": [{"scope": {"name": "c"}, "spans": [span("ffffffffffffffff", "one")]}]},
    ]}
    parts = importer.split_request(request, "traces", 2000)
    assert all(len(json.dumps(part, separators=(",", ":"))) <= 2000 for part in parts)
    assert sum(importer.count_records(part, "traces") for part in parts) == 41
    assert parts == importer.split_request(request, "traces", 2000)  # the same parts every time


def test_read_exports_handles_arrays_and_concatenated_objects():
    text = json.dumps([traces_request(span("eee7b1b2c3d4e5f6", "a")), metrics_request()]) + "\n" + json.dumps(logs_request())
    exports = importer.read_exports(text)
    assert [(e.signal, e.records, e.line) for e in exports] == [("traces", 1, 1), ("metrics", 2, 1), ("logs", 1, 2)]
