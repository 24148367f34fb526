"""The schema, collector/rows.py and docs/schema.md agree, and every SQL example in the doc works.

The examples run on a database filled by real clients (tests/query/docs_fixture.py: the
opentelemetry-sdk exporters over OTLP/HTTP and gRPC, and the logfire SDK), read-only after the
server has stopped; each one must find exactly what was sent.
"""

import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from collector.rows import METRIC_COLUMNS, METRIC_SCHEMA, RECORD_COLUMNS, RECORD_SCHEMA, metrics_table, records_table
from query.database import open_database
from tests.conftest import ROOT, read_db
from tests.query.docs_fixture import ASSISTANT, CHECKOUT, LOGFIRE_SERVICE, Sent, fill_database, sql_blocks

DOC_PATH = ROOT / "docs" / "schema.md"
DOC = DOC_PATH.read_text()
BLOCKS = sql_blocks(DOC)

# How information_schema names the types that docs/schema.md writes.
DOC_TYPE_NAMES = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}
# Which DuckDB column types each Arrow type of collector/rows.py may be inserted into.
ARROW_TO_DUCKDB = {
    pa.timestamp("us", tz="UTC"): {"TIMESTAMP WITH TIME ZONE"},
    pa.float64(): {"DOUBLE"},
    pa.string(): {"VARCHAR"},
    pa.json_(pa.string()): {"JSON"},  # DuckDB does not parse these again (collector/rows.py)
    pa.uint8(): {"UTINYINT"},
    pa.int64(): {"BIGINT"},
    pa.bool_(): {"BOOLEAN"},
    pa.list_(pa.string()): {"VARCHAR[]"},
    pa.list_(pa.int64()): {"BIGINT[]"},
    pa.list_(pa.float64()): {"DOUBLE[]"},
}


def columns(connection: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return connection.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()


def section(title: str) -> str:
    """The text of one `## ` section of the doc."""
    start = DOC.index(f"\n## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start:] if end == -1 else DOC[start:end]


def documented_columns(text: str) -> list[tuple[str, str]]:
    """(name, type) of every table row like | `name` | TYPE | ... |."""
    rows = re.findall(r"^\| `(\w+)` \| ([A-Z][A-Z0-9]*(?:\[\])?) \|", text, re.M)
    return [(name, DOC_TYPE_NAMES.get(kind, kind)) for name, kind in rows]


# --- schema.sql <-> collector/rows.py -------------------------------------------------------------


def test_tables_and_view_have_the_columns_of_rows_py_in_order(tmp_path):
    connection = open_database(tmp_path / "x.duckdb")
    for table in ("records", "bulk_records", "stored_records", "open_pending_spans"):
        assert [name for name, _ in columns(connection, table)] == list(RECORD_COLUMNS), table
    assert [name for name, _ in columns(connection, "metrics")] == list(METRIC_COLUMNS)
    assert connection.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = 'records'"
    ).fetchone() == ("VIEW",)


def test_each_arrow_type_matches_its_duckdb_column(tmp_path):
    connection = open_database(tmp_path / "x.duckdb")
    for table, schema in (("stored_records", RECORD_SCHEMA), ("metrics", METRIC_SCHEMA)):
        for (name, duckdb_type), arrow_field in zip(columns(connection, table), schema, strict=True):
            assert name == arrow_field.name
            assert duckdb_type in ARROW_TO_DUCKDB[arrow_field.type], (table, name, arrow_field.type, duckdb_type)


def sample_row(schema: pa.Schema, json_columns: set[str]) -> dict:
    """A row with a non-NULL value in every column, at the edges of each type's range."""
    values = {
        pa.timestamp("us", tz="UTC"): datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=timezone.utc),
        pa.float64(): -1.5e300,
        pa.uint8(): 255,
        pa.int64(): 2**63 - 1,
        pa.bool_(): True,
        pa.list_(pa.string()): ["a", "ü", ""],
        pa.list_(pa.int64()): [0, -(2**63), 2**63 - 1],
        pa.list_(pa.float64()): [0.5, math.inf],
    }
    row = {}
    for field in schema:
        if field.name in json_columns:
            row[field.name] = '{"k":[1,"x",null],"nested":{"b":true}}'
        elif field.type == pa.string():
            row[field.name] = f"{field.name} ✓"
        else:
            row[field.name] = values[field.type]
    return row


