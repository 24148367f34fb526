"""The scripted weather agent of tests/fixtures/llm/capture.py, exported to a real server.

    python pydantic_ai_agent.py URL VERSION [EVENT_MODE]

Runs in whichever virtualenv starts it (.venv-pai1 for instrumentation version 1, which only
pydantic-ai 1.x sends), with the OTel SDK's HTTP exporters for spans and log records (version 1 in
event_mode "logs" sends each message as a log record). Everything is flushed before it exits.
"""

import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk._logs import LoggerProvider  # noqa: E402
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402
from pydantic_ai.models.instrumented import InstrumentationSettings  # noqa: E402

from tests.fixtures.llm.capture import run_weather_agent  # noqa: E402


def main(url: str, version: int, event_mode: str | None) -> None:
    resource = Resource.create({"service.name": f"pydantic-ai-v{version}"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces")))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{url}/v1/logs")))
    options = {"event_mode": event_mode, "logger_provider": logger_provider} if event_mode else {}
    warnings.simplefilter("ignore")  # old instrumentation versions are deprecated: that is why they are tested
    result = run_weather_agent(InstrumentationSettings(tracer_provider=tracer_provider, version=version, **options))
    tracer_provider.shutdown()
    logger_provider.shutdown()
    print(result.output[:40])


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
