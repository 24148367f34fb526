"""The real OpenTelemetry Python exporters, configured only by OTEL_* environment variables.

Each case runs tests/e2e/clients/otel_sdk_client.py as a subprocess against a real
`spyglass serve` (OTLP/HTTP protobuf, OTLP/gRPC, and OTLP/JSON from the
opentelemetry-exporter-otlp-json-http package in .venv-json; each plain and gzip-compressed).
The client prints the ids it created; after SIGTERM the stored rows are compared with them.
"""

import json
import os
import subprocess
import sys
import uuid

import duckdb
import pytest

from tests.conftest import ROOT, read_db

CLIENT = ROOT / "tests" / "e2e" / "clients" / "otel_sdk_client.py"
JSON_PYTHON = ROOT / ".venv-json" / "bin" / "python"

SPAN_NAMES = {"e2e link target", "e2e root", "e2e child", "e2e failing grandchild"}
DEFAULT_BOUNDS = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000]


def run_client(server, protocol: str, compression: str | None) -> tuple[dict, dict]:
    """Run the client with only environment variables for configuration; returns (ground truth, env)."""
    if protocol == "http/json":
        python = JSON_PYTHON
        if not python.exists():
            pytest.fail(f"{python} is missing: run `make test-deps` (it creates the .venv-json virtualenv)")
    else:
        python = sys.executable
    endpoint = f"http://127.0.0.1:{server.grpc_port}" if protocol == "grpc" else server.url
    run_id = uuid.uuid4().hex
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_SERVICE_NAME=f"e2e-{protocol.replace('/', '-')}",
        OTEL_RESOURCE_ATTRIBUTES=f"service.version=2.0.1,deployment.environment.name=e2e,e2e.run={run_id}",
        OTEL_METRIC_EXPORT_INTERVAL="3600000",  # only the final collection at shutdown: one point per series
    )
    if compression:
        env["OTEL_EXPORTER_OTLP_COMPRESSION"] = compression
    result = subprocess.run([str(python), str(CLIENT)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    truth = json.loads(result.stdout)
    assert truth["results"] == {"traces": ["SUCCESS"], "logs": ["SUCCESS"], "metrics": ["SUCCESS"]}, result.stderr
    expected = compression or "none"
    assert truth["compression"] == {"traces": expected, "logs": expected, "metrics": expected}
    return truth, env


CASES = [
    pytest.param("http/protobuf", None, id="http-protobuf"),
    pytest.param("http/protobuf", "gzip", id="http-protobuf-gzip"),
    pytest.param("grpc", None, id="grpc"),
    pytest.param("grpc", "gzip", id="grpc-gzip"),
    pytest.param("http/json", None, id="http-json"),
    pytest.param("http/json", "gzip", id="http-json-gzip"),
]


@pytest.mark.parametrize("protocol, compression", CASES)
def test_sdk_exporters_configured_by_environment(server, protocol, compression):
    truth, env = run_client(server, protocol, compression)
    server.stop()
    service = env["OTEL_SERVICE_NAME"]
    run_id = env["OTEL_RESOURCE_ATTRIBUTES"].rsplit("e2e.run=", 1)[1]
    check_spans(server.db, truth["spans"], service, run_id)
    check_logs(server.db, truth, service)
    check_metrics(server.db, service, run_id)


def rows(db, sql: str) -> list[dict]:
    """Like read_db, with each row as a dict keyed by column name."""
    with duckdb.connect(str(db), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def check_spans(db, truth: dict, service: str, run_id: str) -> None:
    spans = {row["span_name"]: row for row in rows(db, "SELECT * FROM records WHERE kind = 'span'")}
    assert set(spans) == SPAN_NAMES
    assert read_db(db, "SELECT count(*) FROM records WHERE kind = 'span'") == [(4,)]  # nothing twice
    for name, ids in truth.items():
        row = spans[name]
        assert (row["trace_id"], row["span_id"], row["parent_span_id"]) == (
            ids["trace_id"],
            ids["span_id"],
            ids["parent_span_id"],
        ), name
        assert row["service_name"] == service
        assert row["service_version"] == "2.0.1"
        assert row["deployment_environment"] == "e2e"
        assert row["telemetry_sdk_name"] == "opentelemetry"
        assert row["telemetry_sdk_language"] == "python"
        resource = json.loads(row["otel_resource_attributes"])
        assert resource["e2e.run"] == run_id
        assert resource["service.name"] == service
        assert row["otel_scope_name"] == "spyglass.e2e.tracer"
        assert row["otel_scope_version"] == "1.2.3"
        assert row["end_timestamp"] >= row["start_timestamp"]

    root, child, grandchild = spans["e2e root"], spans["e2e child"], spans["e2e failing grandchild"]
    target = spans["e2e link target"]
    assert root["parent_span_id"] is None and target["parent_span_id"] is None
    assert child["parent_span_id"] == root["span_id"] and grandchild["parent_span_id"] == child["span_id"]
    assert root["trace_id"] == child["trace_id"] == grandchild["trace_id"] != target["trace_id"]
    assert root["start_timestamp"] <= child["start_timestamp"] <= grandchild["start_timestamp"]
    assert grandchild["end_timestamp"] <= child["end_timestamp"] <= root["end_timestamp"]

    assert root["otel_span_kind"] == "server" and child["otel_span_kind"] == "internal"
    assert json.loads(root["attributes"]) == {
        "http.request.method": "GET",
        "http.route": "/items/{id}",
        "http.response.status_code": 200,
        "e2e.int": 42,
        "e2e.float": 1.5,
        "e2e.bool": True,
        "e2e.strings": ["a", "b"],
    }
    assert (root["http_method"], root["http_route"], root["http_response_status_code"]) == ("GET", "/items/{id}", 200)

    assert json.loads(child["otel_links"]) == [
        {"trace_id": target["trace_id"], "span_id": target["span_id"], "attributes": {"e2e.link_reason": "caused by"}}
    ]
    assert target["otel_links"] is None

    assert grandchild["is_exception"] is True
    assert grandchild["exception_type"] == "ValueError"
    assert grandchild["exception_message"] == "boom 42"
    assert 'raise ValueError("boom 42")' in grandchild["exception_stacktrace"]
    assert (grandchild["otel_status_code"], grandchild["otel_status_message"]) == ("ERROR", "ValueError: boom 42")
    assert grandchild["level"] == 17
    [event] = json.loads(grandchild["otel_events"])
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "ValueError"
    for other in (root, child, target):
        assert (other["is_exception"], other["exception_type"], other["otel_events"]) == (False, None, None)
        assert (other["level"], other["otel_status_code"]) == (9, "UNSET")


def check_logs(db, truth: dict, service: str) -> None:
    logs = {row["log_body"]: row for row in rows(db, "SELECT * FROM records WHERE kind = 'log'")}
    assert set(logs) == set(truth["logs"])
    assert read_db(db, "SELECT count(*) FROM records WHERE kind = 'log'") == [(3,)]
    levels = {"disk almost full: 91%": 13, "division failed": 17, "outside any span": 9}  # WARNING, ERROR, INFO
    for body, enclosing in truth["logs"].items():
        row = logs[body]
        assert row["level"] == levels[body], body
        assert row["message"] == body
        assert row["service_name"] == service
        assert row["otel_scope_name"] == "spyglass.e2e.client"  # the Python logger's name
        assert len(row["span_id"]) == 16
        if enclosing is None:
            assert row["parent_span_id"] is None
            assert len(row["trace_id"]) == 32
            assert row["trace_id"] not in {span["trace_id"] for span in truth["spans"].values()}
        else:
            assert (row["trace_id"], row["parent_span_id"]) == (enclosing["trace_id"], enclosing["span_id"]), body
    failed = logs["division failed"]
    assert (failed["is_exception"], failed["exception_type"], failed["exception_message"]) == (
        True,
        "ZeroDivisionError",
        "division by zero",
    )
    assert "1 / 0" in failed["exception_stacktrace"]
    assert logs["disk almost full: 91%"]["is_exception"] is False


def check_metrics(db, service: str, run_id: str) -> None:
    got = rows(db, "SELECT * FROM metrics ORDER BY metric_name, scalar_value")
    assert [(m["metric_name"], m["metric_type"]) for m in got] == [
        ("e2e.latency", "histogram"),
        ("e2e.queue", "sum"),
        ("e2e.requests", "sum"),
        ("e2e.requests", "sum"),
        ("e2e.temperature", "gauge"),
    ]
    latency, queue, requests_b, requests_a, temperature = got
    for metric in got:
        assert metric["service_name"] == service
        assert json.loads(metric["otel_resource_attributes"])["e2e.run"] == run_id
        assert (metric["otel_scope_name"], metric["otel_scope_version"]) == ("spyglass.e2e.meter", "0.1")
    assert (requests_a["scalar_value"], json.loads(requests_a["attributes"])) == (7.0, {"route": "/a"})
    assert (requests_b["scalar_value"], json.loads(requests_b["attributes"])) == (5.0, {"route": "/b"})
    for counter in (requests_a, requests_b):
        assert (counter["is_monotonic"], counter["aggregation_temporality"]) == (True, "cumulative")
        assert (counter["unit"], counter["metric_description"]) == ("1", "requests served")
    assert (queue["scalar_value"], queue["is_monotonic"], queue["aggregation_temporality"]) == (
        7.0,
        False,
        "cumulative",
    )
    assert (temperature["scalar_value"], temperature["unit"], temperature["aggregation_temporality"]) == (
        23.25,
        "Cel",
        None,
    )
    assert latency["unit"] == "ms" and latency["aggregation_temporality"] == "cumulative"
    assert (latency["histogram_count"], latency["histogram_sum"]) == (3, 270.0)
    assert (latency["histogram_min"], latency["histogram_max"]) == (5.0, 250.0)
    assert latency["histogram_explicit_bounds"] == DEFAULT_BOUNDS
    # 5 falls in (0, 5], 15 in (10, 25], 250 in (100, 250]
    assert latency["histogram_bucket_counts"] == [0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert latency["scalar_value"] is None and queue["histogram_count"] is None
