"""Tokens and cost of real pydantic-ai agents, as Spyglass stores and sums them.

Four clients (pydantic_ai_clients/run_agents.py, scripted FunctionModels: offline) send the same
agents (scenario.py: tool calls, a ModelRetry, thinking parts, cached input, two providers, a failing
call, a model no price list knows) to one server:

    pai-otel-v1       pydantic-ai 1.x, instrumentation version 1, plain OTel exporter (.venv-pai1)
    pai-otel-v2       pydantic-ai 2.x, instrumentation version 2, plain OTel exporter
    pai-otel-default  pydantic-ai 2.x, default instrumentation, plain OTel exporter
    pai-logfire       pydantic-ai 2.x, default instrumentation, the logfire SDK

Each call's cost is computed here with genai-prices. pydantic-ai 1.x ships older price data that
lacks claude-haiku-5-5, so under version 1 those calls arrive without `operation.cost` and Spyglass
prices them ('computed'); every other known call reports its cost ('reported').
"""

import re
import time

import httpx
import pytest
from genai_prices import Usage, calc_price
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from query.database import open_database
from tests.conftest import ROOT, start_server
from tests.e2e.pydantic_ai_clients import scenario
from tests.e2e.pydantic_ai_clients.runner import CALLS, CLIENTS, POLL_SECONDS, expected_cost, query, run_clients, wait_for_calls



@pytest.fixture(scope="module")
def agents(tmp_path_factory):
    """A server that has stored what the four clients sent."""
    directory = tmp_path_factory.mktemp("llm-cost")
    srv = start_server(directory / "spyglass.duckdb")
    try:
        run_clients(srv, directory)
        wait_for_calls(srv, [c.service for c in CLIENTS], len(CALLS))
        yield srv
    finally:
        srv.stop()


COLUMNS = ("provider", "model", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
           "cost_usd", "cost_source", "finish_reason", "tool_calls", "agent_name", "error")


@pytest.mark.parametrize("client", CLIENTS, ids=[c.service for c in CLIENTS])
def test_each_call_has_its_tokens_and_genai_prices_cost(agents, client):
    rows = query(agents, f"SELECT {', '.join(COLUMNS)} FROM llm_calls WHERE service_name = '{client.service}' "
                         "ORDER BY start_timestamp")
    assert len(rows) == len(CALLS)
    for (agent, _, call), values in zip(CALLS, rows, strict=True):
        got = dict(zip(COLUMNS, values))
        cost = expected_cost(agent, call)
        source = None if cost is None else "computed" if agent.model in client.computes else "reported"
        assert (got["provider"], got["model"], got["agent_name"]) == (agent.provider, agent.model, agent.name)
        assert (got["input_tokens"], got["output_tokens"]) == (
            (None, None) if call.error else (call.input_tokens, call.output_tokens))
        assert got["cache_read_tokens"] == (call.cache_read_tokens or None)
        assert got["cache_write_tokens"] == (call.cache_write_tokens or None)
        assert got["cost_source"] == source, (agent.name, call)
        assert got["cost_usd"] == (None if cost is None else pytest.approx(cost, rel=1e-9)), (agent.name, call)
        assert got["finish_reason"] == call.finish_reason
        assert got["tool_calls"] == len(call.tool_calls)
        if call.error:
            assert "529" in got["error"] and "ModelHTTPError" in got["error"]
        else:
            assert got["error"] is None


@pytest.mark.parametrize("client", CLIENTS, ids=[c.service for c in CLIENTS])
def test_sql_sums_of_cost_and_tokens_count_each_call_once(agents, client):
    expected = sum(cost for agent, _, call in CALLS if (cost := expected_cost(agent, call)) is not None)
    tokens_in = sum(call.input_tokens for _, _, call in CALLS)
    tokens_out = sum(call.output_tokens for _, _, call in CALLS)
    where = f"service_name = '{client.service}'"
    # over every record (agent runs included: version 1's run span repeats the run's usage) and over the view
    for table in ("records", "llm_calls"):
        [[cost, total_in, total_out]] = query(agents, f"SELECT sum(cost_usd), sum(input_tokens), sum(output_tokens) FROM {table} WHERE {where}")
        assert cost == pytest.approx(expected, rel=1e-9) and (total_in, total_out) == (tokens_in, tokens_out), table
    per_model = dict(query(agents, f"SELECT model, sum(cost_usd) FROM llm_calls WHERE {where} GROUP BY model"))
    for agent in scenario.AGENTS:
        costs = [expected_cost(agent, call) for a, _, call in CALLS if a is agent]
        known = [c for c in costs if c is not None]
        assert per_model[agent.model] == (pytest.approx(sum(known), rel=1e-9) if known else None)