def test_rows_built_with_the_arrow_schemas_insert_and_read_back_unchanged(tmp_path):
    connection = open_database(tmp_path / "x.duckdb")
    cursor = connection.cursor()
    for table, schema, build in (
        ("bulk_records", RECORD_SCHEMA, records_table),
        ("stored_records", RECORD_SCHEMA, records_table),
        ("open_pending_spans", RECORD_SCHEMA, records_table),
        ("metrics", METRIC_SCHEMA, metrics_table),
    ):
        json_columns = {name for name, kind in columns(connection, table) if kind == "JSON"}
        row = sample_row(schema, json_columns)
        batch = build([row])
        cursor.from_arrow(batch).insert_into(table)  # what collector/writer.py does
        stored = dict(zip(schema.names, cursor.execute(f"SELECT * FROM {table}").fetchall()[0], strict=True))
        for name in json_columns:
            assert json.loads(stored.pop(name)) == json.loads(row.pop(name)), name
        assert stored == row, table
    assert cursor.execute("SELECT count(*) FROM records").fetchone() == (3,)


def test_bulk_records_is_declared_like_stored_records(tmp_path):
    """Same columns, types, NOT NULLs and zstd columns: query/database.py copies the declaration."""
    connection = open_database(tmp_path / "x.duckdb")
    declared = {
        table: connection.execute("SELECT sql FROM duckdb_tables() WHERE table_name = ?", [table]).fetchone()[0]
        for table in ("bulk_records", "stored_records")
    }
    assert declared["bulk_records"] == declared["stored_records"].replace("stored_records", "bulk_records")
    assert declared["bulk_records"].count("USING COMPRESSION ZSTD") == 5


# --- docs/schema.md <-> schema.sql ----------------------------------------------------------------


def test_every_column_is_documented_in_order_with_its_type(tmp_path):
    connection = open_database(tmp_path / "x.duckdb")
    assert documented_columns(section("`records`")) == columns(connection, "records")
    assert documented_columns(section("`metrics`")) == columns(connection, "metrics")
    assert documented_columns(section("`ingested_requests`")) == columns(connection, "ingested_requests")


def test_documented_kinds_are_the_ones_the_decoders_write():
    text = DOC[DOC.index("\n### `kind`\n"):DOC.index("\n### Columns\n")]
    kinds = re.findall(r"^\| `(\w+)` \|", text, re.M)
    assert kinds == ["span", "log", "pending_span", "span_event"]
    collector = ROOT / "collector"
    produced = set(re.findall(r'kind = "(\w+)"', (collector / "spans.py").read_text()))
    produced |= set(re.findall(r'"kind": "(\w+)"', (collector / "logs.py").read_text()))
    assert produced == {"span", "log", "pending_span"}  # span_event is reserved, never written


# --- the SQL in docs/schema.md, on data from real clients -----------------------------------------


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> tuple[Path, Sent]:
    db = tmp_path_factory.mktemp("docs") / "spyglass.duckdb"
    return db, fill_database(db)


def close(value: float, expected: float) -> bool:
    return value == pytest.approx(expected, abs=1e-9)


def check_ingested_requests(rows, sent):
    # every stored row is accounted for; 3 metric exports: two force_flush calls and the shutdown
    assert [(signal, stored, rejected) for signal, _, stored, rejected in rows] == [
        ("logs", 5, 0), ("metrics", 5, 0), ("traces", 16, 0)]
    requests = {signal: count for signal, count, _, _ in rows}
    assert requests["metrics"] == 3 and requests["logs"] >= 1 and requests["traces"] >= 3


def check_levels(rows, sent):
    assert rows == [
        (17, "error", "span", CHECKOUT, "charge card"),
        (17, "error", "log", CHECKOUT, "coupon lookup failed"),
        (13, "warn", "log", CHECKOUT, "payment provider slow"),
    ]


def check_pending(rows, sent):
    # the pending span sits under the real span's id, which the logfire client printed
    assert len(rows) == 1
    service, name, message, started, open_for, trace_id, span_id = rows[0]
    assert (service, name, message) == (LOGFIRE_SERVICE, "nightly export {day}", "nightly export mon")
    assert (trace_id, span_id) == (sent.pending_trace, sent.pending_span)
    assert open_for.total_seconds() > 0


def check_span_events(rows, sent):
    assert len(rows) == 1
    span_name, event, at, exception_type, trace_id, span_id = rows[0]
    assert (span_name, event, exception_type) == ("charge card", "exception", "ValueError")
    assert (trace_id, span_id) == (sent.failed_trace, sent.charge_span)
    assert isinstance(at, datetime) and at.tzinfo is not None


def check_chat_spans_counted(rows, sent):
    assert rows == [("chat gpt-4o", 2)]


def check_first_prompt(rows, sent):
    assert rows == [("chat gpt-4o", "user", "Weather in Paris?")] * 2


def check_tags(rows, sent):
    assert [(message, tags) for _, message, tags in rows] == [("order 7 shipped", ["shipping"])]


