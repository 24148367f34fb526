"""Read queries, one function each; the SQL lives in query/sql/<name>.sql, values are always bound."""

from functools import cache
from pathlib import Path

import duckdb

SQL_DIR = Path(__file__).with_name("sql")


@cache
def sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


def dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict]:
    """The rows of the cursor's last result as dicts keyed by column name."""
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def stats(cursor: duckdb.DuckDBPyConnection) -> dict:
    """Row counts per table and kind (GET /api/stats): what bench/ingest.py and `spyglass demo` poll."""
    kinds = dict(cursor.execute("SELECT kind, count(*) FROM records GROUP BY kind").fetchall())
    metrics = cursor.execute("SELECT count(*) FROM metrics").fetchone()[0]
    return {"records": sum(kinds.values()), "records_by_kind": kinds, "metrics": metrics}


TABLE_NOTES = {
    "records": "spans, logs and running (pending) spans: Logfire's records",
    "metrics": "one row per metric data point: Logfire's metrics",
    "bulk_records": "finished spans and logs stored in whole row groups (part of records)",
    "stored_records": "the other finished spans and logs (part of records)",
    "open_pending_spans": "logfire pending spans whose real span has not arrived",
    "ingested_requests": "one row per stored export request (retry detection)",
    "saved_queries": "queries saved from the explore page",
    "llm_calls": "one row per model call: tokens, cost, finish reason, agent (a view)",
}


def schema(cursor: duckdb.DuckDBPyConnection) -> list[dict]:
    """Tables and views with their columns, `records` and `metrics` first."""
    rows = cursor.execute(sql("schema_columns")).fetchall()
    tables: dict[str, dict] = {}
    for table_name, table_type, column_name, data_type in rows:
        table = tables.setdefault(table_name, {
            "name": table_name, "type": "view" if table_type == "VIEW" else "table",
            "note": TABLE_NOTES.get(table_name, ""), "columns": [],
        })
        table["columns"].append({"name": column_name, "type": data_type})
    order = list(TABLE_NOTES)
    return sorted(tables.values(), key=lambda t: (order.index(t["name"]) if t["name"] in order else len(order), t["name"]))


def saved_queries(cursor: duckdb.DuckDBPyConnection) -> list[dict]:
    return dicts(cursor.execute("SELECT name, sql, saved_at FROM saved_queries ORDER BY name"))


def save_query(cursor: duckdb.DuckDBPyConnection, name: str, query_sql: str) -> None:
    cursor.execute("INSERT OR REPLACE INTO saved_queries VALUES (?, ?, now())", [name, query_sql])


def delete_saved_query(cursor: duckdb.DuckDBPyConnection, name: str) -> bool:
    return cursor.execute("DELETE FROM saved_queries WHERE name = ?", [name]).fetchone()[0] > 0

