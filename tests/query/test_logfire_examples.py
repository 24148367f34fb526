"""Queries written for Logfire run on Spyglass unchanged, or with the documented small change.

The queries are the ones Logfire's documentation shows (SQL reference, explore page, LLM cost
examples); docs/schema.md "Differences from Logfire" lists each change.
"""

import time

import pytest

from query.database import open_database
from query.sandbox import Limits, QueryRefused, harden_database, run_query
from tests.collector.test_writer import decoded_of, make_span, run
from collector.writer import Writer
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

LIMITS = Limits(5, 1000, "1GB")


def attrs(span: Span, **values) -> Span:
    for key, value in values.items():
        key = key.replace("__", ".")
        any_value = AnyValue(double_value=value) if isinstance(value, float) else (
            AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value))
        span.attributes.append(KeyValue(key=key, value=any_value))
    return span


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    database = open_database(tmp_path_factory.mktemp("logfire") / "db.duckdb")
    trace = bytes(range(16))
    root = make_span(trace, b"\x01" * 8, "handle request")
    failing = make_span(trace, b"\x02" * 8, "charge card", parent=b"\x01" * 8)
    event = failing.events.add(name="exception", time_unix_nano=time.time_ns())
    event.attributes.append(KeyValue(key="exception.type", value=AnyValue(string_value="ValueError")))
    event.attributes.append(KeyValue(key="exception.message", value=AnyValue(string_value="card declined")))
    chats = [
        attrs(make_span(trace, bytes([3 + i]) * 8, "chat gpt-4o", parent=b"\x01" * 8),
              gen_ai__operation__name="chat", gen_ai__request__model="gpt-4o",
              gen_ai__usage__input_tokens=100, gen_ai__usage__output_tokens=10, operation__cost=0.002)
        for i in range(2)
    ]

    async def fill():
        async with Writer(database) as writer:
            await writer.write("traces", "seed", decoded_of(root, failing, *chats))

    run(fill())
    harden_database(database, LIMITS)
    yield database
    database.close()


def rows(db, sql: str) -> list[tuple]:
    result = run_query(db, sql, LIMITS)
    return [tuple(r.values()) for r in result.table.to_pylist()]


def test_exceptions_query_runs_unchanged(db):
    sql = """SELECT message, start_timestamp, duration * 1000 AS duration_ms, attributes
FROM records
WHERE is_exception"""
    found = rows(db, sql)
    assert [r[0] for r in found] == ["charge card"]


def test_parent_child_join_runs_unchanged(db):
    sql = """SELECT parent_records.message AS parent_message, child_records.message AS child_message
FROM records parent_records
JOIN records child_records
  ON child_records.trace_id = parent_records.trace_id
 AND child_records.parent_span_id = parent_records.span_id"""
    assert sorted(rows(db, sql)) == [
        ("handle request", "charge card"), ("handle request", "chat gpt-4o"), ("handle request", "chat gpt-4o")]


def test_cost_by_model_per_day_with_the_documented_key_exists_change(db):
    logfire_sql = """SELECT date_trunc('day', start_timestamp) AS day,
       attributes->>'gen_ai.request.model' AS model,
       sum((attributes->>'operation.cost')::float) AS cost
FROM records
WHERE attributes ? 'operation.cost'
GROUP BY day, model
ORDER BY day"""
    with pytest.raises(QueryRefused) as refused:
        run_query(db, logfire_sql, LIMITS)
    assert refused.value.rule == "syntax error"  # DuckDB has no `?` operator: the documented change follows
    spyglass_sql = logfire_sql.replace("attributes ? 'operation.cost'", "json_exists(attributes, '$.\"operation.cost\"')")
    [(day, model, cost)] = rows(db, spyglass_sql)
    assert model == "gpt-4o" and cost == pytest.approx(0.004)
    # and the same from the columns Spyglass fills at ingest
    assert rows(db, "SELECT gen_ai_model, sum(cost_usd), sum(input_tokens) FROM records WHERE cost_usd IS NOT NULL GROUP BY ALL") == [
        ("gpt-4o", pytest.approx(0.004), 200)]


def test_level_comparison_uses_level_num(db):
    assert rows(db, "SELECT count(*) FROM records WHERE level >= level_num('info')") == [(4,)]
    assert rows(db, "SELECT DISTINCT level_name(level) FROM records") == [("info",)]
