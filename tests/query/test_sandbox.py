"""User SQL cannot write, read files, attach databases, install or load extensions, change settings
or run unbounded (query/sandbox.py).

Every hostile query runs through run_query() on a real DuckDB file with the Spyglass schema, hardened
as the server hardens it, and must be refused by the precise rule. After each one the database must
still answer and be exactly as it was: same tables, views, macros, row counts, settings, attached
databases, and no file created anywhere under tmp_path.
"""

import re
import threading
import time
from pathlib import Path

import duckdb
import pytest

from query.database import open_database
from query.sandbox import Limits, QueryRefused, harden_database, run_query

LIMITS = Limits(time_limit_s=1.0, row_limit=5, memory_limit="300MB")

FILES = "no file or dynamic-SQL functions"
STATEMENT = "read-only statements only"
ONE = "one statement only"
READ_ONLY = "read-only transaction"
TIME = "time limit"
MEMORY = "memory limit"
UNVERIFIABLE = "unverifiable query"
SYNTAX = "syntax error"
DATABASE = "database error"
EMPTY = "empty query"

SEED_RECORDS = 12
SEED_METRICS = 3


@pytest.fixture
def sandbox(tmp_path):
    """A fresh database file with some rows, hardened exactly as web/app.py does it."""
    path = tmp_path / "s.duckdb"
    connection = open_database(path)
    connection.execute(
        "INSERT INTO stored_records (start_timestamp, trace_id, span_id, kind, span_name, message, created_at) "
        "SELECT TIMESTAMPTZ '2024-01-01 00:00:00+00' + i * INTERVAL 1 SECOND, 'trace' || (i % 3), 'span' || i, "
        "'span', 'name ' || i, 'message ' || i, now() FROM range(?) t(i)",
        [SEED_RECORDS],
    )
    connection.execute(
        "INSERT INTO metrics (recorded_timestamp, metric_name, metric_type, scalar_value, created_at) "
        "SELECT TIMESTAMPTZ '2024-01-01 00:00:00+00', 'm' || i, 'gauge', i, now() FROM range(?) t(i)",
        [SEED_METRICS],
    )
    connection.execute("INSERT INTO saved_queries VALUES ('mine', 'SELECT 1', now())")
    connection.execute("CHECKPOINT")
    harden_database(connection, LIMITS)
    yield connection, path
    connection.close()


def snapshot(connection: duckdb.DuckDBPyConnection, tmp_path: Path) -> dict:
    """Everything a query might have changed, read through the server's own (unsandboxed) connection."""
    cursor = connection.cursor()
    tables = [r[0] for r in cursor.execute(
        "SELECT table_name FROM duckdb_tables() WHERE NOT internal ORDER BY 1").fetchall()]
    return {
        "tables": tables,
        "views": cursor.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall(),
        "functions": cursor.execute(
            "SELECT function_name FROM duckdb_functions() WHERE NOT internal AND function_type LIKE '%macro' ORDER BY 1"
        ).fetchall(),
        "sequences": cursor.execute("SELECT sequence_name FROM duckdb_sequences()").fetchall(),
        "rows": {t: cursor.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables},
        "saved": cursor.execute("SELECT name, sql FROM saved_queries ORDER BY name").fetchall(),
        "databases": cursor.execute("SELECT database_name FROM duckdb_databases() ORDER BY 1").fetchall(),
        "settings": cursor.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', "
            "'lock_configuration', 'memory_limit', 'threads', 'max_temp_directory_size', 'enable_logging', "
            "'enable_profiling', 'allowed_paths', 'allowed_directories') ORDER BY 1").fetchall(),
        "variables": cursor.execute("SELECT name FROM duckdb_variables()").fetchall(),
        "files": files_under(tmp_path),
    }


SPILL_OWNER = re.compile(r"s\.duckdb\.tmp/duckdb_temp_\d+_\d+_owner")


def files_under(root: Path) -> list[str]:
    """Regular files below root. DuckDB's spill directory (s.duckdb.tmp) may exist and hold its empty
    owner marker while the database is open; spilled data must be gone once the query has ended."""
    files = []
    for path in root.rglob("*"):
        name = str(path.relative_to(root))
        if not path.is_file():
            continue
        if SPILL_OWNER.fullmatch(name) and path.stat().st_size == 0:
            continue
        files.append(name)
    return sorted(files)


