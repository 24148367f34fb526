"""`spyglass demo`: runs the seed examples against a running Spyglass, so that a first `make run`
shows live traces, LLM conversations, a workflow restored after a crash, retries, costs and a model
comparison.

    spyglass demo [--url http://127.0.0.1:4318] [--engine dbos|temporal] [--data-dir DIR]

1. examples/twenty_questions with injected failures, killed (SIGKILL) after three questions, then
   the same command again, which resumes the game from the engine's history;
2. examples/deep_research (plan, parallel searches, analysis);
3. examples/evals (pydantic-evals: the twenty questions games, one experiment per model).

Every example runs offline with scripted models, as its own process, exporting by the standard
OTEL_* variables. Their dependencies are the `examples` extra (`pip install -e '.[examples]'`),
never the server's.
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_NEED = ("pydantic_ai", "dbos", "temporalio", "pydantic_evals", "logfire", "opentelemetry.sdk")
STEP_TIMEOUT = 300  # seconds for one example process


class DemoFailed(Exception):
    """The demo cannot run or an example failed; the message says what to do."""


@dataclass(frozen=True)
class Step:
    title: str
    args: tuple[str, ...]
    crashes: bool = False  # the example kills itself with SIGKILL on purpose


def steps(engine: str, data_dir: Path, game_id: str) -> list[Step]:
    game = ("-m", "examples.twenty_questions", "--engine", engine, "--workflow-id", game_id,
            "--data-dir", str(data_dir / "twenty_questions"), "--fail-rate", "0.2", "--crash-after", "3", "--seed", "7")
    return [
        Step("twenty questions: the worker kills itself after question 3", game, crashes=True),
        Step("twenty questions: the same command again resumes the game from history", game),
        Step("deep research: plan, parallel searches, analysis",
             ("-m", "examples.deep_research", "--engine", engine, "--data-dir", str(data_dir / "deep_research"),
              "--fail-rate", "0.1", "--seed", "7")),
        Step("evals: the twenty questions games for three scripted models", ("-m", "examples.evals")),
    ]


def check_ready(url: str) -> None:
    missing = [name for name in EXAMPLES_NEED if find_spec(name.split(".")[0]) is None]
    if missing or not (ROOT / "examples").is_dir():
        raise DemoFailed(f"the examples need packages that are not installed ({', '.join(missing)}): run "
                         f"`pip install -e '.[examples]'` in {ROOT} (or `make demo`), then try again")
    try:
        httpx.get(f"{url}/api/stats", timeout=5).raise_for_status()
    except httpx.HTTPError as error:
        raise DemoFailed(f"no Spyglass answers at {url} ({error}): start it with `make run` or "
                         f"`spyglass serve`, or pass --url") from None


def run(url: str, engine: str, data_dir: Path, out=sys.stdout) -> str:
    """Run every step; returns the twenty questions workflow id. Raises DemoFailed."""
    check_ready(url)
    data_dir.mkdir(parents=True, exist_ok=True)
    game_id = f"demo-game-{int(time.time())}"
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": url, "PYTHONUNBUFFERED": "1"}
    for index, step in enumerate(steps(engine, data_dir, game_id), 1):
        print(f"[{index}] {step.title}", file=out, flush=True)
        started = time.monotonic()
        try:
            done = subprocess.run([sys.executable, *step.args], cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise DemoFailed(f"{step.title}: no result in {STEP_TIMEOUT} s") from None
        expected = -signal.SIGKILL if step.crashes else 0
        if done.returncode != expected:
            raise DemoFailed(f"{step.title}: exited with {done.returncode}, expected {expected}\n"
                             f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
        tail = [line for line in done.stdout.splitlines() if line.strip()][-1:]
        print(f"    {time.monotonic() - started:.1f} s{': ' + tail[0] if tail else ''}", file=out, flush=True)
    print(f"""
Now open {url}:
  {url}/                              live traces as they arrived
  {url}/workflows/{engine}/{game_id}   the game: the crash, the recovery, restored steps, retries, true cost
  {url}/workflows                     every workflow (the deep research run too)
  {url}/llms  and  {url}/agents      cost, tokens and latency per model; runs per agent
  {url}/evals                         the model comparison (tick two experiments, then Compare)
  {url}/explore                       SQL: SELECT * FROM workflow_steps""", file=out)
    return game_id
