"""POST /api/query (JSON, CSV, Arrow, Parquet), logfire's /v2/query through the real LogfireQueryClient,
/api/schema and /api/saved-queries, against a real `spyglass serve` filled by the real OTLP exporters.
"""

import csv
import io
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from logfire.query_client import LogfireQueryClient, QueryExecutionError, UnexpectedResponseError
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import start_server

ROW_LIMIT = 50
SERVICE = "query-api"
RESULT_KEYS = ["columns", "types", "rows", "row_count", "truncated", "elapsed_ms"]
ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"


def export_trace(url: str, root: str, children: int, environment: str) -> str:
    """One trace (a root span and `children` child spans with attribute i) through the real
    OTLP/HTTP protobuf exporter; returns the trace id once the server has acknowledged it."""
    finished = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(
        {"service.name": SERVICE, "deployment.environment.name": environment}))
    provider.add_span_processor(SimpleSpanProcessor(finished))
    tracer = provider.get_tracer("tests.web.test_query_api")
    with tracer.start_as_current_span(root) as root_span:
        for i in range(children):
            with tracer.start_as_current_span(f"step {i}") as span:
                span.set_attribute("i", i)
    provider.shutdown()
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", timeout=30)
    assert exporter.export(finished.get_finished_spans()) == SpanExportResult.SUCCESS
    exporter.shutdown()
    return format(root_span.get_span_context().trace_id, "032x")


def export_metrics(url: str) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": SERVICE}))
    orders = provider.get_meter("tests.web.test_query_api").create_counter("orders")
    orders.add(3, {"shop": "north"})
    orders.add(4, {"shop": "south"})
    exporter = OTLPMetricExporter(endpoint=f"{url}/v1/metrics", timeout=30)
    assert exporter.export(reader.get_metrics_data()) == MetricExportResult.SUCCESS
    exporter.shutdown()
    provider.shutdown()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """One server for the read-only tests: 60 + 5 spans in two environments, and two metric points."""
    db = tmp_path_factory.mktemp("query-api") / "spyglass.duckdb"
    server = start_server(db, "--query-timeout", "2", "--query-row-limit", str(ROW_LIMIT),
                          "--query-memory-limit", "300MB")
    try:
        checkout = export_trace(server.url, "checkout", 59, "prod")
        refund = export_trace(server.url, "refund", 4, "staging")
        export_metrics(server.url)
        assert server.stats()["records"] == 65 and server.stats()["metrics"] == 2
        yield server, checkout, refund
    finally:
        server.stop()


def query(url: str, sql: str, accept: str | None = None) -> httpx.Response:
    headers = {"Accept": accept} if accept else {}
    return httpx.post(f"{url}/api/query", json={"sql": sql}, headers=headers, timeout=60)


def test_json_result_shape(data):
    server, checkout, _ = data
    response = query(server.url, f"SELECT span_name, CAST(attributes->>'i' AS INTEGER) AS i, kind FROM records "
                                 f"WHERE trace_id = '{checkout}' AND span_name LIKE 'step %' ORDER BY i LIMIT 3")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == RESULT_KEYS
    assert body["columns"] == ["span_name", "i", "kind"]
    assert body["types"] == ["string", "int32", "string"]
    assert body["rows"] == [["step 0", 0, "span"], ["step 1", 1, "span"], ["step 2", 2, "span"]]
    assert (body["row_count"], body["truncated"]) == (3, False)
    assert isinstance(body["elapsed_ms"], (int, float)) and body["elapsed_ms"] >= 0
    assert response.headers["x-spyglass-truncated"] == "false"


def test_json_is_the_default_for_any_other_accept(data):
    server, _, _ = data
    for accept in (None, "*/*", "text/html", "application/json", "application/json, application/problem+json;q=0.9"):
        response = query(server.url, "SELECT 1 AS one", accept)
        assert (response.status_code, response.headers["content-type"]) == (200, "application/json"), accept
        assert response.json()["rows"] == [[1]]


