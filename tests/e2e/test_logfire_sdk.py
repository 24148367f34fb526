"""The real logfire SDK (configured only through LOGFIRE_* environment variables) pointed at Spyglass.

Each client is a script in logfire_clients/ run as a subprocess, so the SDK's global state, its exit
flush and its stderr are the real ones. What logfire sends is described in
../shared/REFERENCE-SPANS.md ("logfire SDK").
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, read_db, start_server

CLIENTS = Path(__file__).with_name("logfire_clients")
SERVICE = "logfire-e2e"
POLL_SECONDS = 30


def client_env(server: Server, token: str = "any-token") -> dict[str, str]:
    """Only environment variables configure the SDK; inherited LOGFIRE_*/OTEL_* settings are dropped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOGFIRE_", "OTEL_"))}
    env.update(
        LOGFIRE_TOKEN=token,
        LOGFIRE_BASE_URL=server.url,
        LOGFIRE_SEND_TO_LOGFIRE="true",
        LOGFIRE_CONSOLE="false",
        LOGFIRE_SERVICE_NAME=SERVICE,
        PYTHONUNBUFFERED="1",
    )
    return env


def run_client(script: str, server: Server, cwd: Path, *args: str, token: str = "any-token") -> subprocess.CompletedProcess:
    """Run a client to completion (its exit flushes everything the SDK still holds)."""
    result = subprocess.run(
        [sys.executable, str(CLIENTS / script), *args],
        cwd=cwd,  # logfire looks for a .logfire credentials directory in the working directory
        env=client_env(server, token),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stderr}"
    return result


def start_client(script: str, server: Server, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(CLIENTS / script)],
        cwd=cwd,
        env=client_env(server),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_line(process: subprocess.Popen) -> str:
    line = process.stdout.readline()
    if not line:
        process.wait(10)
        raise AssertionError(f"client exited ({process.returncode}) early:\n{process.stderr.read()}")
    return line.strip()


def trace_summary(server: Server, trace_id: str) -> dict | None:
    traces = httpx.get(f"{server.url}/api/traces", params={"limit": 1000}, timeout=10).json()
    return next((t for t in traces if t["trace_id"] == trace_id), None)


def wait_for_trace(server: Server, trace_id: str, predicate) -> dict:
    """Poll /api/traces until the trace's summary satisfies `predicate`; fail with the last summary."""
    deadline = time.monotonic() + POLL_SECONDS
    summary = None
    while time.monotonic() < deadline:
        summary = trace_summary(server, trace_id)
        if summary is not None and predicate(summary):
            return summary
        time.sleep(0.1)
    raise AssertionError(f"trace {trace_id} never matched; last summary: {summary}")


def assert_quiet(stderr: str) -> None:
    """The SDK warns on stderr when GET /v1/info or an export is not answered as it expects."""
    assert stderr.strip() == "", f"the logfire client wrote to stderr:\n{stderr}"


def records_by_name(db: Path) -> dict[str, dict]:
    columns = (
        "kind, level, span_name, message, tags, trace_id, span_id, parent_span_id, start_timestamp, "
        "end_timestamp, duration, is_exception, exception_type, exception_message, exception_stacktrace, "
        "otel_status_code, service_name, otel_scope_name, attributes_json_schema"
    )
    rows = read_db(db, f"SELECT {columns} FROM records")
    names = [c.strip() for c in columns.split(",")]
    by_name: dict[str, dict] = {}
    for row in rows:
        record = dict(zip(names, row))
        assert record["span_name"] not in by_name, f"two records named {record['span_name']!r}: {rows}"
        by_name[record["span_name"]] = record
    return by_name


# -- 1. GET /v1/info and the token ---------------------------------------------------------------


def test_info_answers_what_the_sdk_expects_and_the_sdk_stays_quiet(server, tmp_path):
    response = httpx.get(f"{server.url}/v1/info", headers={"Authorization": "whatever"}, timeout=10)
    assert response.status_code == 200
    info = response.json()
    # LogfireCredentials.from_token reads exactly these two keys.
    assert isinstance(info["project_name"], str) and info["project_name"]
    assert isinstance(info["project_url"], str) and info["project_url"]

    result = run_client("log_once.py", server, tmp_path, "no-token-server")
    assert_quiet(result.stderr)
    server.stop()
    assert read_db(server.db, "SELECT message, kind, level, service_name FROM records") == [
        ("token check no-token-server", "log", 9, SERVICE)
    ]


