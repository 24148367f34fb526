"""The live view's queries (query/live.py): composition and escaping of filters, trace rows, paging.

Each test fills a fresh DuckDB (a file in tmp_path, and in memory where the storage could matter)
with records written directly in SQL, hardened as the server hardens it, and reads it back through
the same functions the pages use.
"""

from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from query import live
from query.database import open_database
from query.live import TraceFilter
from query.sandbox import Limits, QueryRefused, harden_database

LIMITS = Limits(time_limit_s=5.0, row_limit=5, memory_limit="500MB")  # row limit below a page on purpose
NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture(params=["file", "memory"])
def db(request, tmp_path):
    connection = open_database(tmp_path / "live.duckdb" if request.param == "file" else ":memory:")
    harden_database(connection, Limits(memory_limit="500MB"))
    yield connection
    connection.close()


def tid(n: int) -> str:
    return f"{n:032x}"


def sid(n: int) -> str:
    return f"{n:016x}"


def add(db, trace: int, span: int, parent: int | None = None, *, start: float = 0.0, duration: float | None = 1.0,
        table: str = "stored_records", **columns) -> None:
    """One record: `start` in seconds before NOW; `duration` None for a pending span."""
    started = NOW - timedelta(seconds=start)
    row = {
        "start_timestamp": started,
        "end_timestamp": None if duration is None else started + timedelta(seconds=duration),
        "duration": duration,
        "trace_id": tid(trace),
        "span_id": sid(span),
        "parent_span_id": None if parent is None else sid(parent),
        "kind": "pending_span" if table == "open_pending_spans" else "span",
        "level": 9,
        "span_name": f"span {span}",
        "message": f"span {span}",
        "otel_status_code": "UNSET",
        "is_exception": False,
        "service_name": "api",
        "created_at": NOW,
        **columns,
    }
    names = ", ".join(row)
    db.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def page(db, trace_filter=TraceFilter(), limit=50, offset=0):
    return live.trace_page(db, trace_filter, LIMITS, limit, offset)


def ids(result) -> list[str]:
    return [t["trace_id"] for t in result.traces]


# --- composition and escaping ----------------------------------------------------------------------


def test_quote_literal_doubles_quotes_and_refuses_nul():
    assert live.quote_literal("api") == "'api'"
    assert live.quote_literal("O'Brien's") == "'O''Brien''s'"
    assert live.quote_literal("back\\slash") == "'back\\slash'"  # no backslash escapes in SQL strings
    with pytest.raises(QueryRefused, match="NUL"):
        live.quote_literal("a\0b")


def test_filter_condition_puts_the_clause_on_lines_of_its_own():
    assert live.filter_condition(TraceFilter()) is None
    assert live.filter_condition(TraceFilter(where="   ")) is None
    condition = live.filter_condition(TraceFilter(
        where="duration > 1 -- slow", service="a'b", errors_only=True, since=timedelta(minutes=15)))
    assert condition == (
        "(\nduration > 1 -- slow\n) AND service_name = 'a''b' AND " + live.ERROR_CONDITION
        + " AND start_timestamp >= now() - to_microseconds(900000000)"
    )


def test_compose_page_sql_fills_every_placeholder():
    sql = live.compose_page_sql(TraceFilter(where="x = '{literal}'"), 50, 100)
    assert "LIMIT 50 OFFSET 100" in sql
    assert "WHERE trace_id IN (SELECT trace_id FROM records WHERE (\nx = '{literal}'\n))" in sql
    assert "{match}" not in sql and "{limit}" not in sql
    unfiltered = live.compose_page_sql(TraceFilter(), 50, 0)
    assert "trace_id IN" not in "\n".join(line for line in unfiltered.splitlines() if not line.startswith("--"))


def test_a_hostile_service_value_is_only_a_value(db):
    add(db, 1, 1, service_name="api")
    add(db, 2, 2, service_name="x' OR true --")
    add(db, 3, 3, service_name="x'); DELETE FROM stored_records; --")
    assert ids(page(db, TraceFilter(service="x' OR true --"))) == [tid(2)]
    assert ids(page(db, TraceFilter(service="x'); DELETE FROM stored_records; --"))) == [tid(3)]
    assert ids(page(db, TraceFilter(service="nobody"))) == []
    assert db.execute("SELECT count(*) FROM records").fetchone() == (3,)


def test_a_trailing_comment_in_the_clause_does_not_swallow_the_quick_filters(db):
    add(db, 1, 1, level=17)
    add(db, 2, 2, level=9)
    result = page(db, TraceFilter(where="service_name = 'api' -- only api", errors_only=True))
    assert ids(result) == [tid(1)]