def test_row_limit_truncates_and_says_so(data):
    server, _, _ = data
    body = query(server.url, "SELECT span_name FROM records ORDER BY start_timestamp").json()
    assert (body["row_count"], len(body["rows"]), body["truncated"]) == (ROW_LIMIT, ROW_LIMIT, True)
    assert body["rows"][0] == ["checkout"]
    exactly = query(server.url, f"SELECT span_name FROM records LIMIT {ROW_LIMIT}")
    assert (exactly.json()["row_count"], exactly.json()["truncated"]) == (ROW_LIMIT, False)
    csv_response = query(server.url, "SELECT span_name FROM records", "text/csv")
    assert csv_response.headers["x-spyglass-truncated"] == "true"
    assert len(list(csv.reader(io.StringIO(csv_response.text)))) == ROW_LIMIT + 1  # header + rows


TRICKY = ("SELECT 'a,b' AS comma, 'say \"hi\"' AS quote, 'one' || chr(10) || 'two' AS newline, NULL AS nothing, "
          "[1, 2] AS list, {'k': 'v'} AS struct, TIMESTAMPTZ '2024-05-01 12:00:00+00' AS ts, 1.5 AS dec, true AS flag")
TRICKY_COLUMNS = ["comma", "quote", "newline", "nothing", "list", "struct", "ts", "dec", "flag"]


def test_json_values_of_every_kind(data):
    server, _, _ = data
    body = query(server.url, TRICKY).json()
    assert body["columns"] == TRICKY_COLUMNS
    assert body["rows"] == [["a,b", 'say "hi"', "one\ntwo", None, [1, 2], {"k": "v"}, "2024-05-01T12:00:00+00:00",
                             1.5, True]]


def test_csv_parses_with_the_csv_module(data):
    server, checkout, _ = data
    response = query(server.url, TRICKY, "text/csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert list(csv.reader(io.StringIO(response.text))) == [
        TRICKY_COLUMNS,
        ["a,b", 'say "hi"', "one\ntwo", "", "[1,2]", '{"k":"v"}', "2024-05-01T12:00:00+00:00", "1.5", "true"],
    ]
    spans = query(server.url, f"SELECT span_id, span_name FROM records WHERE trace_id = '{checkout}' ORDER BY span_name",
                  "text/csv")
    rows = list(csv.DictReader(io.StringIO(spans.text)))
    assert len(rows) == ROW_LIMIT and rows[0]["span_name"] == "checkout" and len(rows[0]["span_id"]) == 16


def test_arrow_stream_reads_with_pyarrow(data):
    server, checkout, _ = data
    response = query(server.url, TRICKY, ARROW)
    assert response.headers["content-type"] == ARROW
    table = pa.ipc.open_stream(response.content).read_all()
    assert table.column_names == TRICKY_COLUMNS
    assert pa.types.is_timestamp(table.schema.field("ts").type) and table.schema.field("ts").type.tz is not None
    row = table.to_pylist()[0]
    assert (row["comma"], row["newline"], row["nothing"], row["list"], row["struct"], row["flag"]) == (
        "a,b", "one\ntwo", None, [1, 2], {"k": "v"}, True)
    assert row["ts"] == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    spans = pa.ipc.open_stream(query(
        server.url, f"SELECT start_timestamp, span_name FROM records WHERE trace_id = '{checkout}'", ARROW).content).read_all()
    assert spans.num_rows == ROW_LIMIT


def test_parquet_reads_with_pyarrow(data):
    server, _, refund = data
    response = query(server.url, TRICKY, PARQUET)
    assert response.headers["content-type"] == PARQUET
    table = pq.read_table(io.BytesIO(response.content))
    assert table.equals(pa.ipc.open_stream(query(server.url, TRICKY, ARROW).content).read_all())
    spans = pq.read_table(io.BytesIO(query(
        server.url, f"SELECT span_name FROM records WHERE trace_id = '{refund}' ORDER BY span_name", PARQUET).content))
    assert spans.column("span_name").to_pylist() == ["refund", "step 0", "step 1", "step 2", "step 3"]
    assert query(server.url, "SELECT 1 AS x", "application/x-parquet").headers["content-type"] == PARQUET