# (id, sql, rule, fragment of the message). $DB and $WAL are the real database file and its WAL,
# $TMP is the test's directory (where a write would land if one slipped through).
HOSTILE = [
    # Reading files: the issue's list, then the same call dressed up.
    ("read_csv etc passwd", "SELECT * FROM read_csv('/etc/passwd')", FILES, "read_csv() is not allowed"),
    ("read_csv_auto", "SELECT * FROM read_csv_auto('/etc/passwd')", FILES, "read_csv_auto() is not allowed"),
    ("read_text db file", "SELECT * FROM read_text('$DB')", FILES, "read_text() is not allowed"),
    ("read_text wal", "SELECT * FROM read_text('$WAL')", FILES, "read_text() is not allowed"),
    ("read_blob db file", "SELECT * FROM read_blob('$DB')", FILES, "read_blob() is not allowed"),
    ("read_blob wal", "SELECT content FROM read_blob('$WAL')", FILES, "read_blob() is not allowed"),
    ("read_blob list", "SELECT * FROM read_blob(['$DB', '$WAL'])", FILES, "read_blob() is not allowed"),
    ("read_text computed path", "SELECT * FROM read_text('/etc/pass' || 'wd')", FILES, "read_text() is not allowed"),
    ("glob", "SELECT * FROM glob('$TMP/*')", FILES, "glob() is not allowed"),
    ("glob root", "SELECT file FROM glob('/*')", FILES, "glob() is not allowed"),
    ("read_parquet", "SELECT * FROM read_parquet('$TMP/x.parquet')", FILES, "read_parquet() is not allowed"),
    ("parquet_scan", "SELECT * FROM parquet_scan('$TMP/x.parquet')", FILES, "parquet_scan() is not allowed"),
    ("parquet_metadata", "SELECT * FROM parquet_metadata('/etc/passwd')", FILES, "parquet_metadata() is not allowed"),
    ("read_json", "SELECT * FROM read_json('/etc/passwd')", FILES, "read_json() is not allowed"),
    ("read_ndjson_objects", "SELECT * FROM read_ndjson_objects('/etc/passwd')", FILES, "read_ndjson_objects() is not allowed"),
    ("sniff_csv", "SELECT * FROM sniff_csv('/etc/passwd')", FILES, "sniff_csv() is not allowed"),
    ("read_duckdb", "SELECT * FROM read_duckdb('$DB')", FILES, "read_duckdb() is not allowed"),
    ("read_single_csv_file", "SELECT * FROM read_single_csv_file('/etc/passwd')", FILES, "read_single_csv_file() is not allowed"),
    ("getenv", "SELECT getenv('HOME')", FILES, "getenv() is not allowed"),
    ("duckdb_secrets", "SELECT * FROM duckdb_secrets()", FILES, "duckdb_secrets() is not allowed"),
    ("quoted name", "SELECT * FROM \"read_csv\"('/etc/passwd')", FILES, "read_csv() is not allowed"),
    ("quoted upper name", "SELECT * FROM \"READ_TEXT\"('/etc/passwd')", FILES, "read_text() is not allowed"),
    ("schema qualified", "SELECT * FROM main.read_csv('/etc/passwd')", FILES, "read_csv() is not allowed"),
    ("catalog qualified", "SELECT * FROM system.main.read_text('/etc/passwd')", FILES, "read_text() is not allowed"),
    ("mixed case", "select * FROM ReAd_CsV('/etc/passwd')", FILES, "read_csv() is not allowed"),
    ("comment before paren", "SELECT * FROM read_text /* x */ ('/etc/passwd')", FILES, "read_text() is not allowed"),
    ("from first", "FROM read_text('/etc/passwd')", FILES, "read_text() is not allowed"),
    ("in subquery", "SELECT * FROM (SELECT * FROM read_csv('/etc/passwd'))", FILES, "read_csv() is not allowed"),
    ("in cte", "WITH x AS (SELECT * FROM read_text('$DB')) SELECT * FROM x", FILES, "read_text() is not allowed"),
    ("in materialized cte", "WITH x AS MATERIALIZED (FROM read_blob('$WAL')) FROM x", FILES, "read_blob() is not allowed"),
    ("in lateral", "SELECT * FROM saved_queries, LATERAL (SELECT * FROM read_text(name))", FILES, "read_text() is not allowed"),
    ("in scalar subquery", "SELECT (SELECT content FROM read_text('/etc/passwd'))", FILES, "read_text() is not allowed"),
    ("in exists", "SELECT 1 WHERE EXISTS (FROM read_text('/etc/passwd'))", FILES, "read_text() is not allowed"),
    ("in where in", "SELECT * FROM saved_queries WHERE name IN (SELECT content FROM read_text('/etc/passwd'))",
     FILES, "read_text() is not allowed"),
    ("in union", "SELECT 'x' UNION ALL SELECT content FROM read_text('$DB')", FILES, "read_text() is not allowed"),
    ("explain", "EXPLAIN SELECT * FROM read_csv('/etc/passwd')", FILES, "read_csv() is not allowed"),
    ("explain analyze", "EXPLAIN ANALYZE SELECT * FROM read_blob('$DB')", FILES, "read_blob() is not allowed"),
    ("explain analyse lower, comment first", "/* hi */ explain   analyse SELECT * FROM read_text('$WAL')",
     FILES, "read_text() is not allowed"),
    ("describe select", "DESCRIBE SELECT * FROM read_csv('/etc/passwd')", FILES, "read_csv() is not allowed"),
    ("describe from", "DESCRIBE FROM read_blob('$DB')", FILES, "read_blob() is not allowed"),
    ("summarize select", "SUMMARIZE SELECT * FROM read_blob('$DB')", FILES, "read_blob() is not allowed"),
    ("summarize from", "SUMMARIZE FROM read_text('/etc/passwd')", FILES, "read_text() is not allowed"),
    ("show select", "SHOW SELECT * FROM read_blob('$DB')", FILES, "read_blob() is not allowed"),
    ("ideographic spaces", "SELECT\u3000*\u3000FROM\u3000read_csv('/etc/passwd')", FILES, "read_csv() is not allowed"),
    ("zero width space", "SELECT * FROM read_csv\u200b('/etc/passwd')", FILES, "read_csv() is not allowed"),
    ("tabs and newlines", "SELECT\t*\nFROM\r\nread_text\n(\n'/etc/passwd'\n)", FILES, "read_text() is not allowed"),
    # A quoted path as a table name is a file read (DuckDB's replacement scans).
    ("replacement scan etc passwd", "SELECT * FROM '/etc/passwd'", FILES, "FROM '/etc/passwd' reads a file"),
    ("replacement scan csv", "SELECT * FROM 'data.csv'", FILES, "FROM 'data.csv' reads a file"),
    ("replacement scan db file", "SELECT * FROM '$DB'", FILES, "reads a file"),
    ("replacement scan wal, double quotes", "SELECT * FROM \"$WAL\"", FILES, "reads a file"),
    ("replacement scan in join", "SELECT * FROM records JOIN 'x.parquet' USING (trace_id)", FILES,
     "FROM 'x.parquet' reads a file"),
    # SQL given as a string.
    ("query()", "SELECT * FROM query('DROP TABLE saved_queries')", FILES, "query() is not allowed"),
    ("QUERY() upper", "SELECT * FROM QUERY('SELECT 1')", FILES, "query() is not allowed"),
    ("main.query()", "SELECT * FROM main.query('SELECT 1')", FILES, "query() is not allowed"),
    ("query_table", "SELECT * FROM query_table('saved_queries')", FILES, "query_table() is not allowed"),
    ("query_table list", "SELECT * FROM query_table(['saved_queries', 'metrics'])", FILES, "query_table() is not allowed"),
    ("json_execute_serialized_sql read_blob",
     "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT * FROM read_blob(''$WAL'')'))",
     FILES, "json_execute_serialized_sql() is not allowed"),
    ("json_execute_serialized_sql delete",
     "SELECT * FROM json_execute_serialized_sql(json_serialize_sql("
     "'WITH d AS (DELETE FROM saved_queries RETURNING *) SELECT * FROM d'))",
     FILES, "json_execute_serialized_sql() is not allowed"),
    ("json_execute_serialized_sql runaway",
     "SELECT * FROM json_execute_serialized_sql(json_serialize_sql("
     "'SELECT count(*) FROM range(100000000) a, range(100000000) b'))",
     FILES, "json_execute_serialized_sql() is not allowed"),
    # Writing files, attaching, extensions.
    ("copy table to", "COPY stored_records TO '$TMP/out.csv'", STATEMENT, "COPY is not allowed"),
    ("copy select to", "COPY (SELECT * FROM saved_queries) TO '$TMP/out.parquet' (FORMAT parquet)",
     STATEMENT, "COPY is not allowed"),
    ("copy from", "COPY saved_queries FROM '/etc/passwd'", STATEMENT, "COPY is not allowed"),
    ("copy from database", "COPY FROM DATABASE s TO other", STATEMENT, "is not allowed"),
    ("export database", "EXPORT DATABASE '$TMP/export'", STATEMENT, "EXPORT is not allowed"),
    ("export database parquet", "EXPORT DATABASE '$TMP/export' (FORMAT parquet)", STATEMENT, "EXPORT is not allowed"),
    ("import database", "IMPORT DATABASE '$TMP'", STATEMENT, "is not allowed"),
    ("attach file", "ATTACH '$TMP/other.duckdb' AS other", STATEMENT, "ATTACH is not allowed"),
    ("attach memory", "ATTACH IF NOT EXISTS ':memory:' AS m", STATEMENT, "ATTACH is not allowed"),
    ("detach", "DETACH s", STATEMENT, "DETACH is not allowed"),
    ("use", "USE system", STATEMENT, "is not allowed"),
    ("install", "INSTALL httpfs", STATEMENT, "is not allowed"),
    ("force install from", "FORCE INSTALL httpfs FROM 'http://127.0.0.1:9/x'", STATEMENT, "is not allowed"),
    ("load", "LOAD httpfs", STATEMENT, "LOAD is not allowed"),
    ("load path", "LOAD '$TMP/evil.duckdb_extension'", STATEMENT, "LOAD is not allowed"),
    ("update extensions", "UPDATE EXTENSIONS", STATEMENT, "UPDATE EXTENSIONS is not allowed"),
    # Settings.
    ("set memory", "SET memory_limit = '100GB'", STATEMENT, "SET is not allowed"),
    ("set external access", "SET enable_external_access = true", STATEMENT, "SET is not allowed"),
    ("unlock configuration", "SET lock_configuration = false", STATEMENT, "SET is not allowed"),
    ("set global", "SET GLOBAL threads = 64", STATEMENT, "SET is not allowed"),
    ("reset", "RESET memory_limit", STATEMENT, "SET is not allowed"),
    ("set variable", "SET VARIABLE x = 1", STATEMENT, "SET is not allowed"),
    ("reset variable", "RESET VARIABLE x", STATEMENT, "SET is not allowed"),
    ("pragma setting", "PRAGMA memory_limit = '10GB'", STATEMENT, "is not allowed"),
    ("pragma call", "PRAGMA enable_profiling", STATEMENT, "PRAGMA is not allowed"),
    ("pragma table_info", "PRAGMA table_info('records')", STATEMENT, "PRAGMA is not allowed"),
    ("enable_logging()", "SELECT * FROM enable_logging()", FILES, "enable_logging() is not an allowed table function"),
    ("enable_profiling()", "SELECT * FROM enable_profiling()", FILES, "enable_profiling() is not an allowed table function"),
    ("write_log()", "SELECT * FROM write_log('x')", FILES, "is not an allowed table function"),
    # Writing the database.
    ("create table", "CREATE TABLE x (a INT)", STATEMENT, "CREATE is not allowed"),
    ("create temp table", "CREATE TEMP TABLE t AS SELECT 1", STATEMENT, "CREATE is not allowed"),
    ("create macro", "CREATE MACRO m() AS 1", STATEMENT, "CREATE is not allowed"),
    ("create table macro", "CREATE TEMP MACRO m(a) AS TABLE SELECT * FROM read_text(a)", STATEMENT, "CREATE is not allowed"),
    ("create view", "CREATE VIEW v AS SELECT 1", STATEMENT, "CREATE is not allowed"),
    ("replace records view", "CREATE OR REPLACE VIEW records AS SELECT 1 AS x", STATEMENT, "CREATE is not allowed"),
    ("create secret", "CREATE SECRET (TYPE s3, KEY_ID 'k', SECRET 's')", STATEMENT, "CREATE is not allowed"),
    ("create sequence", "CREATE SEQUENCE seq", STATEMENT, "CREATE is not allowed"),
    ("alter", "ALTER TABLE saved_queries ADD COLUMN x INT", STATEMENT, "ALTER is not allowed"),
    ("drop table", "DROP TABLE saved_queries", STATEMENT, "DROP is not allowed"),
    ("drop view", "DROP VIEW records", STATEMENT, "DROP is not allowed"),
    ("delete", "DELETE FROM stored_records", STATEMENT, "DELETE is not allowed"),
    ("truncate", "TRUNCATE saved_queries", STATEMENT, "is not allowed"),
    ("update", "UPDATE saved_queries SET sql = 'x'", STATEMENT, "UPDATE is not allowed"),
    ("insert", "INSERT INTO saved_queries VALUES ('b', 'x', now())", STATEMENT, "INSERT is not allowed"),
    ("insert or replace", "INSERT OR REPLACE INTO saved_queries VALUES ('mine', 'x', now())", STATEMENT, "INSERT is not allowed"),
    ("merge", "MERGE INTO saved_queries USING (SELECT 'mine' AS name) s ON saved_queries.name = s.name "
     "WHEN MATCHED THEN DELETE", STATEMENT, "is not allowed"),
    ("checkpoint", "CHECKPOINT", STATEMENT, "is not allowed"),
    ("force checkpoint", "FORCE CHECKPOINT", STATEMENT, "is not allowed"),
    ("checkpoint()", "SELECT * FROM checkpoint()", FILES, "checkpoint() is not allowed"),
    ("force_checkpoint()", "SELECT * FROM force_checkpoint()", FILES, "force_checkpoint() is not allowed"),
    ("vacuum", "VACUUM", STATEMENT, "VACUUM is not allowed"),
    ("vacuum analyze", "VACUUM ANALYZE saved_queries", STATEMENT, "VACUUM is not allowed"),
    ("begin", "BEGIN TRANSACTION", STATEMENT, "TRANSACTION is not allowed"),
    ("commit", "COMMIT", STATEMENT, "TRANSACTION is not allowed"),
    ("rollback", "ROLLBACK", STATEMENT, "TRANSACTION is not allowed"),
    ("call", "CALL pragma_table_info('records')", STATEMENT, "CALL is not allowed"),
    ("call checkpoint", "CALL checkpoint()", STATEMENT, "CALL is not allowed"),
    ("prepare", "PREPARE p AS SELECT 1", STATEMENT, "PREPARE is not allowed"),
    ("execute", "EXECUTE p", STATEMENT, "EXECUTE is not allowed"),
    ("pivot (multi statement)", "PIVOT saved_queries ON name USING count(*)", STATEMENT, "MULTI is not allowed"),
    ("comment then drop", "/* SELECT */ DROP TABLE saved_queries", STATEMENT, "DROP is not allowed"),
    ("line comment then delete", "-- SELECT\nDELETE FROM saved_queries", STATEMENT, "DELETE is not allowed"),
    ("explain delete", "EXPLAIN DELETE FROM saved_queries", UNVERIFIABLE, "Only SELECT statements"),
    ("explain analyze copy", "EXPLAIN ANALYZE COPY saved_queries TO '$TMP/x.csv'", UNVERIFIABLE, "Only SELECT statements"),
    ("explain analyze create", "EXPLAIN ANALYZE CREATE TABLE y AS SELECT 1", UNVERIFIABLE, "Only SELECT statements"),
    # A data-modifying CTE parses as a SELECT: the read-only transaction stops it.
    ("delete in cte", "WITH d AS (DELETE FROM saved_queries RETURNING *) SELECT * FROM d", READ_ONLY, "read-only mode"),
    ("insert in cte", "WITH d AS (INSERT INTO saved_queries VALUES ('z', 'x', now()) RETURNING *) SELECT * FROM d",
     READ_ONLY, "read-only mode"),
    ("update in cte", "WITH d AS (UPDATE saved_queries SET sql = 'y' RETURNING *) SELECT * FROM d", READ_ONLY, "read-only mode"),
    # One statement only.
    ("two statements", "SELECT 1; SELECT 2", ONE, "found 2 statements"),
    ("select then drop", "SELECT 1;DROP TABLE saved_queries", ONE, "found 2 statements"),
    ("no-break space before drop", "SELECT 1;\u00a0DROP TABLE saved_queries", ONE, "found 2 statements"),
    ("comment hides nothing", "SELECT 1 -- comment\n; DROP TABLE saved_queries", ONE, "found 2 statements"),
    ("block comment between", "SELECT 1; /* x */ DROP TABLE saved_queries", ONE, "found 2 statements"),
    ("three statements", "SELECT 1; SELECT 2; SELECT 3", ONE, "found 3 statements"),
    ("only a semicolon", ";", ONE, "found 0 statements"),
    ("only a comment", "   -- nothing", ONE, "found 0 statements"),
    ("empty", "", EMPTY, "write a SELECT statement"),
    ("blank", " \n\t ", EMPTY, "write a SELECT statement"),
    ("syntax", "SELEC 1", SYNTAX, "syntax error"),
    ("describe a table function", "DESCRIBE read_csv('/etc/passwd')", SYNTAX, "syntax error"),
    ("fullwidth letters are another name", "SELECT * FROM ｒｅａｄ_csv('/etc/passwd')", FILES, "is not an allowed table function"),
    # Running unbounded.
    ("infinite recursive cte", "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t",
     TIME, "stopped after 1 s"),
    ("huge cross join", "SELECT count(*) FROM range(100000000) a, range(100000000) b", TIME, "stopped after 1 s"),
    ("explain analyze cross join", "EXPLAIN ANALYZE SELECT count(*) FROM range(100000000) a, range(100000000) b",
     TIME, "stopped after 1 s"),
    ("sleep", "SELECT sleep_ms(600000)", TIME, "stopped after 1 s"),
    ("sort that spills", "SELECT * FROM range(300000000) ORDER BY random()", TIME, "stopped after 1 s"),
    ("memory bomb list", "SELECT list(repeat('x', 1000000)) FROM range(10000)", MEMORY, "needed more than 300MB"),
    ("memory bomb string_agg", "SELECT string_agg(repeat('x', 100000), '') FROM range(100000)", MEMORY,
     "needed more than 300MB"),
]