# --- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize("clause, rule, text", [
    ("1=1) UNION SELECT * FROM read_csv('/etc/passwd') WHERE (1=1", "no file or dynamic-SQL functions",
     "read_csv() is not allowed"),
    ("read_text('/etc/passwd') IS NOT NULL", "no file or dynamic-SQL functions", "read_text() is not allowed"),
    ("trace_id IN (SELECT trace_id FROM read_parquet('x.parquet'))", "no file or dynamic-SQL functions",
     "read_parquet() is not allowed"),
    ("1=1) UNION SELECT * FROM read_csv('/etc/passwd') --", "syntax error", 'syntax error at or near ")"'),
    ("1=1; DELETE FROM records", "syntax error", 'syntax error at or near ";"'),
    ("; DELETE FROM stored_records", "syntax error", "syntax error"),
    ("1=1) GROUP BY trace_id HAVING (count(*) > 0", "one condition only", "what follows WHERE"),
    ("1=1) ORDER BY 1 LIMIT (1", "one condition only", "what follows WHERE"),
    ("nonsense = 1", "database error", 'Referenced column "nonsense" not found'),
    ("duration >", "syntax error", "syntax error"),
])
def test_refused_clauses_say_why_and_change_nothing(db, clause, rule, text):
    add(db, 1, 1)
    with pytest.raises(QueryRefused) as refused:
        page(db, TraceFilter(where=clause))
    assert refused.value.rule == rule
    assert text in refused.value.message
    assert db.execute("SELECT count(*) FROM records").fetchone() == (1,)


def test_a_clause_may_use_subqueries_macros_and_json(db):
    add(db, 1, 1, attributes='{"user": {"id": 7}}', level=13)
    add(db, 2, 2, attributes='{"user": {"id": 8}}')
    assert ids(page(db, TraceFilter(where="attributes->'user'->>'id' = '7'"))) == [tid(1)]
    assert ids(page(db, TraceFilter(where="level >= level_num('warn')"))) == [tid(1)]
    assert ids(page(db, TraceFilter(
        where="trace_id IN (SELECT trace_id FROM records WHERE span_name = 'span 2')"))) == [tid(2)]


# --- rows ------------------------------------------------------------------------------------------


def test_a_row_per_trace_newest_first_with_root_duration_counts_and_totals(db):
    # trace 1: root + a model call with an error; trace 2 (newer): a running root (pending span)
    add(db, 1, 10, start=60, duration=2.5, message="agent run", service_name="agent")
    add(db, 1, 11, 10, start=59, duration=1.0, input_tokens=100, output_tokens=20, cost_usd=0.25,
        otel_status_code="ERROR")
    add(db, 1, 12, 10, start=58, duration=0.5, input_tokens=50, output_tokens=5, cost_usd=0.5, service_name="tools")
    add(db, 2, 20, start=30, duration=None, table="open_pending_spans", message="still going")
    add(db, 2, 21, 20, start=29, duration=0.1)
    result = page(db)
    assert result.total == 2 and ids(result) == [tid(2), tid(1)]
    running, finished = result.traces
    assert (running["root_message"], running["running"], running["duration"], running["record_count"]) == (
        "still going", True, None, 2)
    assert (running["input_tokens"], running["cost_usd"], running["error_count"]) == (None, None, 0)
    assert finished["root_message"] == "agent run" and finished["service_name"] == "agent"
    assert (finished["running"], finished["root_missing"], finished["duration"]) == (False, False, 2.5)
    assert (finished["record_count"], finished["error_count"]) == (3, 1)
    assert (finished["input_tokens"], finished["output_tokens"], finished["cost_usd"]) == (150, 25, 0.75)
    assert finished["start_timestamp"] == NOW - timedelta(seconds=60)


def test_errors_are_level_exception_or_status(db):
    add(db, 1, 1, level=17)
    add(db, 2, 2, is_exception=True)
    add(db, 3, 3, otel_status_code="ERROR")
    add(db, 4, 4, level=13)
    result = page(db)
    assert {t["trace_id"]: t["error_count"] for t in result.traces} == {tid(1): 1, tid(2): 1, tid(3): 1, tid(4): 0}
    assert sorted(ids(page(db, TraceFilter(errors_only=True)))) == [tid(1), tid(2), tid(3)]


def test_a_trace_without_its_root_shows_its_earliest_record(db):
    add(db, 1, 11, 10, start=10, duration=1.0, message="child first")
    add(db, 1, 12, 10, start=9, duration=3.0, message="child second")
    (trace,) = page(db).traces
    assert (trace["root_message"], trace["root_missing"], trace["running"]) == ("child first", True, False)
    assert trace["duration"] == pytest.approx(4.0)  # earliest start to latest end
    assert trace["start_timestamp"] == NOW - timedelta(seconds=10)
    add(db, 1, 10, start=11, duration=5.0, message="the root")  # the root arrives
    (trace,) = page(db).traces
    assert (trace["root_message"], trace["root_missing"], trace["duration"], trace["record_count"]) == (
        "the root", False, 5.0, 3)