def test_version_1_agent_runs_repeat_the_usage_and_are_not_counted(agents):
    rows = query(agents, "SELECT (attributes->>'gen_ai.usage.input_tokens')::BIGINT, input_tokens, cost_usd FROM records "
                         "WHERE service_name = 'pai-otel-v1' AND span_name = 'agent run' ORDER BY start_timestamp")
    first_run = sum(call.input_tokens for call in scenario.WEATHER.runs[0])
    assert rows[0] == [first_run, None, None]
    assert all(stored is None and cost is None for _, stored, cost in rows)


@pytest.mark.parametrize("client", CLIENTS, ids=[c.service for c in CLIENTS])
def test_trace_totals_of_the_live_view_equal_the_sum_of_their_calls(agents, client):
    traces = httpx.get(f"{agents.url}/api/traces", params={"service": client.service, "limit": 100}, timeout=30).json()
    assert len(traces) == sum(len(agent.runs) for agent in scenario.AGENTS)  # one trace per run
    per_trace = {trace_id: (cost, tokens_in, tokens_out) for trace_id, cost, tokens_in, tokens_out in query(
        agents, f"SELECT trace_id, sum(cost_usd), sum(input_tokens), sum(output_tokens) FROM llm_calls "
                f"WHERE service_name = '{client.service}' GROUP BY trace_id")}
    for trace in traces:
        cost, tokens_in, tokens_out = per_trace[trace["trace_id"]]
        assert (trace["input_tokens"], trace["output_tokens"]) == (tokens_in, tokens_out)
        assert trace["cost_usd"] == (None if cost is None else pytest.approx(cost, rel=1e-12))
        # and the trace view's header totals agree (each call once, agent runs' usage left out)
        summary = httpx.get(f"{agents.url}/api/trace/{trace['trace_id']}", timeout=30).json()["summary"]
        assert (summary["input_tokens"], summary["output_tokens"]) == (tokens_in or 0, tokens_out or 0)
        assert summary["cost_usd"] == pytest.approx(cost or 0.0, rel=1e-12)
    total = sum(t["cost_usd"] or 0 for t in traces)
    assert total == pytest.approx(sum(c for a, _, call in CALLS if (c := expected_cost(a, call)) is not None), rel=1e-9)


@pytest.mark.parametrize("client", CLIENTS, ids=[c.service for c in CLIENTS])
def test_calls_belong_to_their_agent_run_and_conversation(agents, client):
    runs = query(agents, f"SELECT span_id, trace_id, attributes->>'gen_ai.conversation.id' FROM records "
                         f"WHERE service_name = '{client.service}' AND kind = 'span' "
                         "AND (span_name LIKE 'invoke_agent %' OR span_name = 'agent run') ORDER BY start_timestamp")
    calls = query(agents, f"SELECT agent_span_id, trace_id, conversation_id FROM llm_calls "
                          f"WHERE service_name = '{client.service}' ORDER BY start_timestamp")
    run_number = [sum(len(a.runs) for a in scenario.AGENTS[:scenario.AGENTS.index(agent)]) + run_index
                  for agent, run_index, _ in CALLS]
    assert len(run_number) == len(calls)
    for (agent_span_id, trace_id, conversation_id), number in zip(calls, run_number, strict=True):
        assert [agent_span_id, trace_id, conversation_id] == runs[number]
    # the weather agent's second run continued the first one's conversation; other runs are their own
    conversations = [conversation for _, _, conversation in runs]
    assert conversations[0] == conversations[1] and len(set(conversations)) == len(runs) - 1