@pytest.mark.parametrize(("sql", "rule", "fragment"), [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE])
def test_hostile_query_is_refused_by_its_rule_and_changes_nothing(sandbox, tmp_path, sql, rule, fragment):
    connection, path = sandbox
    sql = sql.replace("$DB", str(path)).replace("$WAL", f"{path}.wal").replace("$TMP", str(tmp_path))
    before = snapshot(connection, tmp_path)

    with pytest.raises(QueryRefused) as refused:
        run_query(connection, sql, LIMITS)

    assert (refused.value.rule, fragment in refused.value.message) == (rule, True), refused.value.message
    assert str(refused.value).startswith(f"{rule}: ")
    assert "root:" not in refused.value.message  # nothing of /etc/passwd leaks into the error
    assert snapshot(connection, tmp_path) == before
    # The database still answers, through the sandbox and to the writer.
    assert run_query(connection, "SELECT count(*) AS n FROM records", LIMITS).table.to_pylist() == [{"n": SEED_RECORDS}]
    connection.cursor().execute("INSERT INTO saved_queries VALUES ('after', 'SELECT 2', now())")
    assert connection.cursor().execute("SELECT count(*) FROM saved_queries").fetchone()[0] == 2


def test_every_issue_item_is_in_the_hostile_table():
    """The issue's list, item by item: each has at least one case above."""
    sqls = [case[1] for case in HOSTILE]
    required = [
        "read_csv('/etc/passwd')", "read_blob('$DB')", "read_text('$DB')", "read_blob('$WAL')", "read_text('$WAL')",
        "glob(", "COPY stored_records TO", "COPY (SELECT", "EXPORT DATABASE", "ATTACH", "INSTALL", "LOAD",
        "SET ", "PRAGMA", "RESET", "CREATE", "DROP", "DELETE", "CHECKPOINT", "SELECT 1; SELECT 2", "/*", "--",
        "ReAd_CsV", "query('", "WITH RECURSIVE", "range(100000000) a, range(100000000) b", "repeat('x', 1000000)",
        "VACUUM", "DETACH", "USE ", "BEGIN", "COMMIT", "CALL", "SET VARIABLE", "CREATE MACRO", "PIVOT", "UPDATE",
        "INSERT", "EXPLAIN ANALYZE", "DESCRIBE", "LATERAL", "main.read_csv", '"read_csv"', "\u3000",
    ]
    missing = [item for item in required if not any(item in sql for sql in sqls)]
    assert missing == []


