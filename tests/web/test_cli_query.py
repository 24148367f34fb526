"""`spyglass query "SQL"`: asks a running server (--url), or opens the database file read-only when
no server answers; prints a table, CSV or JSON. Run as a real subprocess, as a user would."""

import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import sys

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import ROOT, free_port, start_server

ROOTS = "SELECT span_name, kind FROM records WHERE parent_span_id IS NULL"
ROOTS_TABLE = "span_name  kind\n---------  ----\ncheckout   span\n(1 row)\n"
CHILDREN = "SELECT span_name, CAST(attributes->>'i' AS INTEGER) AS i FROM records WHERE parent_span_id IS NOT NULL ORDER BY i"


def export_checkout(url: str) -> None:
    """A root span and three children through the real OTLP/HTTP exporter, acknowledged by the server."""
    finished = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "cli-test"}))
    provider.add_span_processor(SimpleSpanProcessor(finished))
    tracer = provider.get_tracer("tests.web.test_cli_query")
    with tracer.start_as_current_span("checkout"):
        for i in range(3):
            with tracer.start_as_current_span(f"step {i}") as span:
                span.set_attribute("i", i)
    provider.shutdown()
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", timeout=30)
    assert exporter.export(finished.get_finished_spans()) == SpanExportResult.SUCCESS
    exporter.shutdown()


def spyglass_query(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SPYGLASS_")}
    return subprocess.run(
        [sys.executable, "-m", "web.cli", "query", *args],
        cwd=ROOT, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=120,
    )


def nobody_listening() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("cli-running") / "spyglass.duckdb")
    try:
        export_checkout(server.url)
        yield server
    finally:
        server.stop()


@pytest.fixture
def stopped(tmp_path):
    """The database file of a server that received the spans and then stopped."""
    server = start_server(tmp_path / "spyglass.duckdb")
    try:
        export_checkout(server.url)
    finally:
        assert server.stop() == -signal.SIGTERM  # uvicorn re-raises the signal after a clean shutdown
    return server.db


def test_table_from_a_running_server(running):
    result = spyglass_query(ROOTS, "--url", running.url)
    assert (result.returncode, result.stdout, result.stderr) == (0, ROOTS_TABLE, "")


def test_csv_from_a_running_server(running):
    result = spyglass_query(CHILDREN, "--url", running.url, "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert list(csv.reader(io.StringIO(result.stdout))) == [["span_name", "i"], ["step 0", "0"], ["step 1", "1"], ["step 2", "2"]]


def test_json_from_a_running_server(running):
    result = spyglass_query(CHILDREN, "--url", running.url, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"span_name": f"step {i}", "i": i} for i in range(3)]


def test_table_shows_nulls_and_long_values(running):
    result = spyglass_query("SELECT NULL AS nothing, repeat('x', 100) AS long, 'a' || chr(10) || 'b' AS two_lines",
                            "--url", running.url)
    assert result.returncode == 0, result.stderr
    header, rule, row, count = result.stdout.splitlines()
    assert header.split() == ["nothing", "long", "two_lines"]
    assert row.split() == ["NULL", "x" * 59 + "…", "a", "b"]
    assert count == "(1 row)"


def test_truncated_result_is_said_on_stderr(running):
    result = spyglass_query("SELECT range AS i FROM range(10005)", "--url", running.url, "--format", "csv")
    assert result.returncode == 0
    assert result.stdout.splitlines() == ["i"] + [str(i) for i in range(10_000)]
    assert result.stderr == "(truncated at 10000 rows)\n"


@pytest.mark.parametrize(("sql", "rule"), [
    ("SELECT * FROM read_csv('/etc/passwd')", "no file or dynamic-SQL functions: read_csv() is not allowed"),
    ("DELETE FROM records", "read-only statements only: DELETE is not allowed"),
    ("SELECT 1; SELECT 2", "one statement only: found 2 statements"),
    ("SELECT * FROM nowhere", "database error: Catalog Error: Table with name nowhere does not exist"),
])
def test_refused_query_exits_1_with_the_rule(running, sql, rule):
    result = spyglass_query(sql, "--url", running.url)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(f"spyglass query: {rule}"), result.stderr


def test_reads_the_file_when_no_server_answers(stopped):
    before = hashlib.sha256(stopped.read_bytes()).hexdigest()
    url = nobody_listening()
    table = spyglass_query(ROOTS, "--url", url, "--db", str(stopped))
    assert (table.returncode, table.stdout, table.stderr) == (0, ROOTS_TABLE, "")
    as_json = spyglass_query(CHILDREN, "--url", url, "--db", str(stopped), "--format", "json")
    assert json.loads(as_json.stdout) == [{"span_name": f"step {i}", "i": i} for i in range(3)]
    from_env = spyglass_query(ROOTS, "--format", "csv", env={"SPYGLASS_URL": url, "SPYGLASS_DB": str(stopped)})
    assert from_env.stdout.splitlines() == ["span_name,kind", "checkout,span"]
    # Opened read-only: the file is byte for byte the same and no WAL appeared.
    assert hashlib.sha256(stopped.read_bytes()).hexdigest() == before
    assert not stopped.with_name(stopped.name + ".wal").exists()


def test_the_file_gets_the_same_sandbox(stopped):
    url = nobody_listening()
    refused = spyglass_query(f"SELECT * FROM read_blob('{stopped}')", "--url", url, "--db", str(stopped))
    assert refused.returncode == 1
    assert refused.stderr.startswith("spyglass query: no file or dynamic-SQL functions: read_blob() is not allowed")
    write = spyglass_query("DROP TABLE stored_records", "--url", url, "--db", str(stopped))
    assert (write.returncode, write.stderr.startswith("spyglass query: read-only statements only")) == (1, True)
    runaway = spyglass_query("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t",
                             "--url", url, "--db", str(stopped), env={"SPYGLASS_QUERY_TIMEOUT": "0.5"})
    assert runaway.returncode == 1
    assert runaway.stderr.startswith("spyglass query: time limit: stopped after 0.5 s"), runaway.stderr
    assert spyglass_query(ROOTS, "--url", url, "--db", str(stopped)).stdout == ROOTS_TABLE


def test_neither_server_nor_file_is_a_clear_error(tmp_path):
    missing = tmp_path / "nothing" / "spyglass.duckdb"
    result = spyglass_query(ROOTS, "--url", nobody_listening(), "--db", str(missing))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (f"spyglass query: no server answered and there is no database at {missing}; "
                             "start one with `spyglass serve`\n")
    assert not missing.parent.exists()


def test_a_file_held_by_a_server_at_another_address_is_a_clear_error(running):
    result = spyglass_query(ROOTS, "--url", nobody_listening(), "--db", str(running.db))
    assert result.returncode == 1
    assert result.stderr.startswith(f"spyglass query: no server answered and {running.db} cannot be opened: ")


def test_help_names_the_default_url():
    result = subprocess.run([sys.executable, "-m", "web.cli", "query", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    assert "default http://127.0.0.1:4318" in " ".join(result.stdout.split())
    assert "{table,csv,json}" in result.stdout
