"""Run `research_workflow` on Prefect 3.9 in real worker processes (prefect_worker.py, run with
.venv-prefect/bin/python: Prefect's pins clash with the main virtualenv) that export to a Spyglass server.

    run = run_scenario(server, "crash", "otel", tmp_path / "run")

Each call starts its own `prefect server start` (API only: no UI, no background services, analytics
off) on a free port with its SQLite database and PREFECT_HOME in the run directory, so nothing leaves
the machine and calls share nothing. The database is migrated once per process into a template that
each call copies (migrating takes most of a server's start-up).

`crash`: worker 1 is SIGKILLed inside `slow_step`, once the spans of the tasks before it are in
Spyglass; worker 2 runs the same flow run again, and the tasks that had finished come back `Cached`.
Telemetry is `otel` only: the workers set the global OTel tracer provider that Prefect's run telemetry
uses (logfire mode is not set up for Prefect).
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.e2e.workflows import truth
from tests.e2e.workflows.truth import Run

ROOT = Path(__file__).resolve().parents[3]
VENV = ROOT / ".venv-prefect"
PYTHON = VENV / "bin" / "python"
WORKER = Path(__file__).with_name("prefect_worker.py")
SERVICE = "prefect-research"
TELEMETRY = ("otel",)
WORKER_TIMEOUT = 60  # seconds; a run takes a few on an idle machine
# The tasks that have finished when slow_step starts (names without Prefect's random suffix), each
# with how many finished spans of it must be in Spyglass before the crash.
BEFORE_CRASH = {"fetch_context": 1, "Model Request: gpt-4o-mini": 2, "Call Tool: lookup": 1, "flaky_step": 1}
_template: Path | None = None  # a migrated, empty Prefect database


def _server_env(home: Path, database: Path) -> dict[str, str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "LOGFIRE_", "PREFECT_"))}
    return {**clean, "PREFECT_HOME": str(home), "DO_NOT_TRACK": "1",
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{database}",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_UI_ENABLED": "false",
            "PREFECT_SERVER_LOGGING_LEVEL": "WARNING"}


@contextmanager
def prefect_server(run_dir: Path, timeout: float = 60):
    """A Prefect API server on a free port with its SQLite database in run_dir; yields its API URL."""
    global _template
    database = run_dir / "prefect.db"
    migrated = _template is not None
    if migrated:
        shutil.copyfile(_template, database)
    env = _server_env(run_dir / "prefect-home", database)
    if migrated:
        env["PREFECT_API_DATABASE_MIGRATE_ON_START"] = "false"
    port = free_port()
    log = (run_dir / "prefect-server.log").open("wb")
    process = subprocess.Popen(
        [str(VENV / "bin" / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port),
         "--no-services", "--no-ui", "--analytics-off"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=run_dir, start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    try:
        truth.wait_for(lambda: _healthy(api), timeout, "the Prefect server", process, interval=0.1)
        if not migrated:
            template = Path(tempfile.mkdtemp(prefix="prefect-template-")) / "prefect.db"
            with _sqlite_copy_lock(database):
                shutil.copyfile(database, template)
            _template = template
        yield api
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


@contextmanager
def _sqlite_copy_lock(database: Path):
    """Copy a consistent snapshot: the server writes nothing between start-up and the first request
    except its WAL, which is checkpointed into the main file by this exclusive transaction."""
    import sqlite3

    connection = sqlite3.connect(database, timeout=10)
    try:
        connection.execute("PRAGMA wal_checkpoint(FULL)")
        connection.execute("BEGIN IMMEDIATE")
        yield
    finally:
        connection.rollback()
        connection.close()


def _healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _spawn(run_dir: Path, env: dict[str, str], scenario: str, telemetry: str, phase: str, name: str) -> subprocess.Popen:
    """Start a worker with .venv-prefect's interpreter (truth.spawn uses the test's own)."""
    log = (run_dir / f"{name}.log").open("ab")
    return subprocess.Popen([str(PYTHON), str(WORKER), str(run_dir), scenario, telemetry, phase],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def _before_crash_arrived(url: str, pid: int) -> bool:
    """Whether every task that finished before slow_step has a finished span in Spyglass. Task spans do
    not name their flow run, and the flow run's own span is still open: look for the worker's pid."""
    rows = truth.query(url, f"""
        SELECT regexp_replace(attributes->>'prefect.run.name', '-[0-9a-z]{{3}}$', '') AS task, count(*) AS n
        FROM records
        WHERE kind = 'span' AND process_pid = {int(pid)} AND attributes->>'prefect.run.type' = 'task'
        GROUP BY task""")
    counts = {row["task"]: row["n"] for row in rows}
    return all(counts.get(name, 0) >= n for name, n in BEFORE_CRASH.items())


def run_scenario(server, scenario: str, telemetry: str, run_dir: Path) -> Run:
    """Run one scenario to completion; returns once every worker has exited and flushed its telemetry."""
    if scenario not in truth.SCENARIOS:
        raise ValueError(f"scenario must be one of {truth.SCENARIOS}, got {scenario!r}")
    if telemetry not in TELEMETRY:
        raise ValueError(f"telemetry must be one of {TELEMETRY} for Prefect, got {telemetry!r}")
    if not PYTHON.exists():
        raise RuntimeError(f"{PYTHON} is missing: run `make .venv-prefect/.installed`")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    pids = []
    with prefect_server(run_dir) as api:
        env = {**_server_env(run_dir / "prefect-home", run_dir / "prefect.db"),
               **truth.telemetry_env(telemetry, server.url, SERVICE),
               "PREFECT_API_URL": api, "PREFECT_LOCAL_STORAGE_PATH": str(run_dir / "results"),
               "PREFECT_LOGGING_LEVEL": "WARNING"}

        def worker(phase: str) -> subprocess.Popen:
            process = _spawn(run_dir, env, scenario, telemetry, phase, f"worker-{phase}")
            pids.append(process.pid)
            return process

        first = worker("first")
        try:
            if scenario == "crash":
                ready = run_dir / truth.READY_FILE
                truth.wait_for(ready.exists, WORKER_TIMEOUT, "slow_step to start", process=first)
                truth.wait_for(lambda: _before_crash_arrived(server.url, first.pid), 15,
                               "worker 1's task spans in Spyglass", process=first, interval=0.1)
                truth.kill(first)
                second = worker("resume")
                try:
                    truth.wait_exit(second, WORKER_TIMEOUT, run_dir, "worker-resume")
                finally:
                    truth.reap(second)
            else:
                truth.wait_exit(first, WORKER_TIMEOUT, run_dir, "worker-first")
        finally:
            truth.reap(first)
    return Run(engine="prefect", workflow_id=(run_dir / "flow_run_id").read_text(), truth=truth.read(run_dir),
               worker_pids=pids, result=(run_dir / "result.txt").read_text())


if __name__ == "__main__":
    # python -m tests.e2e.workflows.prefect_harness SCENARIO [TELEMETRY]: one run against a fresh Spyglass.
    import sys

    from tests.conftest import start_server

    with tempfile.TemporaryDirectory() as tmp:
        spyglass = start_server(Path(tmp) / "spyglass.duckdb")
        try:
            began = time.monotonic()
            run = run_scenario(spyglass, sys.argv[1], (sys.argv[2:] or ["otel"])[0], Path(tmp) / "run")
            print(f"{time.monotonic() - began:.1f} s, flow run {run.workflow_id}, workers {run.worker_pids}")
            for row in truth.query(spyglass.url, "SELECT step_name, status, attempt, process_pid, evidence "
                                                 "FROM workflow_steps ORDER BY started_at"):
                print(row)
            print(truth.query(spyglass.url, "SELECT * FROM workflows"))
        finally:
            spyglass.stop()
