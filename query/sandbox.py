"""User SQL, run so that it cannot harm the server.

Layers, each enough on its own for some attacks and together for all the ones we know:
1. Parse first (DuckDB's own parser): exactly one statement, of type SELECT (which covers WITH,
   FROM-first, VALUES, DESCRIBE, SUMMARIZE, SHOW) or EXPLAIN.
2. Walk the parse tree (json_serialize_sql) for function calls: file readers, `query()` and
   friends are refused by name, so the error says exactly what was stopped.
3. The database instance runs with external access off and its configuration locked
   (`harden_database`), so even a function this list misses cannot touch files, attach databases,
   install or load extensions, or change settings.
4. Each query runs in a READ ONLY transaction on its own cursor, under a time limit (the cursor is
   interrupted), a row limit (rows are streamed and the rest never fetched) and the database's
   memory limit.
"""

import json
import re
import threading
import time
from dataclasses import dataclass

import duckdb
import pyarrow as pa

ALLOWED_STATEMENTS = {"SELECT", "EXPLAIN"}

# Functions that read files or run SQL given as a string. External access is off anyway; naming
# them here gives a precise refusal instead of a permission error, and covers the database's own
# files, which DuckDB still lets read_blob/read_text open.
FORBIDDEN_FUNCTIONS = {
    "query", "query_table", "glob", "getenv", "read_blob", "read_text", "read_csv", "read_csv_auto",
    "read_json", "read_json_auto", "read_json_objects", "read_json_objects_auto", "read_ndjson",
    "read_ndjson_auto", "read_ndjson_objects", "read_parquet", "parquet_scan", "parquet_metadata",
    "parquet_schema", "parquet_file_metadata", "parquet_kv_metadata", "parquet_bloom_probe",
    "sniff_csv", "read_xlsx", "checkpoint", "force_checkpoint", "load_extension", "install_extension",
    "duckdb_secrets", "which_secret", "iceberg_scan", "delta_scan", "sqlite_scan", "postgres_scan",
    "postgres_query", "mysql_scan", "mysql_query", "read_avro", "read_duckdb",
    # Runs a serialized SELECT on a connection of its own: outside the read-only transaction and
    # the interrupt, and hidden from this walk (its SQL is a string).
    "json_execute_serialized_sql",
}
FORBIDDEN_PREFIXES = ("read_", "parquet_", "sqlite_", "postgres_", "mysql_", "iceberg_", "delta_", "json_execute_")
# Table functions are where files and dynamic SQL hide, so they are allowed by name; anything new
# in a later DuckDB is refused until it is added here.
ALLOWED_TABLE_FUNCTIONS = {
    "range", "generate_series", "unnest", "json_each", "json_tree", "repeat", "repeat_row",
    "duckdb_tables", "duckdb_views", "duckdb_columns", "duckdb_functions", "duckdb_types", "duckdb_schemas",
    "duckdb_constraints", "duckdb_indexes", "duckdb_keywords", "duckdb_databases",
    "pragma_table_info", "pragma_show", "pragma_storage_info", "pragma_database_size", "pragma_version",
    "test_all_types",
}
# `FROM '/etc/passwd'` or `FROM "data.csv"`: a quoted table name that DuckDB would hand to a file
# reader (a replacement scan). Spyglass table names never contain these characters.
_FILE_LIKE_TABLE = re.compile(r"[/\\.:]")

_EXPLAIN_PREFIX = re.compile(r"^(?:\s|--[^\n]*(?:\n|$)|/\*.*?\*/)*EXPLAIN(?:\s+ANALY[SZ]E)?\b", re.I | re.S)


@dataclass(frozen=True)
class Limits:
    """How much one query may use. Built from the server's settings."""

    time_limit_s: float = 5.0
    row_limit: int = 10_000
    memory_limit: str = "4GB"


class QueryRefused(Exception):
    """The query was not run, or was stopped. `rule` names what stopped it."""

    def __init__(self, rule: str, message: str):
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message


@dataclass
class QueryResult:
    table: pa.Table
    truncated: bool
    elapsed_ms: float

    @property
    def columns(self) -> list[str]:
        return self.table.column_names


def harden_database(connection: duckdb.DuckDBPyConnection, limits: Limits) -> None:
    """Apply the instance-wide settings, then lock them. Call once, after the schema exists.

    These are global to the DuckDB instance, so the writer runs under them too: it needs no file
    access beyond the database itself, and its batches are far below the memory limit.
    """
    connection.execute("SET enable_external_access = false")
    connection.execute("SET memory_limit = ?", [limits.memory_limit])
    connection.execute("SET max_temp_directory_size = '4GB'")
    connection.execute("SET lock_configuration = true")


