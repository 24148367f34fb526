"""Real pydantic-ai agents with scripted models (FunctionModel: offline), exporting to Spyglass.

    python run_agents.py otel URL SERVICE VERSION    plain OpenTelemetry SDK exporter (OTLP/HTTP protobuf)
    python run_agents.py logfire SERVICE VERSION     the logfire SDK, configured by LOGFIRE_* variables

VERSION is pydantic-ai's instrumentation version (1 needs pydantic-ai 1.x) or `default`. The agents
and their calls are in scenario.py. Runs under pydantic-ai 1.x and 2.x; prints `done` at the end.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import scenario  # noqa: E402
from pydantic_ai import Agent, ModelRetry  # noqa: E402
from pydantic_ai.exceptions import ModelHTTPError  # noqa: E402
from pydantic_ai.messages import ModelResponse, TextPart, ThinkingPart, ToolCallPart  # noqa: E402
from pydantic_ai.models.function import FunctionModel  # noqa: E402
from pydantic_ai.usage import RequestUsage  # noqa: E402


class ScriptedModel(FunctionModel):
    """A FunctionModel that answers with scripted calls and says it is a real provider's model.

    FunctionModel names itself `function:...` with provider `function`, which no price list knows;
    the spans of this model carry the scenario's provider and model names instead.
    """

    def __init__(self, agent: scenario.Agent):
        self._script = [call for run in agent.runs for call in run]
        self._provider_name = agent.provider
        super().__init__(self._respond, model_name=agent.model)

    @property
    def system(self) -> str:
        return self._provider_name

    def _respond(self, messages, info) -> ModelResponse:
        call = self._script.pop(0)
        if call.error:
            raise ModelHTTPError(call.error, self.model_name, {"error": "overloaded"})
        parts = []
        if call.thinking:
            parts.append(ThinkingPart(content=call.thinking))
        for index, (tool, arguments) in enumerate(call.tool_calls):
            parts.append(ToolCallPart(tool, arguments, tool_call_id=f"call_{len(self._script)}_{index}"))
        if call.text:
            parts.append(TextPart(call.text))
        usage = RequestUsage(input_tokens=call.input_tokens, output_tokens=call.output_tokens,
                             cache_read_tokens=call.cache_read_tokens, cache_write_tokens=call.cache_write_tokens)
        return ModelResponse(parts=parts, usage=usage, model_name=self.model_name, provider_name=self._provider_name,
                             finish_reason=call.finish_reason)


def build_agent(spec: scenario.Agent) -> Agent:
    agent = Agent(ScriptedModel(spec), name=spec.name, instructions="Be terse.")
    asked: set[str] = set()

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """The weather in a city."""
        if city == scenario.RETRY_CITY and city not in asked:
            asked.add(city)
            raise ModelRetry(f"no station in {city}: try a nearby city")
        return "sunny"

    @agent.tool_plain
    def search(query: str) -> str:
        """Search the web."""
        return f"two articles about {query}"

    return agent


def run_all() -> None:
    for spec in scenario.AGENTS:
        agent = build_agent(spec)
        history = None
        for index, _ in enumerate(spec.runs):
            try:
                result = agent.run_sync(f"question {index + 1}",
                                        message_history=history if spec.continues_run(index) else None)
            except ModelHTTPError:
                continue
            history = result.all_messages()


def main() -> None:
    exporter, *args = sys.argv[1:]
    version = args[-1]
    if exporter == "otel":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from pydantic_ai.models.instrumented import InstrumentationSettings

        url, service = args[0], args[1]
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces")))
        options = {} if version == "default" else {"version": int(version)}
        Agent.instrument_all(InstrumentationSettings(tracer_provider=provider, **options))
        run_all()
        provider.shutdown()  # flushes: every span has been answered when this returns
    else:
        import logfire

        logfire.configure(service_name=args[0], inspect_arguments=False)
        logfire.instrument_pydantic_ai(**({} if version == "default" else {"version": int(version)}))
        run_all()
        logfire.shutdown()
    print("done", flush=True)


if __name__ == "__main__":
    main()