def test_accept_quality_values_pick_the_format(data):
    server, _, _ = data
    assert query(server.url, "SELECT 1", f"text/csv;q=0.5, {ARROW}").headers["content-type"] == ARROW
    assert query(server.url, "SELECT 1", f"{PARQUET};q=0, text/csv").headers["content-type"].startswith("text/csv")


RULES = [
    ("SELECT * FROM read_csv('/etc/passwd')", "no file or dynamic-SQL functions", "read_csv() is not allowed"),
    ("SELECT * FROM '/etc/passwd'", "no file or dynamic-SQL functions", "reads a file"),
    ("SELECT * FROM query('SELECT 1')", "no file or dynamic-SQL functions", "query() is not allowed"),
    ("DROP TABLE stored_records", "read-only statements only", "DROP is not allowed"),
    ("COPY records TO '/tmp/spyglass-out.csv'", "read-only statements only", "COPY is not allowed"),
    ("ATTACH ':memory:' AS m", "read-only statements only", "ATTACH is not allowed"),
    ("SET memory_limit = '64GB'", "read-only statements only", "SET is not allowed"),
    ("SELECT 1; DELETE FROM stored_records", "one statement only", "found 2 statements"),
    ("WITH d AS (DELETE FROM saved_queries RETURNING *) SELECT * FROM d", "read-only transaction", "read-only mode"),
    ("EXPLAIN DELETE FROM stored_records", "unverifiable query", "Only SELECT statements"),
    ("SELEC 1", "syntax error", "syntax error"),
    ("SELECT * FROM no_such_table", "database error", "no_such_table does not exist"),
    ("SELECT list(repeat('x', 1000000)) FROM range(10000)", "memory limit", "needed more than 300MB"),
    ("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t", "time limit",
     "stopped after 2 s"),
]


@pytest.mark.parametrize(("sql", "rule", "fragment"), RULES, ids=[r[1] + ": " + r[0][:30] for r in RULES])
def test_refused_query_is_400_naming_the_rule(data, sql, rule, fragment):
    server, _, _ = data
    for accept in (None, "text/csv"):  # the error is JSON whatever format was asked for
        response = query(server.url, sql, accept)
        assert response.status_code == 400, response.text
        body = response.json()
        assert list(body) == ["error", "rule"]
        assert body["rule"] == rule
        assert body["error"].startswith(f"{rule}: ") and fragment in body["error"], body["error"]
        if rule == "time limit":
            break  # once is enough for the slow one
    assert server.stats()["records"] == 65  # nothing was written, the server still answers


