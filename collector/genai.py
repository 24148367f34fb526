"""Model-call columns (provider, model, tokens, cost) from GenAI span attributes. Pure.

Filled at ingest so that SQL can sum them without parsing JSON. Only spans that stand for one
model call get tokens: an agent run's aggregated usage (pydantic-ai's `invoke_agent` / `agent run`
spans, which repeat the run's totals in older versions) is left out, so that summing a trace
never counts a call twice.
"""

from typing import Any

MODEL_CALL_OPERATIONS = {"chat", "text_completion", "generate_content", "completion", "embeddings"}
AGENT_OPERATIONS = {"invoke_agent", "create_agent", "execute_tool", "experiment"}

EMPTY = {
    "gen_ai_provider": None,
    "gen_ai_model": None,
    "input_tokens": None,
    "output_tokens": None,
    "cache_read_tokens": None,
    "cache_write_tokens": None,
    "cost_usd": None,
    "cost_source": None,
}


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


def _first(attributes: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None:
            return value
    return None


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


def genai_columns(attributes: dict[str, Any]) -> dict[str, Any]:
    """The gen_ai_* / *_tokens / cost_* columns of one span's attributes (all NULL for other spans)."""
    if not is_model_call(attributes):
        return EMPTY
    cost = _float(attributes.get("operation.cost"))
    return {
        "gen_ai_provider": _text(_first(attributes, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")),
        "gen_ai_model": _text(_first(attributes, "gen_ai.response.model", "gen_ai.request.model", "llm.model_name")),
        "input_tokens": _int(_first(attributes, "gen_ai.usage.input_tokens", "llm.token_count.prompt")),
        "output_tokens": _int(_first(attributes, "gen_ai.usage.output_tokens", "llm.token_count.completion")),
        "cache_read_tokens": _int(_first(attributes, "gen_ai.usage.cache_read.input_tokens",
                                         "gen_ai.usage.cache_read_input_tokens",
                                         "llm.token_count.prompt_details.cache_read")),
        "cache_write_tokens": _int(_first(attributes, "gen_ai.usage.cache_creation.input_tokens",
                                          "gen_ai.usage.cache_write.input_tokens",
                                          "gen_ai.usage.cache_creation_input_tokens",
                                          "llm.token_count.prompt_details.cache_write")),
        "cost_usd": cost,
        "cost_source": "reported" if cost is not None else None,
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
