"""collector/genai.py: model-call columns and cost from span attributes, priced with genai-prices.

Expected prices are computed here independently: from the per-token prices published for the model
(gpt-4o: $2.50 per million input tokens, $1.25 cached, $10 output) and with genai-prices' own API.
"""

from datetime import datetime, timezone

import pytest
from genai_prices import Usage, calc_price

from collector import genai
from collector.genai import computed_cost, drop_duplicate_calls, genai_columns, price_provider

START_NS = 1_767_225_600_000_000_000  # 2026-01-01 UTC


def chat(**attributes) -> dict:
    return {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 30, **attributes}


def price(provider: str, model: str, at: datetime | None = None, **tokens) -> float:
    return float(calc_price(Usage(**tokens), model, provider_id=provider, genai_request_timestamp=at).total_price)


def test_reported_cost_is_kept_as_sent():
    columns = genai_columns(chat(**{"operation.cost": 0.5}), START_NS)
    assert (columns["cost_usd"], columns["cost_source"]) == (0.5, "reported")


def test_missing_cost_is_computed_cache_aware():
    # 1200 input tokens of which 1000 cached: 200 * 2.50 + 1000 * 1.25 + 30 * 10 per million
    columns = genai_columns(chat(**{"gen_ai.usage.cache_read.input_tokens": 1000}), START_NS)
    assert columns["cost_source"] == "computed"
    assert columns["cost_usd"] == pytest.approx((200 * 2.5 + 1000 * 1.25 + 30 * 10) / 1e6)
    assert columns["cache_read_tokens"] == 1000 and columns["input_tokens"] == 1200


def test_cache_writes_are_priced_at_the_cache_write_price():
    attributes = {"gen_ai.operation.name": "chat", "gen_ai.system": "anthropic", "gen_ai.request.model": "claude-sonnet-4-5",
                  "gen_ai.usage.input_tokens": 2000, "gen_ai.usage.output_tokens": 40,
                  "gen_ai.usage.cache_creation.input_tokens": 1500}
    at = datetime.fromtimestamp(START_NS / 1e9, timezone.utc)
    expected = price("anthropic", "claude-sonnet-4-5", at, input_tokens=2000, output_tokens=40, cache_write_tokens=1500)
    uncached = price("anthropic", "claude-sonnet-4-5", at, input_tokens=2000, output_tokens=40)
    columns = genai_columns(attributes, START_NS)
    assert columns["cost_usd"] == pytest.approx(expected) and columns["cache_write_tokens"] == 1500
    assert expected > uncached  # writing to the cache costs more than plain input


@pytest.mark.parametrize("provider, model, expected", [
    ("openai", "gpt-4o-2024-08-06", "openai"),  # the response model, dated
    ("google-gla", "gemini-2.5-flash", "google"),  # pydantic-ai's provider names
    ("google-vertex", "gemini-2.5-flash", "google"),
    ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws"),
    ("gcp.gemini", "gemini-2.5-flash", "google"),  # GenAI semconv names
    ("x_ai", "grok-4", "x-ai"),
    ("azure.ai.openai", "gpt-4o", "openai"),
])
def test_provider_names_map_to_genai_prices(provider, model, expected):
    assert price_provider(provider) == expected
    columns = genai_columns(chat(**{"gen_ai.provider.name": provider, "gen_ai.request.model": model}))
    assert columns["gen_ai_provider"] == provider  # the column keeps the name as sent
    assert columns["cost_source"] == "computed" and columns["cost_usd"] > 0


@pytest.mark.parametrize("provider, model", [
    ("ollama", "llama3"),  # a local server: no price, not llama's price at some other provider
    ("function", "function:script:"),  # pydantic-ai's FunctionModel
    ("openai", "my-finetune-that-does-not-exist"),
])
def test_unknown_models_get_no_cost(provider, model):
    columns = genai_columns(chat(**{"gen_ai.provider.name": provider, "gen_ai.request.model": model}), START_NS)
    assert (columns["cost_usd"], columns["cost_source"]) == (None, None)
    assert (columns["gen_ai_model"], columns["input_tokens"]) == (model, 1200)