def test_external_access_is_off_and_configuration_locked_for_any_function(sandbox):
    """Layer 3 holds even for a call the name check would not know: the hardened instance itself refuses."""
    connection, path = sandbox
    result = run_query(
        connection,
        "SELECT current_setting('enable_external_access') AS external, current_setting('lock_configuration') AS locked, "
        "current_setting('memory_limit') AS memory",
        LIMITS,
    )
    row = result.table.to_pylist()[0]
    assert (row["external"], row["locked"]) == (False, True)
    assert row["memory"].replace(" ", "") in {"286.1MiB", "300.0MB", "300MB"}

    # The raw connection (no check()): file access, attaching and settings are refused by DuckDB itself.
    cursor = connection.cursor()
    with pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
        cursor.execute("SELECT * FROM read_text('/etc/passwd')")
    with pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
        cursor.execute(f"COPY saved_queries TO '{path.parent / 'out.csv'}'")
    with pytest.raises(duckdb.Error, match="disabled|locked"):
        cursor.execute(f"ATTACH '{path.parent / 'other.duckdb'}' AS other")
    with pytest.raises(duckdb.Error, match="disabled|locked"):
        cursor.execute("INSTALL httpfs")
    with pytest.raises(duckdb.Error, match="configuration has been locked"):
        cursor.execute("SET enable_external_access = true")
    with pytest.raises(duckdb.Error, match="configuration has been locked"):
        cursor.execute("SET memory_limit = '100GB'")
    assert not (path.parent / "out.csv").exists() and not (path.parent / "other.duckdb").exists()