@pytest.mark.parametrize(("body", "message"), [
    (b'{"sql": ', "request body is not valid JSON"),
    (b"SELECT 1", "request body is not valid JSON"),
    (b"\xff\xfe\x00", "request body is not valid JSON"),
    (b"[1, 2]", "request body must be a JSON object"),
    (b'"SELECT 1"', "request body must be a JSON object"),
    (b"{}", 'missing "sql"'),
    (b"", 'missing "sql"'),
    (b'{"query": "SELECT 1"}', 'missing "sql"'),
    (b'{"sql": 42}', 'missing "sql"'),
    (b'{"sql": null}', 'missing "sql"'),
    (b'{"sql": ["SELECT 1"]}', 'missing "sql"'),
    (b'{"sql": "   "}', 'missing "sql"'),
])
def test_malformed_request_is_400_never_500(data, body, message):
    server, _, _ = data
    response = httpx.post(f"{server.url}/api/query", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert list(response.json()) == ["error"]
    assert response.json()["error"].startswith(message)


def test_schema_lists_records_and_metrics_with_their_columns(data):
    server, _, _ = data
    response = httpx.get(f"{server.url}/api/schema")
    assert response.status_code == 200
    tables = response.json()
    assert [t["name"] for t in tables[:2]] == ["records", "metrics"]
    by_name = {t["name"]: t for t in tables}
    assert (by_name["records"]["type"], by_name["metrics"]["type"]) == ("view", "table")
    assert by_name["records"]["note"] and by_name["metrics"]["note"]
    for name in ("records", "metrics"):
        expected = query(server.url, "SELECT list(column_name ORDER BY ordinal_position) AS c, "
                                     "list(data_type ORDER BY ordinal_position) AS t FROM information_schema.columns "
                                     f"WHERE table_schema = 'main' AND table_name = '{name}'").json()["rows"][0]
        assert [c["name"] for c in by_name[name]["columns"]] == expected[0]
        assert [c["type"] for c in by_name[name]["columns"]] == expected[1]
    records = {c["name"]: c["type"] for c in by_name["records"]["columns"]}
    assert records["start_timestamp"] == "TIMESTAMP WITH TIME ZONE"
    assert {"trace_id", "span_id", "span_name", "message", "attributes", "service_name", "level"} <= set(records)
    metrics = {c["name"]: c["type"] for c in by_name["metrics"]["columns"]}
    assert {"recorded_timestamp", "metric_name", "scalar_value"} <= set(metrics)


def test_metrics_are_queryable(data):
    server, _, _ = data
    body = query(server.url, "SELECT attributes->>'shop' AS shop, scalar_value FROM metrics "
                             "WHERE metric_name = 'orders' ORDER BY shop").json()
    assert body["rows"] == [["north", 3.0], ["south", 4.0]]


def test_saved_queries_roundtrip(data):
    server, _, _ = data
    url = f"{server.url}/api/saved-queries"
    assert httpx.get(url).json() == []

    saved = httpx.post(url, json={"name": "  slow spans ", "sql": "SELECT * FROM records WHERE duration > 1"})
    assert saved.status_code == 200 and saved.json() == {"name": "slow spans", "sql": "SELECT * FROM records WHERE duration > 1"}
    assert httpx.post(url, json={"name": "a/b", "sql": "SELECT 2"}).status_code == 200
    replaced = httpx.post(url, json={"name": "slow spans", "sql": "SELECT * FROM records WHERE duration > 2"})
    assert replaced.status_code == 200

    listed = httpx.get(url).json()
    assert [(q["name"], q["sql"]) for q in listed] == [("a/b", "SELECT 2"), ("slow spans", "SELECT * FROM records WHERE duration > 2")]
    assert all(datetime.fromisoformat(q["saved_at"].replace("Z", "+00:00")) for q in listed)

    assert httpx.delete(f"{url}/slow%20spans").json() == {"deleted": "slow spans"}
    assert httpx.delete(f"{url}/a%2Fb").json() == {"deleted": "a/b"}
    assert httpx.get(url).json() == []
    missing = httpx.delete(f"{url}/nope")
    assert (missing.status_code, missing.json()) == (404, {"error": "no saved query named 'nope'"})

    assert httpx.post(url, json={"sql": "SELECT 1"}).json() == {"error": 'missing "name": send {"name": "...", "sql": "..."}'}
    assert httpx.post(url, json={"name": "x"}).status_code == 400
    assert httpx.post(url, content=b"{", headers={"Content-Type": "application/json"}).status_code == 400
    assert httpx.get(url).json() == []


# The real logfire query client, unchanged, pointed at Spyglass.

def past() -> datetime:
    return datetime.now(timezone.utc) - timedelta(hours=1)


def test_logfire_query_client_json_rows(data):
    server, checkout, _ = data
    with LogfireQueryClient(read_token="any", base_url=server.url) as client:
        assert client.info() == {"organization_name": "spyglass", "project_name": "spyglass"}
        result = client.query_json_rows(
            f"SELECT span_name, trace_id FROM records WHERE trace_id = '{checkout}' ORDER BY start_timestamp",
            min_timestamp=past(), limit=3)
    assert result["columns"] == [{"name": "span_name", "datatype": "string", "nullable": True},
                                 {"name": "trace_id", "datatype": "string", "nullable": True}]
    assert result["rows"] == [{"span_name": name, "trace_id": checkout} for name in ("checkout", "step 0", "step 1")]


def test_logfire_query_client_min_and_max_timestamp_bound_the_rows(data):
    server, _, _ = data
    now = datetime.now(timezone.utc)
    with LogfireQueryClient(read_token="any", base_url=server.url) as client:
        count = "SELECT count(*) AS n FROM records"
        assert client.query_json_rows(count, min_timestamp=past())["rows"] == [{"n": 65}]
        assert client.query_json_rows(count, min_timestamp=now + timedelta(hours=1))["rows"] == [{"n": 0}]
        assert client.query_json_rows(count, min_timestamp=now - timedelta(days=2),
                                      max_timestamp=now - timedelta(days=1))["rows"] == [{"n": 0}]
        metric_count = "SELECT count(*) AS n FROM metrics"
        assert client.query_json_rows(metric_count, min_timestamp=past())["rows"] == [{"n": 2}]
        assert client.query_json_rows(metric_count, min_timestamp=now + timedelta(hours=1))["rows"] == [{"n": 0}]
        # A naive datetime is UTC (the client adds the zone).
        naive_future = (now + timedelta(hours=1)).replace(tzinfo=None)
        assert client.query_json_rows(count, min_timestamp=naive_future)["rows"] == [{"n": 0}]


def test_logfire_query_client_limit_and_environment(data):
    server, _, _ = data
    sql = "SELECT span_name FROM records ORDER BY start_timestamp, span_name"
    with LogfireQueryClient(read_token="any", base_url=server.url) as client:
        assert len(client.query_json_rows(sql, min_timestamp=past(), limit=7)["rows"]) == 7
        assert len(client.query_json_rows(sql, min_timestamp=past(), limit=1000)["rows"]) == ROW_LIMIT
        assert len(client.query_json_rows(sql, min_timestamp=past())["rows"]) == ROW_LIMIT
        staging = client.query_json_rows(sql, min_timestamp=past(), environment="staging")["rows"]
        assert [r["span_name"] for r in staging] == ["refund", "step 0", "step 1", "step 2", "step 3"]
        roots = "SELECT span_name FROM records WHERE parent_span_id IS NULL ORDER BY 1"
        assert client.query_json_rows(roots, min_timestamp=past(), environment=["prod", "staging"])["rows"] == [
            {"span_name": "checkout"}, {"span_name": "refund"}]
        assert client.query_json_rows(roots, min_timestamp=past(), environment="")["rows"] == []


def test_logfire_query_client_arrow_and_csv(data):
    server, _, refund = data
    sql = f"SELECT span_name, start_timestamp FROM records WHERE trace_id = '{refund}' ORDER BY span_name"
    with LogfireQueryClient(read_token="any", base_url=server.url) as client:
        table = client.query_arrow(sql, min_timestamp=past())
        assert table.column("span_name").to_pylist() == ["refund", "step 0", "step 1", "step 2", "step 3"]
        assert pa.types.is_timestamp(table.schema.field("start_timestamp").type)
        assert client.query_arrow(sql, min_timestamp=datetime.now(timezone.utc) + timedelta(hours=1)).num_rows == 0
        text = client.query_csv(sql, min_timestamp=past(), limit=2)
        rows = list(csv.reader(io.StringIO(text)))
        assert [r[0] for r in rows] == ["span_name", "refund", "step 0"]
        assert datetime.fromisoformat(rows[1][1]) > past()
        # A trailing line comment must not swallow the wrapping the server adds.
        commented = client.query_csv("SELECT span_name FROM records WHERE span_name = 'refund' -- roots only",
                                     min_timestamp=past())
        assert commented.splitlines() == ["span_name", "refund"]


def test_logfire_query_client_refused_query_raises_with_our_message(data):
    server, _, _ = data
    with LogfireQueryClient(read_token="any", base_url=server.url) as client:
        with pytest.raises(QueryExecutionError) as raised:
            client.query_json_rows("SELECT * FROM read_text('/etc/passwd')", min_timestamp=past())
        assert raised.value.args[0] == {
            "error": "no file or dynamic-SQL functions: read_text() is not allowed: queries may only read the Spyglass tables",
            "rule": "no file or dynamic-SQL functions",
        }
        with pytest.raises(QueryExecutionError) as raised:
            client.query_arrow("DELETE FROM records", min_timestamp=past())
        assert raised.value.args[0]["rule"] == "read-only statements only"
        with pytest.raises(QueryExecutionError) as raised:
            client.query_csv("SELECT 1; SELECT 2", min_timestamp=past())
        assert raised.value.args[0]["rule"] == "one statement only"
        # The wrapping the server adds is checked too: closing the parenthesis does not escape it.
        with pytest.raises(QueryExecutionError) as raised:
            client.query_json_rows("SELECT 1) UNION ALL (SELECT * FROM read_blob('x')", min_timestamp=past())
        assert raised.value.args[0]["rule"] in {"syntax error", "no file or dynamic-SQL functions"}


@pytest.mark.parametrize(("body", "message"), [
    ({"sql": "SELECT 1", "limit": -1}, "limit must be a non-negative integer"),
    ({"sql": "SELECT 1", "limit": "ten"}, "limit must be a non-negative integer"),
    ({"sql": "SELECT 1", "min_timestamp": "yesterday"}, "min_timestamp must be an ISO 8601 timestamp"),
    ({"sql": "SELECT 1", "max_timestamp": "2024-13-45"}, "max_timestamp must be an ISO 8601 timestamp"),
    ({"sql": "SELECT 1", "deployment_environment": "prod"}, "deployment_environment must be a list"),
    ({"min_timestamp": "2024-01-01T00:00:00Z"}, 'missing "sql"'),
])
def test_v2_query_bad_parameters_are_400(data, body, message):
    server, _, _ = data
    response = httpx.post(f"{server.url}/v2/query", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(message)


def test_logfire_query_client_with_a_token(tmp_path):
    server = start_server(tmp_path / "spyglass.duckdb", "--token", "secret")
    try:
        with LogfireQueryClient(read_token="secret", base_url=server.url) as client:
            assert client.query_json_rows("SELECT 42 AS answer", min_timestamp=past())["rows"] == [{"answer": 42}]
            assert client.info()["project_name"] == "spyglass"
        with LogfireQueryClient(read_token="wrong", base_url=server.url) as client:
            with pytest.raises(UnexpectedResponseError, match="401.*missing or wrong token"):
                client.query_json_rows("SELECT 42 AS answer", min_timestamp=past())
            with pytest.raises(UnexpectedResponseError, match="401"):
                client.query_arrow("SELECT 42 AS answer", min_timestamp=past())
            with pytest.raises(UnexpectedResponseError, match="401"):
                client.info()
    finally:
        server.stop()


def test_ingest_keeps_working_while_a_runaway_query_is_stopped(tmp_path):
    server = start_server(tmp_path / "spyglass.duckdb", "--query-timeout", "3")
    try:
        events: list[str] = []
        answers: list[httpx.Response] = []

        def runaway():
            answers.append(query(server.url, "SELECT count(*) FROM range(100000000) a, range(100000000) b"))
            events.append("runaway query returned")

        thread = threading.Thread(target=runaway)
        thread.start()
        time.sleep(0.3)  # let the query start; the assertions below are on order, not on time
        trace_id = export_trace(server.url, "during runaway", 9, "prod")
        events.append("export acknowledged")
        deadline = time.monotonic() + 30
        while server.stats()["records"] < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        if server.stats()["records"] == 10:
            events.append("spans visible")
        thread.join()

        assert events == ["export acknowledged", "spans visible", "runaway query returned"]
        assert answers[0].status_code == 400
        assert answers[0].json()["rule"] == "time limit"
        assert answers[0].json()["error"].startswith("time limit: stopped after 3 s")
        visible = query(server.url, f"SELECT count(*) FROM records WHERE trace_id = '{trace_id}'").json()
        assert visible["rows"] == [[10]]
    finally:
        server.stop()
