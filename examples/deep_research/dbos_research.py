"""Deep research as a DBOS workflow (SQLite system database in the data directory).

    deep_research                       the workflow (async)
      plan                              step: the planner agent's one model call
      searcher.run  x N, in parallel    child workflows (pydantic-ai's DBOSAgent), one per search:
        searcher__model.request           step: model call 1 (asks for the search tool)
        search                            step: the canned search
        searcher__model.request           step: model call 2 (the summary)
      analyse                           step: the analyst agent, limited to --analysis-timeout seconds

Why child workflows for the searches: DBOS numbers the steps of a workflow in the order they start.
Parallel agents inside one workflow would start their steps in whatever order timing gives, and a
recovered run could hand one search's recorded model response to another. Child workflow ids are
`{parent}-{step number}`, taken in the order the TaskGroup starts its tasks: always the same.
"""

import asyncio
import warnings
from pathlib import Path

from dbos import DBOS, DBOSConfig, SetWorkflowID
from pydantic_ai.durable_exec.dbos import DBOSAgent, StepConfig

from examples.deep_research import corpus, research, runtime
from examples.durable import export_only_dbos_logs_in_spans, record

RETRIES = {"retries_allowed": True, "max_attempts": 4, "interval_seconds": 0.2, "backoff_rate": 1.0}
ANALYSIS_ATTEMPTS = 2

@DBOS.step(**RETRIES)
async def search(query: str, seconds: float) -> list[corpus.SearchResult]:
    """The search tool's durable step: restored, not run again, after a crash."""
    record("step", step="search", query=query, outcome="started")
    runtime.get().faults.maybe_fail("search")
    results = await research.canned_search(query, seconds)
    record("step", step="search", query=query, outcome="ok")
    return results


@DBOS.step(**RETRIES)
async def plan(question: str, max_searches: int) -> research.ResearchPlan:
    record("step", step="plan", outcome="started")
    result = await research.planner_agent(runtime.get().planner).run(research.plan_prompt(question, max_searches))
    record("step", step="plan", outcome="ok")
    return result.output


@DBOS.step(retries_allowed=True, max_attempts=ANALYSIS_ATTEMPTS, interval_seconds=0.2, backoff_rate=1.0)
async def analyse(question: str, findings: list[research.Finding], timeout: float) -> str:
    """The long-running step: each attempt is cancelled after `timeout` seconds (TimeoutError)."""
    record("step", step="analyse", outcome="started")
    try:
        async with asyncio.timeout(timeout):
            result = await research.analyst_agent(runtime.get().analyst).run(research.analysis_prompt(question, findings))
    except TimeoutError:
        record("step", step="analyse", outcome="timeout")
        raise TimeoutError(f"analysis exceeded --analysis-timeout {timeout} s") from None
    record("step", step="analyse", outcome="ok")
    return result.output


@DBOS.workflow(name="deep_research")
async def deep_research(question: str, max_searches: int, analysis_timeout: float, search_seconds: float) -> str:
    research_plan = await plan(question, max_searches)

    async def run_search(position: int, item: research.Search) -> research.Finding:
        searcher = runtime.get().durable_searcher
        result = await searcher.run(research.search_prompt(question, item), deps=research.SearchDeps.at(position, search_seconds))
        record("search_done", position=position, query=item.query)
        faults = runtime.get().faults
        faults.progress()
        faults.crash_if_due()  # --crash-after N: N searches are done, the others are in flight
        return research.Finding(item.query, result.output)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(run_search(position, item)) for position, item in enumerate(research_plan.searches)]
    return await analyse(question, [task.result() for task in tasks], analysis_timeout)


def build() -> None:
    """Wrap the searcher in a DBOSAgent (registers its child workflow and steps); before DBOS.launch()."""
    # DBOSAgent is deprecated in pydantic-ai 2.68 in favour of the DBOSDurability capability; it runs each
    # agent run as a child workflow, which is what parallel searches need (see the module docstring).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runtime.get().durable_searcher = DBOSAgent(research.searcher_agent(runtime.get().searcher, search),
                             model_step_config=StepConfig(**RETRIES))


def run(question: str, workflow_id: str, data_dir: Path, max_searches: int, analysis_timeout: float,
        search_seconds: float) -> str:
    """Start the workflow (or, when `workflow_id` exists, recover it / fetch its result) and wait for it."""
    build()
    config: DBOSConfig = {
        "name": "deep-research",
        "system_database_url": f"sqlite:///{data_dir / 'dbos.sqlite'}",
        "enable_otlp": True,  # into the providers examples.durable.configure_telemetry set up
        "log_level": "DEBUG",  # `Running step` / `Replaying step` records: Spyglass's evidence
        "console_log_level": "WARNING",
        "notification_listener_polling_interval_sec": 0.05,
    }
    DBOS(config=config)
    export_only_dbos_logs_in_spans()
    DBOS.launch()  # recovers this executor's pending workflows: a crashed run continues here
    try:
        with SetWorkflowID(workflow_id):
            handle = DBOS.start_workflow(deep_research, question, max_searches, analysis_timeout, search_seconds)
        return handle.get_result(polling_interval_sec=0.05)
    finally:
        DBOS.destroy()