def test_default_limits_are_the_issues():
    assert Limits() == Limits(time_limit_s=5.0, row_limit=10_000, memory_limit="4GB")


ALLOWED = [
    ("select", "SELECT span_name FROM records ORDER BY span_id LIMIT 2", ["span_name"], [["name 0"], ["name 1"]]),
    ("with", "WITH t AS (SELECT count(*) AS n FROM records) SELECT n FROM t", ["n"], [[SEED_RECORDS]]),
    ("from first", "FROM saved_queries SELECT name", ["name"], [["mine"]]),
    ("values", "VALUES (1, 'a'), (2, 'b')", ["col0", "col1"], [[1, "a"], [2, "b"]]),
    ("metrics", "SELECT metric_name, scalar_value FROM metrics ORDER BY 1", ["metric_name", "scalar_value"],
     [["m0", 0.0], ["m1", 1.0], ["m2", 2.0]]),
    ("group by", "SELECT trace_id, count(*) AS n FROM records GROUP BY ALL ORDER BY 1", ["trace_id", "n"],
     [["trace0", 4], ["trace1", 4], ["trace2", 4]]),
    ("macro", "SELECT level_name(9) AS a, level_num('warn') AS b", ["a", "b"], [["info", 13]]),
    ("unpivot", "UNPIVOT (SELECT 1 AS a, 2 AS b) ON a, b", ["name", "value"], [["a", 1], ["b", 2]]),
    ("trailing semicolon", "SELECT 1 AS x;", ["x"], [[1]]),
    ("trailing semicolon and comment", "SELECT 1 AS x; --", ["x"], [[1]]),
    ("trailing comment", "SELECT 1 AS x -- ; DROP TABLE saved_queries", ["x"], [[1]]),
    ("semicolon in a string", "SELECT '; DROP TABLE saved_queries' AS s", ["s"], [["; DROP TABLE saved_queries"]]),
    ("no-break space", "SELECT\u00a01 AS x", ["x"], [[1]]),
    ("catalog functions", "SELECT table_name FROM duckdb_tables() WHERE table_name = 'saved_queries'",
     ["table_name"], [["saved_queries"]]),
]


