"""A Temporal worker process running `research_workflow` (see truth.py for the contract).

    python -m tests.e2e.workflows.temporal_worker ADDRESS TASK_QUEUE WORKFLOW_ID RUN_DIR SCENARIO TELEMETRY PHASE

PHASE `first` starts the workflow and runs a worker until it completes; PHASE `resume` only runs a
worker (the workflow already exists: the first worker was killed) until it completes. Either way the
result goes to `<run_dir>/result.txt`. Exporters are configured by environment variables only
(truth.telemetry_env): `otel` uses the plain SDK and temporalio's TracingInterceptor, `logfire` uses
logfire.configure() and pydantic-ai's LogfirePlugin, as pydantic-ai's Temporal docs say.

Activities read the scenario from the SPYGLASS_* environment variables set by main(): activities run
in this process, outside the workflow sandbox.
"""

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from pydantic_ai import Agent
    from pydantic_ai.durable_exec.temporal import TemporalAgent

    from tests.e2e.workflows import truth
    from tests.e2e.workflows.scripted import ScriptedModel

QUICK_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=1.0, maximum_attempts=3)


def _run_dir() -> Path:
    return Path(os.environ["SPYGLASS_RUN_DIR"])


researcher_agent = Agent(ScriptedModel(_run_dir, lambda: activity.info().workflow_id), name="researcher", instructions="Be terse.")


@researcher_agent.tool_plain
def lookup(topic: str) -> str:
    """Look a topic up."""
    truth.tool_call(_run_dir(), "lookup")
    return f"notes about {topic}"


researcher = TemporalAgent(researcher_agent)


@activity.defn
async def fetch_context(question: str) -> str:
    with truth.step_body(_run_dir(), "fetch_context", activity.info().attempt):
        return f"context for {question}"


@activity.defn
async def flaky_step(answer: str) -> str:
    attempt = activity.info().attempt
    with truth.step_body(_run_dir(), "flaky_step", attempt):
        if os.environ["SPYGLASS_SCENARIO"] == "retry" and attempt < 3:
            raise RuntimeError(f"flaky failure {attempt}")
        return answer


@activity.defn
async def slow_step(answer: str) -> str:
    run_dir = _run_dir()
    with truth.step_body(run_dir, "slow_step", activity.info().attempt):
        if os.environ["SPYGLASS_SCENARIO"] == "crash" and os.environ["SPYGLASS_PHASE"] == "first":
            (run_dir / truth.READY_FILE).write_text(str(os.getpid()))
            # Heartbeats keep this attempt alive until the test SIGKILLs the process; then the missed
            # heartbeat timeout lets the server retry the activity on the next worker within seconds.
            for _ in range(600):
                activity.heartbeat()
                await asyncio.sleep(0.2)
        return answer


@activity.defn
async def finish(answer: str) -> str:
    with truth.step_body(_run_dir(), "finish", activity.info().attempt):
        return f"done: {answer}"


@workflow.defn(name="research_workflow")
class ResearchWorkflow:
    __pydantic_ai_agents__ = [researcher]

    @workflow.run
    async def run(self, question: str) -> str:
        quick = {"start_to_close_timeout": timedelta(seconds=10), "retry_policy": QUICK_RETRY}
        context = await workflow.execute_activity(fetch_context, question, **quick)
        result = await researcher.run(f"{question}\n\n{context}")
        answer = await workflow.execute_activity(flaky_step, result.output, **quick)
        answer = await workflow.execute_activity(slow_step, answer, start_to_close_timeout=timedelta(seconds=60),
                                                 heartbeat_timeout=timedelta(seconds=2), retry_policy=QUICK_RETRY)
        return await workflow.execute_activity(finish, answer, **quick)


def _configure_telemetry(telemetry: str):
    """Return (client plugins, worker interceptors, shutdown) for the telemetry mode."""
    from pydantic_ai.durable_exec.temporal import LogfirePlugin, PydanticAIPlugin

    if telemetry == "logfire":
        import logfire

        logfire.configure()
        logfire.instrument_pydantic_ai()
        return [PydanticAIPlugin(), LogfirePlugin()], [], logfire.shutdown

    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from temporalio.contrib.opentelemetry import TracingInterceptor

    # Resource.create() and the exporter read OTEL_SERVICE_NAME, OTEL_EXPERIMENTAL_RESOURCE_DETECTORS,
    # OTEL_EXPORTER_OTLP_* and OTEL_BSP_* themselves.
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    Agent.instrument_all()
    return [PydanticAIPlugin()], [TracingInterceptor()], provider.shutdown


async def run(address: str, task_queue: str, workflow_id: str, phase: str, telemetry: str) -> str:
    from temporalio.client import Client
    from temporalio.worker import Worker

    plugins, interceptors, shutdown = _configure_telemetry(telemetry)
    try:
        client = await Client.connect(address, plugins=plugins, interceptors=interceptors)
        worker = Worker(client, task_queue=task_queue, workflows=[ResearchWorkflow],
                        activities=[fetch_context, flaky_step, slow_step, finish],
                        # After a crash the next workflow task waits this long on the dead worker's sticky
                        # queue before the server hands it to the normal queue (default 5 s).
                        sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
                        graceful_shutdown_timeout=timedelta(seconds=1))
        async with worker:
            if phase == "first":
                handle = await client.start_workflow(ResearchWorkflow.run, "What is durable execution?",
                                                     id=workflow_id, task_queue=task_queue,
                                                     execution_timeout=timedelta(minutes=2))
            else:
                handle = client.get_workflow_handle(workflow_id)
            return await handle.result()
    finally:
        shutdown()


def main() -> None:
    address, task_queue, workflow_id, run_dir, scenario, telemetry, phase = sys.argv[1:]
    os.environ.update(SPYGLASS_RUN_DIR=run_dir, SPYGLASS_SCENARIO=scenario, SPYGLASS_PHASE=phase)
    truth.worker_started(Path(run_dir), phase)
    result = asyncio.run(run(address, task_queue, workflow_id, phase, telemetry))
    (Path(run_dir) / "result.txt").write_text(result)
    print("done", flush=True)


if __name__ == "__main__":
    main()