def check_epoch_equals_duration(rows, sent):
    assert len(rows) == 14  # 10 checkout spans and 4 assistant spans; no logs, no pending span
    for name, _, seconds, duration in rows:
        assert close(seconds, duration), name
    assert {name for name, *_ in rows} == {
        "GET /orders/{id}", "load order", "SELECT orders", "charge card",
        "invoke_agent support_agent", "chat gpt-4o", "execute_tool get_weather"}


def check_exceptions(rows, sent):
    assert [(service, kind, n, message) for service, kind, n, message, _ in rows] == [
        (CHECKOUT, "KeyError", 1, "coupon"),
        (CHECKOUT, "ValueError", 1, "card declined"),
    ]


def check_slowest(rows, sent):
    expected = [  # span_name, spans, avg, p95, max (the fixture sets every span's times)
        ("GET /orders/{id}", 3, 1.0, 1.0, 1.0),
        ("invoke_agent support_agent", 1, 0.8, 0.8, 0.8),
        ("charge card", 1, 0.4, 0.4, 0.4),
        ("chat gpt-4o", 2, 0.3, 0.3, 0.3),
        ("load order", 3, 0.2, 0.29, 0.3),
        ("SELECT orders", 3, 0.1, 0.145, 0.15),
        ("execute_tool get_weather", 1, 0.04, 0.04, 0.04),
    ]
    assert [row[:2] for row in rows] == [row[:2] for row in expected]
    for row, want in zip(rows, expected):
        assert row[2:] == pytest.approx(want[2:], abs=0.0011), row


def check_http(rows, sent):
    assert rows == [("GET", "/orders/{id}", 200, 3, 1.0)]


def check_parent_child(rows, sent):
    assert sorted(rows) == sorted([
        ("GET /orders/{id}", "charge card", 1, 0.4),
        ("GET /orders/{id}", "load order", 3, 0.2),
        ("invoke_agent support_agent", "chat gpt-4o", 2, 0.375),
        ("invoke_agent support_agent", "execute_tool get_weather", 1, 0.05),
        ("load order", "SELECT orders", 3, 0.5),
    ])


def check_logs_by_level(rows, sent):
    assert rows == [
        (CHECKOUT, 17, "error", 1),
        (CHECKOUT, 13, "warn", 1),
        (CHECKOUT, 9, "info", 3),
        (LOGFIRE_SERVICE, 9, "info", 1),
    ]


def check_spans_per_minute(rows, sent):
    totals: dict[str, list[int]] = {}
    for minute, service, spans, errors in rows:
        assert (minute.second, minute.microsecond) == (0, 0)
        total = totals.setdefault(service, [0, 0])
        total[0] += spans
        total[1] += errors
    assert totals == {CHECKOUT: [10, 1], ASSISTANT: [4, 0]}


def check_tokens_by_model(rows, sent):
    assert len(rows) == 1
    assert rows[0][:4] == ("gpt-4o", 2, 350, 60)
    assert close(rows[0][4], 0.0014)


def check_agent_runs(rows, sent):
    assert [row[1:] for row in rows] == [("support_agent", 0.8, 350, 60, sent.agent_trace)]


def check_counter(rows, sent):
    # cumulative points 2, 3, 3: the total is 3, not their sum
    assert [(name, service, json.loads(attributes), total) for name, service, attributes, total in rows] == [
        ("orders.created", CHECKOUT, {"channel": "web"}, 3.0)]


def check_histogram_summary(rows, sent):
    assert len(rows) == 1
    name, unit, count, average, low, high = rows[0]
    assert (name, unit, count, low, high) == ("http.server.request.duration", "ms", 5, 4.0, 1200.0)
    assert close(average, (4 + 20 + 300 + 300 + 1200) / 5)


def check_histogram_buckets(rows, sent):
    name = "http.server.request.duration"
    assert rows == [(name, 10.0, 1), (name, 100.0, 1), (name, 1000.0, 2), (name, math.inf, 1)]


def check_exemplars(rows, sent):
    assert [(metric, value, span) for metric, value, span, _, _ in rows] == [
        ("http.server.request.duration", value, "GET /orders/{id}") for value in (4.0, 20.0, 300.0, 300.0, 1200.0)
    ] + [("orders.created", value, "GET /orders/{id}") for value in (1.0, 2.0)]
    assert {trace_id for *_, trace_id, _ in rows} == set(sent.request_traces[:2])


