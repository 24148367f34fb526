"""Ground truth shared by the workflow harnesses (DBOS and Temporal): what really ran, and where.

Every step body, model call and tool call of a worker appends one JSON line to `<run_dir>/truth.jsonl`
and fsyncs it, because the worker may be SIGKILLed right after. The tests compare these lines with the
spans and logs Spyglass received.

    {"event": "step", "step": NAME, "pid": PID, "attempt": N, "outcome": "started" | "ok" | "error",
     "error": MESSAGE | None, "time": T}
    {"event": "model_call", "pid": PID, "response_id": ID, "input_tokens": N, "output_tokens": N, "time": T}
    {"event": "tool_call", "tool": NAME, "pid": PID, "time": T}
    {"event": "worker", "pid": PID, "phase": "first" | "resume"}
"""

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SCENARIOS = ("complete", "retry", "crash")
TELEMETRY = ("otel", "logfire")
STEPS = ("fetch_context", "researcher", "flaky_step", "slow_step", "finish")
TRUTH_FILE = "truth.jsonl"
READY_FILE = "ready"


@dataclass
class Run:
    engine: str  # "dbos" | "temporal"
    workflow_id: str
    truth: list[dict]  # the truth.jsonl lines, in write order
    worker_pids: list[int] = field(default_factory=list)  # in start order
    result: str = ""


def append(run_dir: Path, record: dict) -> None:
    """Append one truth line and make it durable before returning: the process may be killed next."""
    line = json.dumps(record) + "\n"
    with open(Path(run_dir) / TRUTH_FILE, "a") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def read(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / TRUTH_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def worker_started(run_dir: Path, phase: str) -> None:
    append(run_dir, {"event": "worker", "pid": os.getpid(), "phase": phase})


def step_event(run_dir: Path, step: str, attempt: int, outcome: str, error: str | None = None) -> None:
    append(run_dir, {"event": "step", "step": step, "pid": os.getpid(), "attempt": attempt,
                     "outcome": outcome, "error": error, "time": time.time()})


@contextmanager
def step_body(run_dir: Path, step: str, attempt: int):
    """Record `started`, then `ok` or `error` (re-raising) around one execution of a step body."""
    step_event(run_dir, step, attempt, "started")
    try:
        yield
    except Exception as error:
        step_event(run_dir, step, attempt, "error", str(error))
        raise
    step_event(run_dir, step, attempt, "ok")


def model_call(run_dir: Path, response_id: str, input_tokens: int, output_tokens: int) -> None:
    append(run_dir, {"event": "model_call", "pid": os.getpid(), "response_id": response_id,
                     "input_tokens": input_tokens, "output_tokens": output_tokens, "time": time.time()})


def tool_call(run_dir: Path, tool: str) -> None:
    append(run_dir, {"event": "tool_call", "tool": tool, "pid": os.getpid(), "time": time.time()})


def attempts(run_dir: Path, step: str) -> int:
    """How many times the body of `step` has started so far (in any process): the next attempt is this + 1."""
    return sum(1 for line in read(run_dir) if line["event"] == "step" and line["step"] == step
               and line["outcome"] == "started")


def telemetry_env(telemetry: str, url: str, service: str) -> dict[str, str]:
    """Environment variables that configure a worker's exporters (the worker reads nothing else)."""
    if telemetry == "otel":
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
            "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel,process",
            "OTEL_SERVICE_NAME": service,
        }
    if telemetry == "logfire":
        return {
            "LOGFIRE_TOKEN": "any",
            "LOGFIRE_BASE_URL": url,
            "LOGFIRE_SEND_TO_LOGFIRE": "true",
            "LOGFIRE_CONSOLE": "false",
            "LOGFIRE_SERVICE_NAME": service,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
        }
    raise ValueError(f"telemetry must be one of {TELEMETRY}, got {telemetry!r}")


def spawn(args: list[str], run_dir: Path, env: dict[str, str], name: str) -> subprocess.Popen:
    """Start a worker process (`python args...`) with its output in `<run_dir>/<name>.log`."""
    log = (Path(run_dir) / f"{name}.log").open("ab")
    clean = {key: value for key, value in os.environ.items()
             if not key.startswith(("OTEL_", "LOGFIRE_"))}
    return subprocess.Popen([sys.executable, *args], stdout=log, stderr=subprocess.STDOUT,
                            env={**clean, **env}, cwd=Path(__file__).resolve().parents[3])


def worker_log(run_dir: Path, name: str) -> str:
    path = Path(run_dir) / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def wait_exit(process: subprocess.Popen, timeout: float, run_dir: Path, name: str) -> None:
    """Wait for a worker to exit with status 0; kill it and raise (with its log) otherwise."""
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise RuntimeError(f"{name} did not exit in {timeout} s:\n{worker_log(run_dir, name)}") from None
    if code != 0:
        raise RuntimeError(f"{name} exited with {code}:\n{worker_log(run_dir, name)}")


def wait_for(predicate, timeout: float, what: str, process: subprocess.Popen | None = None,
             interval: float = 0.05) -> None:
    """Poll `predicate()` until true; fail early if `process` dies meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"worker exited with {process.returncode} while waiting for {what}")
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def reap(process: subprocess.Popen) -> None:
    """Make sure a worker is gone (a test that fails halfway must not leave it running)."""
    if process.poll() is None:
        process.kill()
        process.wait()


def kill(process: subprocess.Popen) -> None:
    """SIGKILL a worker: no exporter flush, no engine shutdown: a real crash."""
    process.send_signal(signal.SIGKILL)
    process.wait()


def query(url: str, sql: str) -> list[dict]:
    """Rows of a SELECT against Spyglass's /api/query, as dicts (the API sends `columns` and list rows)."""
    response = httpx.post(f"{url}/api/query", json={"sql": sql}, timeout=10)
    response.raise_for_status()
    body = response.json()
    return [dict(zip(body["columns"], row)) for row in body["rows"]]


def span_count(url: str, trace_ids_sql: str = "") -> int:
    rows = query(url, f"SELECT count(*) AS n FROM records {trace_ids_sql}")
    return rows[0]["n"] if rows else 0


def wait_for_spans(url: str, names: list[str], timeout: float = 10, since: str | None = None) -> None:
    """Wait until Spyglass holds a record with each of `names` as span_name (optionally only records
    whose service_instance_id or attributes mention `since`, e.g. a workflow id)."""
    def present() -> bool:
        quoted = ", ".join("'" + name.replace("'", "''") + "'" for name in names)
        where = f"span_name IN ({quoted})"
        if since:
            where += " AND CAST(attributes AS VARCHAR) LIKE '%" + since.replace("'", "''") + "%'"
        rows = query(url, f"SELECT DISTINCT span_name FROM records WHERE {where}")
        return {row["span_name"] for row in rows} >= set(names)
    wait_for(present, timeout, f"spans {names} in Spyglass", interval=0.1)