def check(connection: duckdb.DuckDBPyConnection, sql: str) -> str:
    """Refuse anything but one read-only statement free of forbidden functions; returns its type."""
    if not sql or not sql.strip():
        raise QueryRefused("empty query", "write a SELECT statement")
    try:
        statements = connection.extract_statements(sql)
    except duckdb.Error as error:
        raise QueryRefused("syntax error", str(error)) from None
    if len(statements) != 1:
        raise QueryRefused("one statement only", f"found {len(statements)} statements; send them one at a time")
    statement = statements[0]
    try:
        kind = str(statement.type).rsplit(".", 1)[-1]
    except ValueError:  # a type the Python enum does not know (UPDATE EXTENSIONS): not a SELECT either
        kind = " ".join(statement.query.split()[:2]).upper()
    if kind not in ALLOWED_STATEMENTS:
        raise QueryRefused(
            "read-only statements only",
            f"{kind} is not allowed; use SELECT, WITH, DESCRIBE, SUMMARIZE or EXPLAIN",
        )
    inner = statement.query
    if kind == "EXPLAIN":
        inner = _EXPLAIN_PREFIX.sub("", inner, count=1)
    names, tables, table_functions = _function_and_table_names(connection, inner)
    for name in sorted(names):
        if name in FORBIDDEN_FUNCTIONS or name.startswith(FORBIDDEN_PREFIXES):
            raise QueryRefused(
                "no file or dynamic-SQL functions",
                f"{name}() is not allowed: queries may only read the Spyglass tables",
            )
    for name in sorted(table_functions - ALLOWED_TABLE_FUNCTIONS):
        raise QueryRefused(
            "no file or dynamic-SQL functions",
            f"{name}() is not an allowed table function: queries may only read the Spyglass tables "
            f"(and {', '.join(sorted(ALLOWED_TABLE_FUNCTIONS))})",
        )
    for table in sorted(tables):
        if _FILE_LIKE_TABLE.search(table):
            raise QueryRefused(
                "no file or dynamic-SQL functions",
                f"FROM {table!r} reads a file: queries may only read the Spyglass tables",
            )
    return kind


def _function_and_table_names(connection: duckdb.DuckDBPyConnection, sql: str) -> tuple[set[str], set[str], set[str]]:
    """Every function name, table name and table-function name in the statement's parse tree."""
    serialized = json.loads(connection.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    if serialized.get("error"):
        raise QueryRefused("unverifiable query", serialized.get("error_message") or "the query could not be checked")
    names: set[str] = set()
    tables: set[str] = set()
    table_functions: set[str] = set()
    stack = [serialized]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            name = node.get("function_name")
            if isinstance(name, str):
                names.add(name.lower())
            if node.get("type") == "TABLE_FUNCTION":
                function = (node.get("function") or {}).get("function_name")
                if isinstance(function, str):
                    table_functions.add(function.lower())
            if node.get("type") == "BASE_TABLE" and isinstance(node.get("table_name"), str):
                tables.add(node["table_name"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names, tables, table_functions


def run_query(connection: duckdb.DuckDBPyConnection, sql: str, limits: Limits) -> QueryResult:
    """Check and run one user query; raises QueryRefused with the rule (or database message)."""
    cursor = connection.cursor()
    try:
        check(cursor, sql)
        return _execute(cursor, sql, limits)
    finally:
        cursor.close()


def _execute(cursor: duckdb.DuckDBPyConnection, sql: str, limits: Limits) -> QueryResult:
    timer = threading.Timer(limits.time_limit_s, cursor.interrupt)
    started = time.perf_counter()
    cursor.execute("BEGIN TRANSACTION READ ONLY")
    timer.start()
    try:
        reader = cursor.sql(sql).to_arrow_reader(min(limits.row_limit + 1, 100_000))
        batches, rows = [], 0
        for batch in reader:
            batches.append(batch)
            rows += batch.num_rows
            if rows > limits.row_limit:
                break
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except duckdb.InterruptException:
        raise QueryRefused(
            "time limit", f"stopped after {limits.time_limit_s:g} s; narrow the query (WHERE on start_timestamp, LIMIT)"
        ) from None
    except duckdb.OutOfMemoryException as error:
        raise QueryRefused("memory limit", f"the query needed more than {limits.memory_limit}: {error}") from None
    except duckdb.TransactionException as error:
        if "read-only" not in str(error):
            raise QueryRefused("database error", str(error)) from None
        # A data-modifying CTE (WITH d AS (DELETE ... RETURNING *) SELECT ...) parses as a SELECT.
        raise QueryRefused("read-only transaction", f"queries cannot change data: {error}") from None
    except duckdb.Error as error:
        raise QueryRefused("database error", str(error)) from None
    finally:
        timer.cancel()
        try:
            cursor.execute("ROLLBACK")
        except duckdb.Error:
            pass
    truncated = table.num_rows > limits.row_limit
    if truncated:
        table = table.slice(0, limits.row_limit)
    return QueryResult(table, truncated, (time.perf_counter() - started) * 1000)