def test_a_call_without_provider_is_matched_on_the_model():
    # OpenInference LLM span: provider absent, prompt tokens include the cached ones
    attributes = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.token_count.prompt": 50,
                  "llm.token_count.completion": 5, "llm.token_count.prompt_details.cache_read": 20}
    columns = genai_columns(attributes)
    assert columns["cost_usd"] == pytest.approx(price("openai", "gpt-4o-mini", input_tokens=50, output_tokens=5,
                                                      cache_read_tokens=20))


def test_the_request_model_is_tried_when_the_response_model_is_unknown():
    attributes = chat(**{"gen_ai.response.model": "gpt-4o-some-unknown-snapshot"})
    columns = genai_columns(attributes, START_NS)
    assert columns["gen_ai_model"] == "gpt-4o-some-unknown-snapshot"
    assert columns["cost_usd"] == pytest.approx((1200 * 2.5 + 30 * 10) / 1e6)


def test_usage_genai_prices_refuses_gives_no_cost():
    # more cached tokens than input tokens: the sender counted input without cache, which is not priceable
    columns = genai_columns(chat(**{"gen_ai.usage.cache_read.input_tokens": 5000}))
    assert (columns["cost_usd"], columns["cost_source"]) == (None, None)
    assert computed_cost("openai", ["gpt-4o"], {"input_tokens": None, "output_tokens": None}, None) is None


def test_pydantic_ai_details_attributes_count_as_cached_tokens():
    columns = genai_columns(chat(**{"gen_ai.usage.details.cache_read_tokens": 1000}))
    assert columns["cache_read_tokens"] == 1000


@pytest.mark.parametrize("attributes", [
    # pydantic-ai instrumentation version 1: the agent run span repeats the run's totals as gen_ai.usage.*
    {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a", "agent_name": "a",
     "gen_ai.usage.input_tokens": 3900, "gen_ai.usage.output_tokens": 60, "model_name": "gpt-4o"},
    # older pydantic-ai: `agent run` with agent_name and no operation name
    {"agent_name": "a", "gen_ai.usage.input_tokens": 3900, "gen_ai.request.model": "gpt-4o"},
    {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather"},
])
def test_agent_runs_and_tools_are_not_model_calls(attributes):
    assert genai_columns(attributes, START_NS) == genai.EMPTY


def test_a_chat_span_naming_its_agent_is_still_a_model_call():
    # pydantic-ai 2.x puts gen_ai.agent.name on its chat spans too
    assert genai_columns(chat(**{"gen_ai.agent.name": "weather_agent"}))["input_tokens"] == 1200


def row(span_id, parent, input_tokens, output_tokens, attributes="{}", trace="t1"):
    return {"trace_id": trace, "span_id": span_id, "parent_span_id": parent, "input_tokens": input_tokens,
            "output_tokens": output_tokens, "cost_usd": 0.001, "cost_source": "computed", "gen_ai_provider": "anthropic",
            "gen_ai_model": "claude-sonnet-4-5", "cache_read_tokens": None, "cache_write_tokens": 10, "attributes": attributes}


def test_a_provider_sdk_span_repeating_its_parent_call_is_cleared():
    chat_span = row("chat", "agent", 2000, 40)
    sdk_span = row("sdk", "chat", 2000, 40)  # anthropic.messages.create under pydantic-ai's chat span
    other_trace = row("sdk2", "chat", 2000, 40, trace="t2")  # same ids in another trace: no parent here
    rows = [sdk_span, chat_span, other_trace]
    drop_duplicate_calls(rows)
    assert all(sdk_span[column] is None for column in genai.COLUMNS)
    assert chat_span["input_tokens"] == 2000 and chat_span["cost_usd"] == 0.001
    assert other_trace["input_tokens"] == 2000


def test_a_failed_attempt_with_its_own_usage_is_kept():
    chat_span = row("chat", "agent", 2000, 40)
    rejected = row("attempt", "chat", 1000, 20, attributes='{"pydantic_ai.model_request.attempt": 1}')
    same_usage = row("attempt2", "chat", 2000, 40, attributes='{"pydantic_ai.model_request.attempt": 2}')
    rows = [chat_span, rejected, same_usage]
    drop_duplicate_calls(rows)
    assert [r["input_tokens"] for r in rows] == [2000, 1000, 2000]
