"""One Prefect worker process running the flow `research_workflow` (a pydantic-ai agent made durable by
PrefectDurability inside), exporting to Spyglass. Run with .venv-prefect/bin/python (prefect_harness.py).

    python prefect_worker.py RUN_DIR SCENARIO TELEMETRY PHASE

PHASE `first` creates a flow run on the Prefect server named by PREFECT_API_URL, writes its id to
`RUN_DIR/flow_run_id` and runs it in this process; PHASE `resume` runs that same flow run again (as
`prefect flow-run execute` would): every task whose result was persisted by the first process comes
back `Cached` (the default cache policy keys on inputs, task source and flow run id), the rest runs.
The result goes to `RUN_DIR/result.txt`; every task body, model call and tool call to
`RUN_DIR/truth.jsonl` (see truth.py).

Prefect (3.9) opens one span per flow run and task run with the global tracer provider
(prefect/telemetry/run_telemetry.py, on unless PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY=false);
it exports nothing itself, so this worker sets the global provider from the OTEL_* variables first.
"""

import os
import sys
import time
from pathlib import Path
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from prefect import flow, get_client, task  # noqa: E402
from prefect.flow_engine import run_flow  # noqa: E402
from pydantic_ai import Agent  # noqa: E402
from pydantic_ai.durable_exec.prefect import PrefectDurability  # noqa: E402

from tests.e2e.workflows import truth  # noqa: E402
from tests.e2e.workflows.scripted import TOPIC, ScriptedModel  # noqa: E402

RUN_DIR, SCENARIO, TELEMETRY, PHASE = sys.argv[1:5] if __name__ == "__main__" else ("", "", "", "")
FLOW_RUN_ID_FILE = "flow_run_id"
SLOW_SECONDS = 600  # the test SIGKILLs the first worker long before this


# PrefectDurability runs each model request and tool call as a Prefect task (`Model Request: gpt-4o-mini`,
# `Call Tool: lookup`) with persisted results, so they are Cached when the flow run runs again.
researcher = Agent(ScriptedModel(lambda: RUN_DIR, lambda: _flow_run_id()), name="researcher", instructions="Be terse.", capabilities=[PrefectDurability()])


@researcher.tool_plain
def lookup(topic: str) -> str:
    """Look a topic up."""
    truth.tool_call(RUN_DIR, "lookup")
    return f"notes about {topic}"


def _flow_run_id() -> str:
    return (Path(RUN_DIR) / FLOW_RUN_ID_FILE).read_text()


def _attempt(step: str) -> int:
    return truth.attempts(RUN_DIR, step) + 1


@task(persist_result=True)
def fetch_context(topic: str) -> str:
    with truth.step_body(RUN_DIR, "fetch_context", _attempt("fetch_context")):
        return f"context for {topic}"


@task(persist_result=True, retries=2, retry_delay_seconds=0)
def flaky_step(answer: str) -> str:
    attempt = _attempt("flaky_step")
    with truth.step_body(RUN_DIR, "flaky_step", attempt):
        if SCENARIO == "retry" and attempt < 3:
            raise RuntimeError(f"flaky failure {attempt}")
        return answer.upper()


@task(persist_result=True)
def slow_step(text: str) -> str:
    with truth.step_body(RUN_DIR, "slow_step", _attempt("slow_step")):
        if SCENARIO == "crash" and PHASE == "first":
            (Path(RUN_DIR) / truth.READY_FILE).write_text(str(os.getpid()))
            time.sleep(SLOW_SECONDS)
        return text


@task(persist_result=True)
def finish(text: str) -> str:
    with truth.step_body(RUN_DIR, "finish", _attempt("finish")):
        return f"done: {text}"


@flow(name="research_workflow", persist_result=True)
def research_workflow(topic: str) -> str:
    context = fetch_context(topic)
    answer = researcher.run_sync(f"Research {topic}. {context}").output
    return finish(slow_step(flaky_step(answer)))


def configure_telemetry() -> None:
    """Set the global tracer provider before Prefect's RunTelemetry asks for a tracer."""
    if TELEMETRY != "otel":
        raise ValueError(f"the Prefect worker supports telemetry 'otel' only, got {TELEMETRY!r}")
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create())  # OTEL_SERVICE_NAME, OTEL_EXPERIMENTAL_RESOURCE_DETECTORS
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    Agent.instrument_all()


def shutdown_telemetry() -> None:
    """Flush and close the exporter: everything has been answered by Spyglass when this returns."""
    from opentelemetry import trace

    trace.get_tracer_provider().shutdown()


def main() -> None:
    truth.worker_started(RUN_DIR, PHASE)
    configure_telemetry()
    with get_client(sync_client=True) as client:
        if PHASE == "first":
            flow_run = client.create_flow_run(research_workflow, parameters={"topic": TOPIC})
            (Path(RUN_DIR) / FLOW_RUN_ID_FILE).write_text(str(flow_run.id))
        else:
            flow_run = client.read_flow_run(UUID(_flow_run_id()))
    result = run_flow(research_workflow, flow_run=flow_run, parameters={"topic": TOPIC})
    (Path(RUN_DIR) / "result.txt").write_text(result)
    shutdown_telemetry()


if __name__ == "__main__":
    main()
