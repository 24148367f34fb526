"""Model-call columns (provider, model, tokens, cost) from GenAI span attributes. Pure.

Filled at ingest so that SQL can sum them without parsing JSON. Only spans that stand for one
model call get tokens: an agent run's aggregated usage (pydantic-ai's `invoke_agent` / `agent run`
spans, which repeat the run's totals in older versions) is left out, so that summing a trace
never counts a call twice.

Cost is `operation.cost` when the span reports it ('reported'); otherwise Spyglass prices the
tokens with genai-prices, whose price data ships inside the package, so pricing works offline
('computed'). A model genai-prices does not know gets no cost (NULL), never a guess.
"""

from datetime import datetime, timezone
from typing import Any

from genai_prices import Usage, calc_price
from genai_prices.data_snapshot import find_provider_by_id, get_snapshot

MODEL_CALL_OPERATIONS = {"chat", "text_completion", "generate_content", "completion", "embeddings"}
AGENT_OPERATIONS = {"invoke_agent", "create_agent", "execute_tool", "experiment"}

COLUMNS = ("gen_ai_provider", "gen_ai_model", "input_tokens", "output_tokens", "cache_read_tokens",
           "cache_write_tokens", "cost_usd", "cost_source")
EMPTY = dict.fromkeys(COLUMNS)

# Provider names that genai-prices' own matching does not recognise, mapped to its provider ids.
# pydantic-ai's names (`google-gla`, `google-vertex`, `bedrock`, `xai`, ...) and most OTel GenAI
# semconv names (`gcp.gemini`, `aws.bedrock`, `mistral_ai`, ...) it matches itself.
PROVIDER_ALIASES = {
    "x_ai": "x-ai",
    "azure.ai.inference": "azure",
    "gcp.gen_ai": "google",
}

# Attribute names for each column, first present wins: the GenAI semantic conventions (current,
# then older spellings, then pydantic-ai's `details`), then OpenInference.
PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
INPUT_KEYS = ("gen_ai.usage.input_tokens", "llm.token_count.prompt")
OUTPUT_KEYS = ("gen_ai.usage.output_tokens", "llm.token_count.completion")
CACHE_READ_KEYS = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
                   "gen_ai.usage.details.cache_read_tokens", "llm.token_count.prompt_details.cache_read")
CACHE_WRITE_KEYS = ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_write.input_tokens",
                    "gen_ai.usage.cache_creation_input_tokens", "gen_ai.usage.details.cache_write_tokens",
                    "llm.token_count.prompt_details.cache_write")
# pydantic-ai's span for a failed or rejected attempt inside a `chat` span: its usage was billed on
# its own, so it is never taken for a second record of its parent's call.
ATTEMPT_ATTRIBUTE = "pydantic_ai.model_request.attempt"


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 2**63 else None
    if isinstance(value, float) and value.is_integer() and 0 <= value < 2**63:
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value == value and abs(value) != float("inf") else None


