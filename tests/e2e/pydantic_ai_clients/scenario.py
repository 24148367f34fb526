"""The scripted model calls of run_agents.py, shared with the tests that check what Spyglass made of them.

Plain data only: this module is imported by the client under pydantic-ai 1.x (in .venv-pai1) and 2.x,
and by the tests, which price each call themselves with genai-prices.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Call:
    """One scripted model response: its usage (input includes cached tokens) and what it contains."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    thinking: str | None = None
    tool_calls: tuple[tuple[str, dict], ...] = ()  # (tool name, arguments)
    text: str | None = None
    error: int | None = None  # an HTTP status: the provider failed this request, no response

    @property
    def finish_reason(self) -> str | None:
        return None if self.error else "tool_call" if self.tool_calls else "stop"


@dataclass(frozen=True)
class Agent:
    name: str
    provider: str
    model: str
    runs: tuple[tuple[Call, ...], ...]  # the calls of each run, in order
    continues: tuple[bool, ...] = field(default=())  # per run: continue the previous run's conversation

    def continues_run(self, index: int) -> bool:
        return index < len(self.continues) and self.continues[index]


WEATHER = Agent(
    name="weather_agent", provider="openai", model="gpt-4o",
    runs=(
        (   # thinks, asks for Paris (the tool raises ModelRetry), then Lyon, then answers
            Call(1200, 30, cache_read_tokens=1000, thinking="The user wants the weather.",
                 tool_calls=(("get_weather", {"city": "Paris"}),)),
            Call(1300, 20, tool_calls=(("get_weather", {"city": "Lyon"}),)),
            Call(1400, 10, cache_read_tokens=1200, text="Sunny in Lyon."),
        ),
        (   # the same conversation, one more question
            Call(1500, 12, cache_read_tokens=1400, text="Still sunny."),
        ),
    ),
    continues=(False, True),
)

RESEARCH = Agent(
    name="research_agent", provider="anthropic", model="claude-haiku-5-5",
    runs=(
        (
            Call(2000, 40, cache_write_tokens=1500, tool_calls=(("search", {"query": "otel"}),)),
            Call(2100, 80, cache_read_tokens=1500, thinking="Two sources agree.", text="OpenTelemetry is a standard."),
        ),
        (   # the provider is overloaded: the run fails
            Call(error=529),
        ),
    ),
)

# A model that genai-prices does not know (a local server): tokens, but no price.
LOCAL = Agent(
    name="local_agent", provider="ollama", model="acme-local-7b",
    runs=((Call(300, 25, text="Done."),),),
)

AGENTS = (WEATHER, RESEARCH, LOCAL)
RETRY_CITY = "Paris"  # get_weather raises ModelRetry the first time it is asked for this city