def test_a_root_span_is_preferred_to_a_root_log(db):
    add(db, 1, 1, start=10, kind="log", message="a log before the span", duration=0.0)
    add(db, 1, 2, start=9, message="the span")
    (trace,) = page(db).traces
    assert trace["root_message"] == "the span"


def test_message_falls_back_to_span_name(db):
    add(db, 1, 1, message=None, span_name="GET /users")
    assert page(db).traces[0]["root_message"] == "GET /users"


def test_a_trace_matches_when_any_record_matches(db):
    add(db, 1, 10, service_name="web")
    add(db, 1, 11, 10, service_name="db", duration=2.0)
    add(db, 2, 20, service_name="web")
    result = page(db, TraceFilter(where="service_name = 'db' and duration > 1"))
    assert ids(result) == [tid(1)] and result.total == 1
    assert result.traces[0]["service_name"] == "web"  # the row still shows the root's service
    assert result.traces[0]["record_count"] == 2  # and the whole trace
    assert sorted(ids(page(db, TraceFilter(service="web")))) == [tid(1), tid(2)]


def test_since_keeps_traces_with_records_in_the_window(db):
    add(db, 1, 1, start=7200)
    add(db, 2, 2, start=60)
    assert ids(page(db, TraceFilter(since=timedelta(hours=1)))) == [tid(2)]
    assert ids(page(db, TraceFilter(since=timedelta(hours=3)))) == [tid(2), tid(1)]


def test_paging_counts_every_match_and_never_cuts_silently(db):
    for n in range(1, 121):
        add(db, n, n, start=1000 - n)  # higher n = newer
    first = page(db, limit=50, offset=0)
    assert first.total == 120 and len(first.traces) == 50  # the row limit of 5 does not apply here
    assert ids(first)[0] == tid(120) and ids(first)[-1] == tid(71)
    last = page(db, limit=50, offset=100)
    assert ids(last) == [tid(n) for n in range(20, 0, -1)]
    beyond = page(db, limit=50, offset=200)
    assert (beyond.traces, beyond.total) == ([], 120)
    filtered = page(db, TraceFilter(where="span_name LIKE 'span 1%'"), limit=50)
    assert filtered.total == 1 + 10 + 21  # 1, 10-19, 100-120


def test_no_traces(db):
    result = page(db)
    assert (result.traces, result.total) == ([], 0)


def test_data_version_changes_with_every_write(db):
    cursor = db.cursor()
    empty = live.data_version(cursor)
    assert live.data_version(cursor) == empty
    add(db, 1, 1, start=5, duration=None, table="open_pending_spans")
    pending = live.data_version(cursor)
    assert pending != empty
    # the writer replaces a pending span by its real span in one transaction
    db.execute("BEGIN")
    db.execute("DELETE FROM open_pending_spans")
    add(db, 1, 1, start=5, duration=1.0)
    db.execute("COMMIT")
    assert live.data_version(cursor) not in (empty, pending)


def test_services_lists_each_name_once(db):
    add(db, 1, 1, service_name="web")
    add(db, 2, 2, service_name="api")
    add(db, 3, 3, service_name="web")
    assert live.services(db.cursor()) == ["api", "web"]


def test_a_page_of_a_thousand_traces_with_a_small_row_limit(db):
    db.execute("""
        INSERT INTO stored_records (start_timestamp, end_timestamp, duration, trace_id, span_id, kind, level,
                                    span_name, message, service_name, created_at)
        SELECT now() - to_seconds(i), now() - to_seconds(i) + INTERVAL 1 SECOND, 1.0, lpad(to_hex(i), 32, '0'),
               lpad(to_hex(i), 16, '0'), 'span', 9, 'n', 'n', 'api', now()
        FROM range(1, 2001) r(i)
    """)
    result = page(db, limit=1000, offset=0)
    assert result.total == 2000 and len(result.traces) == 1000


def test_page_query_is_refused_not_crashed_by_the_time_limit(db):
    add(db, 1, 1)
    slow = "(SELECT count(*) FROM range(100000000000)) > 0"
    with pytest.raises(QueryRefused) as refused:
        live.trace_page(db, TraceFilter(where=slow), Limits(time_limit_s=0.2, row_limit=5, memory_limit="500MB"))
    assert refused.value.rule == "time limit"


def test_duckdb_expression_gate_matches_the_composed_where():
    # What check_clause relies on: SQLExpression refuses anything but one expression.
    for text in ("1 FROM records", "1 UNION SELECT 2", "1, 2", "x ORDER BY 1"):
        with pytest.raises(duckdb.Error):
            duckdb.SQLExpression(text)