def test_raw_token_is_accepted_and_a_wrong_token_is_refused(tmp_path):
    server = start_server(tmp_path / "db.duckdb", "--token", "secret")
    try:
        good = run_client("log_once.py", server, tmp_path, "right", token="secret")
        bad = run_client("log_once.py", server, tmp_path, "wrong", token="not-the-secret")
    finally:
        server.stop()
    # logfire sends `Authorization: secret` (no Bearer): accepted without a word on stderr.
    assert_quiet(good.stderr)
    # The OTLP exporter logs the refusal of its export.
    assert "Failed to export spans batch code: 401" in bad.stderr, bad.stderr
    assert read_db(server.db, "SELECT message FROM records") == [("token check right",)]


# -- 2. Mapping into columns ---------------------------------------------------------------------


def test_logs_spans_attributes_and_exceptions_map_to_columns(server, tmp_path):
    result = run_client("emit_records.py", server, tmp_path)
    assert_quiet(result.stderr)
    ids = json.loads(result.stdout)
    server.stop()
    records = records_by_name(server.db)
    assert set(records) == {
        "hello {name}", "careful {n}", "bad {d}", "outer {x}", "inner", "inside", "failed {x}", "raising",
    }
    assert all(r["service_name"] == SERVICE and r["otel_scope_name"] == "logfire" for r in records.values())
    # Pending spans were sent in the same batch as their real spans (or replaced by them): none is left.
    assert read_db(server.db, "SELECT count(*) FROM records WHERE kind = 'pending_span'") == [(0,)]

    hello = records["hello {name}"]
    assert (hello["kind"], hello["level"], hello["message"], hello["tags"]) == ("log", 9, "hello world", ["alpha", "beta"])
    assert hello["start_timestamp"] == hello["end_timestamp"] and hello["duration"] == 0
    assert hello["parent_span_id"] is None and hello["is_exception"] is False
    careful = records["careful {n}"]
    assert (careful["kind"], careful["level"], careful["message"], careful["tags"]) == ("log", 13, "careful 3", None)
    bad = records["bad {d}"]
    assert (bad["kind"], bad["level"], bad["message"]) == ("log", 17, "bad {'k': 'v'}")
    assert json.loads(bad["attributes_json_schema"])["properties"].keys() == {"d", "items", "point"}
    assert records["inside"]["level"] == 5

    # Values logfire.json_schema lists as JSON are stored parsed, so SQL reaches inside them.
    assert read_db(
        server.db,
        "SELECT attributes->'d'->>'k', attributes->'items'->>1, attributes->'point'->>'k', "
        "(attributes->'point'->>'n')::INT, attributes->>'code.filepath' FROM records WHERE span_name = ?",
        ["bad {d}"],
    ) == [("v", "2", "p", 7, str(CLIENTS / "emit_records.py"))]
    assert read_db(server.db, "SELECT attributes->>'name' FROM records WHERE span_name = 'hello {name}'") == [("world",)]

    outer, inner = records["outer {x}"], records["inner"]
    assert (outer["kind"], outer["level"], outer["message"]) == ("span", 9, "outer 1")
    assert (outer["trace_id"], outer["span_id"], outer["parent_span_id"]) == (ids["outer_trace"], ids["outer"], None)
    assert outer["end_timestamp"] > outer["start_timestamp"] and outer["otel_status_code"] == "UNSET"
    assert (inner["kind"], inner["message"], inner["span_id"], inner["parent_span_id"]) == (
        "span", "inner", ids["inner"], ids["outer"]
    )
    assert (records["inside"]["trace_id"], records["inside"]["parent_span_id"]) == (ids["outer_trace"], ids["inner"])

    # logfire.exception: an error log carrying an `exception` event.
    failed = records["failed {x}"]
    assert (failed["kind"], failed["level"], failed["message"], failed["parent_span_id"]) == (
        "log", 17, "failed 2", ids["outer"]
    )
    assert (failed["is_exception"], failed["exception_type"], failed["exception_message"]) == (
        True, "ZeroDivisionError", "division by zero"
    )
    assert failed["exception_stacktrace"].startswith("Traceback (most recent call last):")
    assert "1 / 0" in failed["exception_stacktrace"]

    # An exception escaping a span: the span itself is the error.
    raising = records["raising"]
    assert (raising["kind"], raising["level"], raising["otel_status_code"], raising["span_id"]) == (
        "span", 17, "ERROR", ids["raising"]
    )
    assert (raising["is_exception"], raising["exception_type"], raising["exception_message"]) == (
        True, "ValueError", "bad value"
    )
    assert 'raise ValueError("bad value")' in raising["exception_stacktrace"]
    assert all(not records[name]["is_exception"] for name in ("hello {name}", "careful {n}", "bad {d}", "outer {x}"))

    # logfire exports metrics only for instruments the program created; the exit flush sends them.
    assert read_db(
        server.db, "SELECT metric_name, scalar_value, otel_scope_name, service_name FROM metrics"
    ) == [("e2e_requests", 3.0, "logfire", SERVICE)]


