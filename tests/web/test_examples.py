"""Every ready-made query of the explore page runs through the sandbox, and the cost example counts each call."""

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector.writer import Writer
from query.database import open_database
from query.sandbox import Limits, harden_database, run_query
from tests.collector.test_writer import decoded_of, make_span, run
from web.examples import EXAMPLES

LIMITS = Limits(10, 1000, "1GB")


def chat_span(trace: bytes, span_id: bytes, parent: bytes, cost: float):
    span = make_span(trace, span_id, "chat gpt-4o", parent=parent)
    for key, value in {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                       "gen_ai.request.model": "gpt-4o"}.items():
        span.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    for key, value in {"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20}.items():
        span.attributes.append(KeyValue(key=key, value=AnyValue(int_value=value)))
    span.attributes.append(KeyValue(key="operation.cost", value=AnyValue(double_value=cost)))
    return span


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    database = open_database(tmp_path_factory.mktemp("examples") / "db.duckdb")
    trace = bytes(range(16))
    agent = make_span(trace, b"\x01" * 8, "invoke_agent support")
    agent.attributes.append(KeyValue(key="gen_ai.operation.name", value=AnyValue(string_value="invoke_agent")))
    agent.attributes.append(KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=200)))  # the run's total

    async def fill():
        async with Writer(database) as writer:
            await writer.write("traces", "seed", decoded_of(
                agent, chat_span(trace, b"\x02" * 8, b"\x01" * 8, 0.001), chat_span(trace, b"\x03" * 8, b"\x01" * 8, 0.002)))

    run(fill())
    harden_database(database, LIMITS)
    yield database
    database.close()


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.title for e in EXAMPLES])
def test_example_runs_in_the_sandbox(db, example):
    result = run_query(db, example.sql, LIMITS)
    assert result.columns and not result.truncated


def test_cost_by_model_per_day_counts_each_call_once(db):
    example = next(e for e in EXAMPLES if e.title == "Cost by model per day")
    [row] = run_query(db, example.sql, LIMITS).table.to_pylist()
    assert (row["provider"], row["model"], row["calls"], row["input_tokens"], row["output_tokens"]) == (
        "openai", "gpt-4o", 2, 200, 40)
    assert row["cost_usd"] == pytest.approx(0.003)