def _first(attributes: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None:
            return value
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def is_model_call(attributes: dict[str, Any]) -> bool:
    """A span that stands for exactly one model request (GenAI semconv or OpenInference)."""
    operation = attributes.get("gen_ai.operation.name")
    if operation in MODEL_CALL_OPERATIONS:
        return True
    if operation in AGENT_OPERATIONS or "gen_ai.agent.name" in attributes or "agent_name" in attributes:
        return False
    return attributes.get("openinference.span.kind") == "LLM" or (
        operation is None and "gen_ai.usage.input_tokens" in attributes and "gen_ai.request.model" in attributes
    )


def genai_columns(attributes: dict[str, Any], start_time_unix_nano: int | None = None) -> dict[str, Any]:
    """The gen_ai_* / *_tokens / cost_* columns of one span's attributes (all NULL for other spans).

    `start_time_unix_nano` dates the request, for prices that changed over time; without it the
    current prices are used.
    """
    if not is_model_call(attributes):
        return EMPTY
    columns = {
        "gen_ai_provider": _text(_first(attributes, PROVIDER_KEYS)),
        "gen_ai_model": _text(_first(attributes, MODEL_KEYS)),
        "input_tokens": _int(_first(attributes, INPUT_KEYS)),
        "output_tokens": _int(_first(attributes, OUTPUT_KEYS)),
        "cache_read_tokens": _int(_first(attributes, CACHE_READ_KEYS)),
        "cache_write_tokens": _int(_first(attributes, CACHE_WRITE_KEYS)),
        "cost_usd": _float(attributes.get("operation.cost")),
        "cost_source": "reported",
    }
    if columns["cost_usd"] is None:
        at = None if start_time_unix_nano is None else datetime.fromtimestamp(start_time_unix_nano / 1e9, timezone.utc)
        models = dict.fromkeys(_text(attributes.get(key)) for key in MODEL_KEYS)  # response model first, in order
        columns["cost_usd"] = computed_cost(columns["gen_ai_provider"], [m for m in models if m], columns, at)
        columns["cost_source"] = None if columns["cost_usd"] is None else "computed"
    return columns


def price_provider(provider: str | None) -> str | None:
    """The genai-prices provider id for a provider name as spans carry it; None when unknown."""
    if provider is None:
        return None
    name = PROVIDER_ALIASES.get(provider.strip().lower(), provider)
    found = find_provider_by_id(get_snapshot().providers, name)
    return None if found is None else found.id


def computed_cost(provider: str | None, models: list[str], tokens: dict[str, Any], at: datetime | None) -> float | None:
    """The price in USD of one call's tokens with genai-prices, or None when it cannot say.

    Input tokens include cached ones (as pydantic-ai, the anthropic SDK and OpenInference report
    them); genai-prices bills the cached part at the cache read / write prices. A provider name
    genai-prices does not know (a local server, a test model) gives None rather than another
    provider's price for a model of the same name; a call with no provider at all (some
    OpenInference spans) is matched on the model name alone.
    """
    if tokens.get("input_tokens") is None and tokens.get("output_tokens") is None:
        return None
    provider_id = None
    if provider is not None:
        provider_id = price_provider(provider)
        if provider_id is None and provider.strip().lower() != "litellm":  # genai-prices reads litellm's model prefix
            return None
    usage = Usage(
        input_tokens=tokens.get("input_tokens") or 0,
        output_tokens=tokens.get("output_tokens") or 0,
        cache_read_tokens=tokens.get("cache_read_tokens") or 0,
        cache_write_tokens=tokens.get("cache_write_tokens") or 0,
    )
    for model in models:
        try:
            price = calc_price(usage, model, provider_id=provider_id or provider, genai_request_timestamp=at)
        except LookupError:  # unknown model (or provider): try the next name
            continue
        except ValueError:  # usage genai-prices refuses, e.g. more cached tokens than input tokens
            return None
        return float(price.total_price)
    return None


def drop_duplicate_calls(rows: list[dict[str, Any]]) -> None:
    """Clear the model-call columns of a span that records the same call as its parent span.

    One call can be recorded twice when two layers instrument it: the anthropic SDK's own
    `anthropic.messages.create` span sits under pydantic-ai's `chat` span with the same token
    counts (REFERENCE-SPANS.md). The outer span is kept: it has the cost, the messages and the
    agent. Only parent and child within `rows` (one export request) are compared; an exporter
    sends a child and its parent in one request unless a batch boundary falls between them, and
    the `llm_calls` view drops such pairs across requests too. Changes `rows` in place.
    """
    calls = {(row["trace_id"], row["span_id"]): row for row in rows if _has_call_columns(row)}
    for row in calls.values():
        parent = calls.get((row["trace_id"], row["parent_span_id"]))
        if parent is not None and parent is not row and _same_usage(row, parent) and not _is_attempt(row):
            row.update(EMPTY)


def _has_call_columns(row: dict[str, Any]) -> bool:
    return row.get("input_tokens") is not None or row.get("output_tokens") is not None


def _same_usage(row: dict[str, Any], parent: dict[str, Any]) -> bool:
    return (row["input_tokens"], row["output_tokens"]) == (parent["input_tokens"], parent["output_tokens"])


def _is_attempt(row: dict[str, Any]) -> bool:
    attributes = row.get("attributes")
    if isinstance(attributes, bytes):  # the JSON text as the decoders store it
        return f'"{ATTEMPT_ATTRIBUTE}"'.encode() in attributes
    return isinstance(attributes, str) and f'"{ATTEMPT_ATTRIBUTE}"' in attributes