def test_a_provider_sdk_span_under_a_chat_span_is_one_call(server, tmp_path):
    """The anthropic SDK's `anthropic.messages.create` span repeats pydantic-ai's `chat` span's usage.

    Sent in one export request and, for the second trace, in two (the child in the first request),
    as happens when an exporter batch boundary falls between them: llm_calls counts one call each time.
    """
    sdk_attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
                      "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.response.model": "claude-sonnet-4-5-20250929",
                      "gen_ai.usage.input_tokens": 3500, "gen_ai.usage.output_tokens": 40,
                      "gen_ai.usage.cache_write.input_tokens": 1500, "anthropic.request.id": "req_1"}
    chat_attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.system": "anthropic",
                       "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.usage.input_tokens": 3500,
                       "gen_ai.usage.output_tokens": 40, "gen_ai.usage.cache_creation.input_tokens": 1500}
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-duplicates"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{server.url}/v1/traces")))
    tracer = provider.get_tracer("tests")
    ids = {}
    with tracer.start_as_current_span("invoke_agent sdk_agent", attributes={"gen_ai.operation.name": "invoke_agent"}) as run:
        with tracer.start_as_current_span("chat claude-sonnet-4-5", attributes=chat_attributes):
            with tracer.start_as_current_span("anthropic.messages.create", attributes=sdk_attributes):
                pass
    ids["one"] = format(run.get_span_context().trace_id, "032x")
    provider.force_flush()  # one export request
    run = tracer.start_span("invoke_agent sdk_agent", attributes={"gen_ai.operation.name": "invoke_agent"})
    chat = tracer.start_span("chat claude-sonnet-4-5", context=trace.set_span_in_context(run), attributes=chat_attributes)
    tracer.start_span("anthropic.messages.create", context=trace.set_span_in_context(chat), attributes=sdk_attributes).end()
    provider.force_flush()  # the SDK span alone
    chat.end()
    run.end()
    provider.shutdown()  # then its parents
    ids["split"] = format(run.get_span_context().trace_id, "032x")
    expected = float(calc_price(Usage(input_tokens=3500, output_tokens=40, cache_write_tokens=1500),
                                "claude-sonnet-4-5", provider_id="anthropic").total_price)
    deadline = time.monotonic() + POLL_SECONDS
    while len(rows := query(server, f"SELECT trace_id, span_name, cost_usd, cost_source, agent_name FROM llm_calls "
                                    f"WHERE trace_id IN ('{ids['one']}', '{ids['split']}') ORDER BY trace_id")) < 2:
        assert time.monotonic() < deadline, rows
        time.sleep(0.2)
    time.sleep(0.5)  # nothing more arrives
    rows = query(server, f"SELECT trace_id, span_name, cost_usd, cost_source, agent_name FROM llm_calls "
                         f"WHERE trace_id IN ('{ids['one']}', '{ids['split']}') ORDER BY trace_id")
    assert sorted((trace_id, name, source, agent) for trace_id, name, _, source, agent in rows) == sorted([
        (ids["one"], "chat claude-sonnet-4-5", "computed", "sdk_agent"),
        (ids["split"], "chat claude-sonnet-4-5", "computed", "sdk_agent")])
    assert all(cost == pytest.approx(expected) for _, _, cost, _, _ in rows)


# --- docs/schema.md: the `llm_calls` section --------------------------------------------------------

DOC = (ROOT / "docs" / "schema.md").read_text()
SECTION = DOC[DOC.index("\n## `llm_calls`\n"):DOC.index("\n## ", DOC.index("\n## `llm_calls`\n") + 1)]
LLM_BLOCKS = re.findall(r"^```sql llm_calls\n(.*?)^```", SECTION, re.S | re.M)


def test_documented_columns_are_the_views_columns(tmp_path):
    documented = re.findall(r"^\| `(\w+)` \| ([A-Z]+) \|", SECTION, re.M)
    connection = open_database(tmp_path / "x.duckdb")
    actual = connection.execute("SELECT column_name, data_type FROM information_schema.columns "
                                "WHERE table_name = 'llm_calls' ORDER BY ordinal_position").fetchall()
    assert [(name, {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}.get(kind, kind)) for name, kind in documented] == actual


def test_documented_examples_find_what_the_agents_sent(agents):
    assert len(LLM_BLOCKS) == 4
    services = len(CLIENTS)
    by_model, per_run, per_conversation, finish = (query(agents, sql) for sql in LLM_BLOCKS)

    calls = {agent.model: [call for a, _, call in CALLS if a is agent] for agent in scenario.AGENTS}
    cost = {model: sum(c for call in model_calls if (c := expected_cost(next(a for a in scenario.AGENTS if a.model == model), call)))
            for model, model_calls in calls.items()}
    assert [(row[0], row[1], row[2], row[3]) for row in by_model] == [
        ("openai", "gpt-4o", 4 * services, 0), ("anthropic", "claude-haiku-5-5", 3 * services, services),
        ("ollama", "acme-local-7b", services, 0)]
    for row in by_model:
        model_calls = calls[row[1]]
        cached = sum(c.cache_read_tokens for c in model_calls) * services
        assert row[5:8] == [sum(c.input_tokens for c in model_calls) * services, cached or None,
                            sum(c.output_tokens for c in model_calls) * services]
        assert row[8] == (pytest.approx(cost[row[1]] * services, abs=1e-6) if cost[row[1]] else None)
        assert row[9] == (len(model_calls) * services if row[1] == "acme-local-7b" else 0)

    assert len(per_run) == services * sum(len(agent.runs) for agent in scenario.AGENTS)
    weather_first = [row for row in per_run if row[0] == "weather_agent"][0]
    assert weather_first[4:8] == [3, 2, 3900, 60]  # three requests, two tool calls

    weather = [row for row in per_conversation if row[1] == "weather_agent"]
    assert len(weather) == services and all(row[2:4] == [2, 4] for row in weather)

    assert ["gpt-4o", "stop", 2 * services, None] in finish
    assert ["gpt-4o", "tool_call", 2 * services, None] in finish
    failed = next(row for row in finish if row[1] == "failed")
    assert failed[:3] == ["claude-haiku-5-5", "failed", services] and "529" in failed[3]
