"""One DBOS worker process running `research_workflow` (a pydantic-ai DBOSAgent inside), exporting to Spyglass.

    python dbos_worker.py RUN_DIR SCENARIO TELEMETRY PHASE WORKFLOW_ID

PHASE `first` starts the workflow under WORKFLOW_ID; PHASE `resume` only launches DBOS, which recovers
the pending workflows of this executor from the SQLite system database in RUN_DIR, then waits for the
workflow's result. The result is written to `RUN_DIR/result.txt`; every step body, model call and tool
call is written to `RUN_DIR/truth.jsonl` (see truth.py). Exporters are configured by environment
variables only (truth.telemetry_env).

DBOS (3.4) never replaces a TracerProvider or LoggerProvider that is already set globally: it adds its
own BatchSpanProcessor / BatchLogRecordProcessor for each `otlp_*_endpoints` entry to the global
provider, and only creates a provider (without resource detectors, so without process.pid on spans)
when none is set. Both modes here set the global providers first (the OTel SDK from OTEL_* variables,
or logfire.configure()) and give DBOS `enable_otlp=True` without endpoints, so every span and log is
exported exactly once, through the exporter the mode names.
"""

import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from dbos import DBOS, DBOSConfig, SetWorkflowID  # noqa: E402
from pydantic_ai import Agent  # noqa: E402
from pydantic_ai.durable_exec.dbos import DBOSAgent  # noqa: E402

from tests.e2e.workflows import truth  # noqa: E402
from tests.e2e.workflows.scripted import ScriptedModel  # noqa: E402

RUN_DIR, SCENARIO, TELEMETRY, PHASE, WORKFLOW_ID = sys.argv[1:6] if __name__ == "__main__" else ("", "", "", "", "")
SLOW_SECONDS = 600  # the test SIGKILLs the first worker long before this


agent = Agent(ScriptedModel(lambda: RUN_DIR, lambda: WORKFLOW_ID), name="researcher", instructions="Be terse.")


@agent.tool_plain
def lookup(topic: str) -> str:
    """Look a topic up."""
    truth.tool_call(RUN_DIR, "lookup")
    return f"notes about {topic}"


# DBOSAgent is deprecated in pydantic-ai 2.68 in favour of the DBOSDurability capability; it is still
# what most deployed DBOS agents use, and its step names (`researcher__model.request`) are the ones measured.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    researcher = DBOSAgent(agent)


def _attempt(step: str) -> int:
    return truth.attempts(RUN_DIR, step) + 1


@DBOS.step()
def fetch_context(topic: str) -> str:
    with truth.step_body(RUN_DIR, "fetch_context", _attempt("fetch_context")):
        return f"context for {topic}"


@DBOS.step(retries_allowed=True, max_attempts=3, interval_seconds=0.1, backoff_rate=1)
def flaky_step(answer: str) -> str:
    attempt = _attempt("flaky_step")
    with truth.step_body(RUN_DIR, "flaky_step", attempt):
        if SCENARIO == "retry" and attempt < 3:
            raise RuntimeError(f"flaky failure {attempt}")
        return answer.upper()


@DBOS.step()
def slow_step(text: str) -> str:
    with truth.step_body(RUN_DIR, "slow_step", _attempt("slow_step")):
        if SCENARIO == "crash" and PHASE == "first":
            (Path(RUN_DIR) / truth.READY_FILE).write_text(str(os.getpid()))
            time.sleep(SLOW_SECONDS)
        return text


@DBOS.step()
def finish(text: str) -> str:
    with truth.step_body(RUN_DIR, "finish", _attempt("finish")):
        return f"done: {text}"


@DBOS.workflow(name="research_workflow")
def research_workflow(topic: str) -> str:
    context = fetch_context(topic)
    answer = researcher.run_sync(f"Research {topic}. {context}").output
    return finish(slow_step(flaky_step(answer)))


def configure_telemetry() -> None:
    """Set the global tracer and logger providers before DBOS looks for them."""
    if TELEMETRY == "otel":
        from opentelemetry import trace
        from opentelemetry._logs import set_logger_provider
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create()  # OTEL_SERVICE_NAME and OTEL_EXPERIMENTAL_RESOURCE_DETECTORS
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(tracer_provider)
        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
        set_logger_provider(logger_provider)
        Agent.instrument_all()
    else:
        import logfire

        logfire.configure(inspect_arguments=False)
        logfire.instrument_pydantic_ai()


def shutdown_telemetry() -> None:
    """Flush and close the exporters: everything has been answered by Spyglass when this returns."""
    if TELEMETRY == "otel":
        from opentelemetry import trace
        from opentelemetry._logs import get_logger_provider

        trace.get_tracer_provider().shutdown()
        get_logger_provider().shutdown()
    else:
        import logfire

        logfire.shutdown()


def main() -> None:
    truth.worker_started(RUN_DIR, PHASE)
    configure_telemetry()
    config: DBOSConfig = {
        "name": "spyglass-research",
        "system_database_url": f"sqlite:///{RUN_DIR}/dbos.sqlite",
        "enable_otlp": True,
        "log_level": "DEBUG",  # `Running step` / `Replaying step` are DEBUG records
        "console_log_level": "INFO",
        # The fast polling keeps get_result() and recovery from waiting a second per poll.
        "notification_listener_polling_interval_sec": 0.05,
    }
    DBOS(config=config)
    DBOS.launch()
    if PHASE == "first":
        with SetWorkflowID(WORKFLOW_ID):
            handle = DBOS.start_workflow(research_workflow, "durable execution")
    else:
        handle = DBOS.retrieve_workflow(WORKFLOW_ID)
    result = handle.get_result(polling_interval_sec=0.05)
    (Path(RUN_DIR) / "result.txt").write_text(result)
    DBOS.destroy()
    shutdown_telemetry()


if __name__ == "__main__":
    main()