# -- 3. and 4. Pending spans ---------------------------------------------------------------------


def test_pending_spans_show_a_running_trace_until_the_real_spans_replace_them(server, tmp_path):
    client = start_client("hold_span.py", server, tmp_path)
    try:
        ids = json.loads(read_line(client))
        trace_id = ids["trace_id"]
        # Both spans are still open: only their pending spans can have arrived.
        running = wait_for_trace(server, trace_id, lambda t: t["record_count"] == 2)
        assert (running["running"], running["root_message"], running["service_name"]) == (True, "long running", SERVICE)
        assert server.stats()["records_by_kind"] == {"pending_span": 2}

        client.stdin.write("\n")
        client.stdin.flush()
        assert read_line(client) == "child ended"
        # The nested span's real span replaced its pending span; the root is still running.
        assert server.stats()["records_by_kind"] == {"pending_span": 1, "span": 1}
        assert trace_summary(server, trace_id)["running"] is True

        client.stdin.write("\n")
        client.stdin.close()
        assert client.wait(60) == 0
        assert_quiet(client.stderr.read())
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        client.stdout.close()
        client.stderr.close()

    finished = trace_summary(server, trace_id)
    assert (finished["running"], finished["root_message"], finished["record_count"]) == (False, "long running", 2)
    server.stop()
    assert read_db(
        server.db, "SELECT count(*) FROM records WHERE kind = 'pending_span' AND trace_id = ?", [trace_id]
    ) == [(0,)]
    assert read_db(server.db, "SELECT count(*) FROM open_pending_spans") == [(0,)]
    assert sorted(read_db(
        server.db,
        "SELECT span_id, parent_span_id, kind, message, end_timestamp > start_timestamp FROM records WHERE trace_id = ?",
        [trace_id],
    )) == sorted([
        (ids["root"], None, "span", "long running", True),
        (ids["child"], ids["root"], "span", "nested 1", True),
    ])


@pytest.mark.parametrize("kill_after_child_ended", [False, True], ids=["both-open", "child-ended"])
def test_spans_of_a_killed_client_stay_as_pending_spans(server, tmp_path, kill_after_child_ended):
    client = start_client("hold_span.py", server, tmp_path)
    try:
        ids = json.loads(read_line(client))
        trace_id = ids["trace_id"]
        wait_for_trace(server, trace_id, lambda t: t["record_count"] == 2)
        if kill_after_child_ended:
            client.stdin.write("\n")
            client.stdin.flush()
            assert read_line(client) == "child ended"
        client.send_signal(signal.SIGKILL)
        assert client.wait(30) == -signal.SIGKILL
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        for stream in (client.stdin, client.stdout, client.stderr):
            try:
                stream.close()
            except BrokenPipeError:
                pass

    summary = trace_summary(server, trace_id)
    assert (summary["running"], summary["root_message"], summary["record_count"]) == (True, "long running", 2)
    server.stop()
    child_kind = "span" if kill_after_child_ended else "pending_span"
    assert sorted(read_db(
        server.db,
        "SELECT span_id, parent_span_id, kind, message, end_timestamp IS NULL, duration IS NULL "
        "FROM records WHERE trace_id = ?",
        [trace_id],
    )) == sorted([
        (ids["root"], None, "pending_span", "long running", True, True),
        (ids["child"], ids["root"], child_kind, "nested 1", not kill_after_child_ended, not kill_after_child_ended),
    ])