@pytest.mark.parametrize(("sql", "columns", "rows"), [c[1:] for c in ALLOWED], ids=[c[0] for c in ALLOWED])
def test_read_only_queries_run(sandbox, sql, columns, rows):
    connection, _ = sandbox
    result = run_query(connection, sql, Limits(1.0, 100, "300MB"))
    assert result.columns == columns
    assert [list(r.values()) for r in result.table.to_pylist()] == rows
    assert result.truncated is False
    assert result.elapsed_ms >= 0


def test_describe_summarize_explain_and_show_run(sandbox):
    connection, _ = sandbox
    limits = Limits(1.0, 1000, "300MB")
    record_columns = [r[0] for r in connection.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'records' ORDER BY column_index").fetchall()]
    assert record_columns[:3] == ["start_timestamp", "end_timestamp", "duration"]

    described = run_query(connection, "DESCRIBE records", limits).table
    assert described.column("column_name").to_pylist() == record_columns
    shown = run_query(connection, "SHOW records", limits).table
    assert shown.column("column_name").to_pylist() == record_columns

    summary = run_query(connection, "SUMMARIZE saved_queries", limits).table
    assert summary.column("column_name").to_pylist() == ["name", "sql", "saved_at"]
    assert summary.column("count").to_pylist() == [1, 1, 1]

    explain = run_query(connection, "EXPLAIN SELECT * FROM records", limits).table
    assert explain.column("explain_key").to_pylist() == ["physical_plan"]
    assert "stored_records" in explain.column("explain_value")[0].as_py()
    analyzed = run_query(connection, "EXPLAIN ANALYZE SELECT count(*) FROM records", limits).table
    assert analyzed.column("explain_key").to_pylist() == ["analyzed_plan"]

    tables = run_query(connection, "SHOW TABLES", limits).table.column("name").to_pylist()
    assert {"records", "metrics", "stored_records", "saved_queries"} <= set(tables)


@pytest.mark.parametrize(
    ("available", "row_limit", "rows", "truncated"),
    [(4, 5, 4, False), (5, 5, 5, False), (6, 5, 5, True), (10_000_000, 5, 5, True), (250_000, 150_000, 150_000, True),
     (150_000, 150_000, 150_000, False)],
)
def test_row_limit_truncates_exactly(sandbox, available, row_limit, rows, truncated):
    connection, _ = sandbox
    result = run_query(connection, f"SELECT range AS i FROM range({available})", Limits(5.0, row_limit, "300MB"))
    assert (result.table.num_rows, result.truncated) == (rows, truncated)
    assert result.table.column("i").to_pylist() == list(range(rows))


def test_time_and_memory_limits_are_configurable(sandbox):
    connection, _ = sandbox
    with pytest.raises(QueryRefused) as refused:
        run_query(connection, "SELECT sleep_ms(600000)", Limits(0.3, 5, "300MB"))
    assert (refused.value.rule, refused.value.message.startswith("stopped after 0.3 s")) == (TIME, True)
    # The memory limit is the instance's (harden_database); the message names the configured one.
    with pytest.raises(QueryRefused) as refused:
        run_query(connection, "SELECT list(repeat('x', 1000000)) FROM range(10000)", LIMITS)
    assert refused.value.rule == MEMORY and "300MB" in refused.value.message


def test_a_query_under_the_time_limit_is_not_stopped(sandbox):
    connection, _ = sandbox
    result = run_query(connection, "SELECT sleep_ms(50) AS slept", LIMITS)
    assert result.table.to_pylist() == [{"slept": None}]


def test_writer_commits_while_a_runaway_query_runs(sandbox):
    """In-process version of "ingest keeps working while a runaway query is being stopped"."""
    connection, _ = sandbox
    events: list[str] = []
    outcome: list[BaseException] = []

    def runaway():
        try:
            run_query(connection, "SELECT count(*) FROM range(100000000) a, range(100000000) b", Limits(3.0, 5, "300MB"))
        except QueryRefused as refused:
            outcome.append(refused)
        events.append("runaway returned")

    thread = threading.Thread(target=runaway)
    thread.start()
    time.sleep(0.3)  # let the runaway get going; the assertion is on order, not on time
    writer = connection.cursor()
    writer.execute("BEGIN")
    writer.execute(
        "INSERT INTO stored_records (start_timestamp, trace_id, span_id, kind, created_at) "
        "SELECT now(), 'during', 'span' || i, 'span', now() FROM range(100) t(i)")
    writer.execute("COMMIT")
    events.append("writer committed")
    thread.join()

    assert events == ["writer committed", "runaway returned"]
    assert [r.rule for r in outcome] == [TIME]
    assert connection.execute("SELECT count(*) FROM stored_records WHERE trace_id = 'during'").fetchone()[0] == 100


def test_spill_files_of_a_stopped_query_are_removed(sandbox, tmp_path):
    """A sort bigger than the memory limit spills to s.duckdb.tmp; once stopped, the spill is deleted."""
    connection, _ = sandbox
    spill = tmp_path / "s.duckdb.tmp"
    largest = [0]
    done = threading.Event()

    def watch():
        while not done.is_set():
            try:
                largest[0] = max(largest[0], sum(f.stat().st_size for f in spill.iterdir()))
            except FileNotFoundError:  # not created yet, or a spill file deleted while we looked
                pass
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with pytest.raises(QueryRefused) as refused:
            run_query(connection, "SELECT range, repeat('x', 200) AS pad FROM range(300000000) ORDER BY random()",
                      Limits(3.0, 5, "300MB"))
    finally:
        done.set()
        watcher.join()
    assert refused.value.rule == TIME
    assert largest[0] > 0, "the query should have spilled (otherwise this test proves nothing)"
    assert files_under(tmp_path) == sorted(f for f in ["s.duckdb", "s.duckdb.wal"] if (tmp_path / f).exists())
    assert [f.stat().st_size for f in spill.iterdir()] in ([], [0])  # at most DuckDB's empty owner marker
