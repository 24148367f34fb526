"""Run `research_workflow` on DBOS in real worker processes (dbos_worker.py) that export to a Spyglass server.

    run = run_scenario(server, "crash", "logfire", tmp_path / "run")

`crash`: worker 1 is SIGKILLed inside `slow_step`, once the spans of the steps before it are in
Spyglass; worker 2 launches DBOS on the same SQLite system database, which recovers the workflow (same
id, same executor id "local", same application version) and completes it.
"""

import uuid
from pathlib import Path

from tests.e2e.workflows import truth
from tests.e2e.workflows.truth import Run

WORKER = Path(__file__).with_name("dbos_worker.py")
WORKER_TIMEOUT = 60  # seconds; a run takes a few on an idle machine
# What must be in Spyglass before the crash: the spans of the completed steps, and the DEBUG log saying
# slow_step began (logfire also sends slow_step's pending span: the only trace of the open span).
BEFORE_CRASH = ["fetch_context", "researcher__model.request", "chat gpt-4o-mini", "flaky_step",
                "Running step, id: 5, name: slow_step"]


def _before_crash_arrived(url: str, workflow_id: str, telemetry: str) -> bool:
    """Whether the records of worker 1 that the crash must not lose are stored (all in the workflow's trace)."""
    rows = truth.query(url, f"""
        SELECT DISTINCT span_name FROM records WHERE trace_id IN (
            SELECT trace_id FROM records
            WHERE span_name = 'fetch_context' AND CAST(attributes AS VARCHAR) LIKE '%"{workflow_id}"%')""")
    expected = set(BEFORE_CRASH) | ({"slow_step"} if telemetry == "logfire" else set())
    return {row["span_name"] for row in rows} >= expected


def run_scenario(server, scenario: str, telemetry: str, run_dir: Path) -> Run:
    """Run one scenario to completion; returns once every worker has exited and flushed its telemetry."""
    if scenario not in truth.SCENARIOS:
        raise ValueError(f"scenario must be one of {truth.SCENARIOS}, got {scenario!r}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    workflow_id = f"research-{scenario}-{telemetry}-{uuid.uuid4().hex[:8]}"
    env = truth.telemetry_env(telemetry, server.url, "dbos-research")
    pids = []

    def worker(phase: str):
        process = truth.spawn([str(WORKER), str(run_dir), scenario, telemetry, phase, workflow_id],
                              run_dir, env, f"worker-{phase}")
        pids.append(process.pid)
        return process

    first = worker("first")
    if scenario == "crash":
        ready = run_dir / truth.READY_FILE
        truth.wait_for(ready.exists, WORKER_TIMEOUT, "slow_step to start", process=first)
        truth.wait_for(lambda: _before_crash_arrived(server.url, workflow_id, telemetry), 15,
                       "worker 1's records in Spyglass", process=first, interval=0.1)
        truth.kill(first)
        second = worker("resume")
        truth.wait_exit(second, WORKER_TIMEOUT, run_dir, "worker-resume")
    else:
        truth.wait_exit(first, WORKER_TIMEOUT, run_dir, "worker-first")
    result = (run_dir / "result.txt").read_text()
    return Run(engine="dbos", workflow_id=workflow_id, truth=truth.read(run_dir), worker_pids=pids, result=result)
