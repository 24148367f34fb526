"""Read queries, one function each; the SQL lives in query/sql/<name>.sql, values are always bound."""

from functools import cache
from pathlib import Path

import duckdb

SQL_DIR = Path(__file__).with_name("sql")


@cache
def sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict]:
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def recent_traces(cursor: duckdb.DuckDBPyConnection, limit: int = 50) -> list[dict]:
    """The newest traces by arrival, with root message, service, duration and counts."""
    return _dicts(cursor.execute(sql("recent_traces"), {"limit": limit}))


def count_records(cursor: duckdb.DuckDBPyConnection) -> int:
    return cursor.execute("SELECT count(*) FROM records").fetchone()[0]


def stats(cursor: duckdb.DuckDBPyConnection) -> dict:
    """Row counts per table and kind: what the home page and bench/ingest.py poll."""
    kinds = dict(cursor.execute("SELECT kind, count(*) FROM records GROUP BY kind").fetchall())
    metrics = cursor.execute("SELECT count(*) FROM metrics").fetchone()[0]
    return {"records": sum(kinds.values()), "records_by_kind": kinds, "metrics": metrics}