CHECKS = {
    "`ingested_requests` #0": check_ingested_requests,
    "Levels are numbers #0": check_levels,
    "Pending spans are in `records` #0": check_pending,
    "Span events #0": check_span_events,
    "JSON operators #0": check_chat_spans_counted,
    "JSON operators #1": check_chat_spans_counted,
    "JSON operators #2": check_first_prompt,
    "JSON operators #3": check_tags,
    "Timestamps #0": check_epoch_equals_duration,
    "Exceptions by type #0": check_exceptions,
    "Slowest spans by name, with p95 #0": check_slowest,
    "HTTP requests by route and status #0": check_http,
    "Parent and child spans #0": check_parent_child,
    "Logs by level per service #0": check_logs_by_level,
    "Spans per service per minute #0": check_spans_per_minute,
    "LLM token usage and cost by model #0": check_tokens_by_model,
    "LLM token usage and cost by model #1": check_agent_runs,
    "Counter totals #0": check_counter,
    "Histogram: count, average, min, max #0": check_histogram_summary,
    "Histogram buckets #0": check_histogram_buckets,
    "From a metric to the spans behind it #0": check_exemplars,
}


def test_every_sql_block_has_a_check():
    assert [block.id for block in BLOCKS] == list(CHECKS)


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_sql_block_finds_what_real_clients_sent(block, filled):
    db, sent = filled
    rows = read_db(db, block.sql)
    CHECKS[block.id](rows, sent)


# What the doc says does NOT work in DuckDB, or works differently from Logfire/Postgres.
FAILING = [
    ("level > 'info'", "SELECT count(*) FROM records WHERE level > 'info'", duckdb.ConversionException),
    ("attributes ? 'key'", "SELECT count(*) FROM records WHERE attributes ? 'key'", duckdb.ParserException),
    ("attributes->'key' IS NOT NULL", "SELECT count(*) FROM records WHERE attributes->'key' IS NOT NULL",
     duckdb.BinderException),
    ("attributes->>'n' > 3", "SELECT count(*) FROM records WHERE attributes->>'n' > 3", duckdb.BinderException),
    ("approx_percentile_cont(x, 0.95)", "SELECT approx_percentile_cont(duration, 0.95) FROM records",
     duckdb.CatalogException),
]


@pytest.mark.parametrize("quoted, sql, error", FAILING, ids=[quoted for quoted, _, _ in FAILING])
def test_what_the_doc_says_fails_does_fail(quoted, sql, error, filled):
    assert f"`{quoted}`" in DOC
    with pytest.raises(error):
        read_db(filled[0], sql)


def test_documented_json_and_time_behaviour(filled):
    db, _ = filled
    with duckdb.connect(str(db), read_only=True) as connection:
        one = lambda sql: connection.execute(sql).fetchone()  # noqa: E731
        # a key with dots is one key; a leading $ makes a path; ->> is NULL for JSON null, -> is not
        assert one("""SELECT j->>'a.b', j->>'$.a.b', j->>'n' IS NULL, (j->'n') IS NOT NULL,
                             json_exists(j, '$."n"'), json_exists(j, '$."a.b"'), (j->>'txt')->0->>'r'
                      FROM (SELECT '{"a.b": 1, "a": {"b": 2}, "n": null, "txt": "[{\\"r\\": 3}]"}'::JSON AS j)""") == (
            "1", "2", True, True, True, True, "3")
        assert one("SELECT extract('seconds' FROM INTERVAL '61.5 seconds'), epoch(INTERVAL '61.5 seconds')") == (1, 61.5)
        assert one("SELECT level_num('WARNING'), level_num('bogus'), level_name(12), level_name(0), level_name(200)") == (
            13, None, "notice", None, "fatal")
        # array functions for tags, other percentile spellings, INTERVAL without quotes
        assert one("""SELECT 'shipping' = ANY(tags), list_contains(tags, 'shipping') FROM records
                      WHERE array_has(tags, 'shipping')""") == (True, True)
        assert one("""SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY duration) = quantile_cont(duration, 0.95),
                             approx_quantile(duration, 0.95) IS NOT NULL, count(*) FILTER (WHERE TRUE)
                      FROM records WHERE span_name = 'load order' AND start_timestamp > now() - INTERVAL 1 HOUR""") == (
            True, True, 3)
        # ORDER BY an alias that shadows a column sorts by the alias (why the levels example renames it)
        assert connection.execute("""SELECT level_name(level) AS level FROM records WHERE level >= 13
                                     ORDER BY level DESC""").fetchall() == [("warn",), ("error",), ("error",)]
        connection.execute("SET TimeZone = 'Asia/Kolkata'")
        assert one("""SELECT date_trunc('hour', t)::VARCHAR, time_bucket(INTERVAL '1 hour', t)::VARCHAR
                      FROM (SELECT TIMESTAMPTZ '2024-01-01 10:37:00+00' AS t)""") == (
            "2024-01-01 16:00:00+05:30", "2024-01-01 15:30:00+05:30")
