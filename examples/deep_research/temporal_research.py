"""Deep research as a Temporal workflow, run by a worker in this process against a local dev server.

    deep_research (workflow)
      plan                                       activity: the planner agent's one model call
      searcher x N, in parallel (TaskGroup)      pydantic-ai TemporalAgent runs in the workflow:
        agent__searcher__model_request             activity: model call 1 (asks for the search tool)
        agent__searcher__toolset__...__call_tool   activity: the canned search (heartbeats)
        agent__searcher__model_request             activity: model call 2 (the summary)
      analyse                                    activity, start_to_close_timeout = --analysis-timeout

Temporal runs workflow code deterministically, so parallel agent runs in one workflow are safe. The
dev server (examples.durable.start_or_reuse_dev_server) keeps its history in `<data dir>/temporal.db`
and outlives a crashed worker, so a resumed run finds the workflow there; it is stopped when the
workflow ends. Run as `python -m` from the repository root: the workflow sandbox re-imports this module.
"""

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.workflow import ActivityConfig

with workflow.unsafe.imports_passed_through():
    import threading
    import warnings

    from pydantic_ai.durable_exec.temporal import TemporalAgent

    from examples.deep_research import corpus, research, runtime
    from examples.durable import record, start_or_reuse_dev_server

TASK_QUEUE = "deep-research"
PASSED_THROUGH = ("examples.durable", "examples.deep_research.runtime", "examples.deep_research.research",
                  "examples.deep_research.corpus")
RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=1.0, maximum_attempts=4)
ANALYSIS_ATTEMPTS = 2
# A search heartbeats: when its worker dies, the server gives up on the attempt after this long and
# hands the activity to the next worker.
SEARCH_HEARTBEAT = timedelta(seconds=2)


@dataclass
class ResearchRequest:
    question: str
    max_searches: int
    analysis_timeout: float
    search_seconds: float


async def search(query: str, seconds: float) -> list[corpus.SearchResult]:
    """The search tool's body, inside the tool-call activity: heartbeats while the canned search runs."""
    record("step", step="search", query=query, outcome="started")
    runtime.get().faults.maybe_fail("search")
    task = asyncio.ensure_future(research.canned_search(query, seconds))
    while not task.done():
        activity.heartbeat()
        await asyncio.wait([task], timeout=0.2)
    record("step", step="search", query=query, outcome="ok")
    return task.result()


@activity.defn
async def plan(question: str, max_searches: int) -> research.ResearchPlan:
    record("step", step="plan", outcome="started")
    result = await research.planner_agent(runtime.get().planner).run(research.plan_prompt(question, max_searches))
    record("step", step="plan", outcome="ok")
    return result.output


@activity.defn
async def analyse(question: str, findings: list[research.Finding]) -> str:
    """The long-running step; its time limit is the activity's start_to_close_timeout (set by the workflow)."""
    record("step", step="analyse", outcome="started")
    result = await research.analyst_agent(runtime.get().analyst).run(research.analysis_prompt(question, findings))
    record("step", step="analyse", outcome="ok")
    return result.output


@workflow.defn(name="deep_research")
class DeepResearch:
    @workflow.run
    async def run(self, request: ResearchRequest) -> str:
        research_plan = await workflow.execute_activity(
            plan, args=[request.question, request.max_searches],
            start_to_close_timeout=timedelta(seconds=120), retry_policy=RETRY)
        searcher = runtime.get().durable_searcher

        async def run_search(position: int, item: research.Search) -> research.Finding:
            result = await searcher.run(research.search_prompt(request.question, item),
                                        deps=research.SearchDeps.at(position, request.search_seconds))
            if not workflow.unsafe.is_replaying():  # a replay restores this search: nothing new happened
                with workflow.unsafe.sandbox_unrestricted():
                    record("search_done", position=position, query=item.query)
                    # In a plain thread: the crash flushes the exporters first, and their lazy imports
                    # fail under the sandbox's import machinery (losing the batch).
                    crash = threading.Thread(target=_progress_and_maybe_crash)
                    crash.start()
                    crash.join()
            return research.Finding(item.query, result.output)

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(run_search(position, item))
                     for position, item in enumerate(research_plan.searches)]
        return await workflow.execute_activity(
            analyse, args=[request.question, [task.result() for task in tasks]],
            start_to_close_timeout=timedelta(seconds=request.analysis_timeout),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=ANALYSIS_ATTEMPTS))


def _progress_and_maybe_crash() -> None:
    faults = runtime.get().faults
    faults.progress()
    faults.crash_if_due()  # --crash-after N: N searches are done, the others are in flight


def build() -> TemporalAgent:
    """Wrap the searcher in a TemporalAgent (its activities are registered with the worker)."""
    # TemporalAgent is deprecated in pydantic-ai 2.68 in favour of the TemporalDurability capability; its
    # activity names (agent__searcher__model_request) are the ones Spyglass's tests measured.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        searcher = TemporalAgent(
            research.searcher_agent(runtime.get().searcher, search), name="searcher",
            activity_config=ActivityConfig(start_to_close_timeout=timedelta(seconds=120), retry_policy=RETRY,
                                           heartbeat_timeout=SEARCH_HEARTBEAT),
            model_activity_config=ActivityConfig(heartbeat_timeout=None))
    runtime.get().durable_searcher = searcher
    return searcher


def run(question: str, workflow_id: str, data_dir: Path, max_searches: int, analysis_timeout: float,
        search_seconds: float) -> str:
    return asyncio.run(_run(ResearchRequest(question, max_searches, analysis_timeout, search_seconds),
                            workflow_id, data_dir))


async def _run(request: ResearchRequest, workflow_id: str, data_dir: Path) -> str:
    from temporalio.client import Client
    from temporalio.exceptions import WorkflowAlreadyStartedError
    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    searcher = build()
    telemetry = runtime.get().telemetry
    server = start_or_reuse_dev_server(data_dir)
    client = await Client.connect(server.address, plugins=telemetry.temporal_plugins(),
                                  interceptors=telemetry.temporal_interceptors())
    # The sandbox re-imports this module for every workflow run; the modules holding the process's
    # state (runtime: the TemporalAgent, the faults) must be the real ones, not fresh copies.
    runner = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH))
    worker = Worker(client, task_queue=TASK_QUEUE, workflows=[DeepResearch], workflow_runner=runner,
                    activities=[plan, analyse, *searcher.temporal_activities],
                    # after a crash the next workflow task waits this long on the dead worker's sticky queue
                    sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
                    graceful_shutdown_timeout=timedelta(seconds=1))
    try:
        async with worker:
            try:  # a new workflow, or the running one with this id (a crashed run resumes here)
                handle = await client.start_workflow(
                    DeepResearch.run, request, id=workflow_id, task_queue=TASK_QUEUE,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    # a workflow task held by a crashed worker is handed on after this (default 10 s)
                    task_timeout=timedelta(seconds=2))
            except WorkflowAlreadyStartedError:  # it has ended: read its result
                handle = client.get_workflow_handle(workflow_id)
            return await handle.result()
    finally:
        server.stop()
