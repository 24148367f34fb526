"""Read queries of the live view: a page of traces, newest first, under a filter.

A filter is the user's SQL WHERE clause over `records` plus the quick filters (service, errors
only, time range). A trace matches when one of its records matches all of them. The clause is
user SQL, so the page query is composed as text and run only through `query.sandbox.run_query`
(the sandbox cannot bind parameters); the quick filters are composed from values checked here
(a quoted string, a boolean, an integer). The second query, the rows of the page's traces, has
no user SQL and binds its values.

Speed (bench/live_page.py): at 1,000,000 spans the page query groups the matching records by
trace once (for the order and the total) and the rows query reads only the row groups from the
page's oldest record on, so a page costs a few tens of milliseconds.
"""

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from query.reads import dicts, sql
from query.sandbox import Limits, QueryRefused, check, run_query

ERROR_CONDITION = "(level >= level_num('error') OR is_exception OR otel_status_code = 'ERROR')"


@dataclass(frozen=True)
class TraceFilter:
    """What the live view shows. Empty values filter nothing."""

    where: str = ""  # SQL boolean expression over the columns of `records`
    service: str = ""
    errors_only: bool = False
    since: timedelta | None = None  # records that started at most this long ago


@dataclass
class TracePage:
    traces: list[dict]
    total: int  # traces matching the filter, all pages together
    offset: int


def quote_literal(text: str) -> str:
    """An SQL string literal for `text`: quotes doubled. DuckDB strings have no backslash escapes,
    so this is all a standard string literal needs; NUL cannot appear in one and is refused."""
    if "\0" in text:
        raise QueryRefused("invalid filter", "a filter value cannot contain a NUL character")
    return "'" + text.replace("'", "''") + "'"


def filter_condition(trace_filter: TraceFilter) -> str | None:
    """The record condition of a filter as SQL, or None when it filters nothing.

    The user's clause goes in parentheses on lines of its own, so that a trailing `--` comment ends
    with its line; that it is one expression is checked by `check_clause`, not assumed here.
    """
    parts = []
    if trace_filter.where.strip():
        parts.append(f"(\n{trace_filter.where}\n)")
    if trace_filter.service:
        parts.append(f"service_name = {quote_literal(trace_filter.service)}")
    if trace_filter.errors_only:
        parts.append(ERROR_CONDITION)
    if trace_filter.since is not None:
        microseconds = int(trace_filter.since / timedelta(microseconds=1))
        parts.append(f"start_timestamp >= now() - to_microseconds({microseconds})")
    return " AND ".join(parts) if parts else None


def compose_page_sql(trace_filter: TraceFilter, limit: int, offset: int) -> str:
    """The statement that picks a page of traces and counts all matching ones (live_traces.sql)."""
    condition = filter_condition(trace_filter)
    match = "" if condition is None else f"WHERE trace_id IN (SELECT trace_id FROM records WHERE {condition})"
    return sql("live_traces").format(match=match, limit=int(limit), offset=int(offset))


def check_clause(connection: duckdb.DuckDBPyConnection, clause: str) -> None:
    """Refuse a WHERE clause that is not one boolean expression over `records`.

    The sandbox's rules come first, so an injection such as `1=1) UNION SELECT * FROM
    read_csv('/etc/passwd') WHERE (1=1` is refused with the sandbox's own message. Then the
    clause must parse as exactly one expression: `1=1) GROUP BY x HAVING (1=1` breaks out of its
    parentheses without breaking any sandbox rule, and would change the page query's shape.
    """
    if not clause.strip():
        return
    cursor = connection.cursor()
    try:
        check(cursor, f"SELECT 1 FROM records WHERE (\n{clause}\n)")
    finally:
        cursor.close()
    try:
        duckdb.SQLExpression(clause)
    except duckdb.Error as error:
        raise QueryRefused(
            "one condition only",
            f"the filter is what follows WHERE in `SELECT * FROM records WHERE ...`, e.g. "
            f"service_name = 'api' AND duration > 1 ({error})",
        ) from None


def trace_page(connection: duckdb.DuckDBPyConnection, trace_filter: TraceFilter, limits: Limits,
               limit: int = 50, offset: int = 0) -> TracePage:
    """A page of traces, newest first by trace start, with the total for the filter.

    Raises QueryRefused (the sandbox's rule and message, or the database's error for a clause
    that does not run) for a filter that cannot be used.
    """
    check_clause(connection, trace_filter.where)
    page_sql = compose_page_sql(trace_filter, limit, offset)
    # The result has at most `limit` rows (or one with total 0), whatever the user row limit.
    result = run_query(connection, page_sql, dataclasses.replace(limits, row_limit=limit + 1))
    heads = [row for row in result.table.to_pylist() if row["trace_id"] is not None]
    total = result.table.column("total")[0].as_py() if result.table.num_rows else 0
    if not heads:
        return TracePage([], total, offset)
    with connection.cursor() as cursor:
        rows = dicts(cursor.execute(sql("live_trace_rows"), {
            "trace_ids": [head["trace_id"] for head in heads],
            "first_start": min(head["first_start"] for head in heads),
        }))
    by_id = {row["trace_id"]: row for row in rows}
    traces = []
    for head in heads:
        row = by_id.get(head["trace_id"])
        if row is not None:  # gone between the two queries (deleted): leave it out
            # Arrow gives UTC; show the server's local time, as rows read on a cursor are
            traces.append({"trace_id": head["trace_id"], "start_timestamp": head["trace_start"].astimezone(), **row})
    return TracePage(traces, total, offset)


def services(cursor: duckdb.DuckDBPyConnection, limit: int = 500) -> list[str]:
    """Service names that have records, for the quick filter."""
    return [name for name, _ in cursor.execute(sql("live_services"), {"limit": limit}).fetchall()]


def data_version(cursor: duckdb.DuckDBPyConnection) -> str:
    """A token that changes whenever `records` changes; equal tokens mean the same data."""
    stored, stored_at, pending, pending_at = cursor.execute(sql("live_version")).fetchone()
    return f"{stored}.{_micros(stored_at)}.{pending}.{_micros(pending_at)}"


def _micros(value: datetime | None) -> int:
    return 0 if value is None else int(value.timestamp() * 1_000_000)
