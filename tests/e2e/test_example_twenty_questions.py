"""examples/twenty_questions end to end: a short game on each engine with injected failures, a SIGKILL
after two questions and a resume with the same --workflow-id, exported to a real Spyglass server.

The example writes what really happened (every model call, injected failure and the crash) to
SPYGLASS_EXAMPLE_TRUTH; the `workflows` row, the `workflow_steps` rows and the true cost must agree.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from genai_prices import Usage, calc_price

from tests.conftest import ROOT, screenshot, start_server
from tests.e2e.workflows.truth import query
from web.llm_pages import money

ARGS = ["--max-questions", "6", "--fail-rate", "0.3", "--seed", "1", "--crash-after", "2"]
STEP = {"dbos": "{agent}__model.request", "temporal": "agent__{agent}__model_request"}
RUN_TIMEOUT = 60
SETTLE_SECONDS = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("twenty_questions") / "spyglass.duckdb")
    yield srv
    srv.stop()


def run_example(engine: str, workflow_id: str, tmp_path: Path, url: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "LOGFIRE_"))}
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=url, OTEL_BSP_SCHEDULE_DELAY="200", OTEL_BLRP_SCHEDULE_DELAY="200",
               SPYGLASS_EXAMPLE_TRUTH=str(tmp_path / "truth.jsonl"))
    command = [sys.executable, "-m", "examples.twenty_questions", "--engine", engine, "--workflow-id", workflow_id,
               "--data-dir", str(tmp_path / "data"), *ARGS]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)


def stop_dev_server(data_dir: Path) -> None:
    """A failed Temporal run may leave its dev server up (the example stops it only after a finished game)."""
    state = data_dir / "temporal-server.json"
    if state.exists():
        try:
            os.kill(json.loads(state.read_text())["pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass


def expected_steps(engine: str, truth: list[dict], pids: list[int]) -> Counter:
    """(step, status, pid) -> rows, from what really ran."""
    rows = Counter()
    for line in truth:
        if line["event"] in ("model_call", "failure"):
            agent = line["agent"] if line["event"] == "model_call" else line["what"]
            status = "executed" if line["event"] == "model_call" else "retried"
            rows[(STEP[engine].format(agent=agent), status, line["pid"])] += 1
    first, second = pids
    for (step, status, pid), count in list(rows.items()):
        if status == "executed" and pid == first:
            rows[(step, "restored", second)] += count  # the resumed worker took them from history
    if engine == "dbos":
        # the questioner's request in flight when the worker killed itself; Temporal under plain OTel
        # sends nothing for the lost attempt (docs/workflows.md)
        rows[(STEP[engine].format(agent="questioner"), "interrupted", first)] += 1
    return rows


def true_cost(truth: list[dict]) -> float:
    return sum(float(calc_price(Usage(input_tokens=line["input_tokens"], output_tokens=line["output_tokens"]),
                                line["model"], provider_id=line["provider"]).total_price)
               for line in truth if line["event"] == "model_call")


@pytest.mark.parametrize("engine", ["dbos", "temporal"])
def test_crash_and_resume_show_in_spyglass(server, tmp_path, engine, page):
    workflow_id = f"twenty-questions-{engine}-{tmp_path.name[-8:]}"
    try:
        began = time.monotonic()
        crashed = run_example(engine, workflow_id, tmp_path, server.url)
        assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
        resumed = run_example(engine, workflow_id, tmp_path, server.url)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        elapsed = time.monotonic() - began
    finally:
        stop_dev_server(tmp_path / "data")
    truth = [json.loads(line) for line in (tmp_path / "truth.jsonl").read_text().splitlines()]
    pids = list(dict.fromkeys(line["pid"] for line in truth if line["event"] == "model_call"))
    game = [line for line in truth if line["event"] == "game"]
    assert len(pids) == 2 and [line["event"] for line in truth].count("crash") == 1
    assert len(game) == 1 and game[0]["won"] and "won after" in resumed.stdout
    failures = sum(1 for line in truth if line["event"] == "failure")
    calls = [line for line in truth if line["event"] == "model_call"]
    assert failures >= 1 and len(calls) == 2 * game[0]["questions"]

    expected = expected_steps(engine, truth, pids)
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        workflow = query(server.url, f"SELECT * FROM workflows WHERE engine = '{engine}' AND workflow_id = '{workflow_id}'")
        steps = query(server.url, f"""SELECT step_name, status, process_pid FROM workflow_steps
                                      WHERE engine = '{engine}' AND workflow_id = '{workflow_id}'""")
        seen = Counter((row["step_name"], row["status"], row["process_pid"]) for row in steps)
        if (workflow and workflow[0]["status"] == "completed" and seen == expected) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert seen == expected
    workflow = workflow[0]
    assert workflow["status"] == "completed" and workflow["processes"] == 2
    assert workflow["recoveries"] == 1 and workflow["retries"] == failures >= 1
    assert workflow["restored_steps"] == sum(n for key, n in expected.items() if key[1] == "restored")
    # every real call is in llm_calls once as not restored, with the price genai-prices gives here
    ids = ", ".join(f"'{line['response_id']}'" for line in calls)
    priced = query(server.url, f"SELECT response_id, restored, cost_usd FROM llm_calls WHERE response_id IN ({ids})")
    assert Counter(row["response_id"] for row in priced if not row["restored"]) == Counter(line["response_id"] for line in calls)
    assert sum(row["cost_usd"] for row in priced if not row["restored"]) == pytest.approx(true_cost(truth), rel=1e-9)
    assert sum(1 for row in priced if row["restored"]) == workflow["restored_calls"] > 0

    page.goto(f"{server.url}/workflows/{engine}/{workflow_id}")
    assert page.locator("#workflow-status").inner_text() == "completed"
    assert page.locator("#recoveries").inner_text() == "1"
    assert page.locator("#true-cost").inner_text() == money(workflow["true_cost_usd"])
    assert page.locator(".lane").count() == 2
    assert not page.js_errors
    screenshot(page, f"twenty_questions_{engine}")
    assert httpx.get(f"{server.url}/workflows", params={"engine": engine}).status_code == 200
    print(f"{engine}: {elapsed:.1f} s for crash + resume, {len(calls)} calls, {failures} retries, "
          f"true ${workflow['true_cost_usd']:.6f}, naive ${workflow['naive_cost_usd']:.6f}")
    assert workflow["model_calls"] - workflow["restored_calls"] == len(calls)
    assert workflow["true_cost_usd"] == pytest.approx(true_cost(truth), rel=1e-9)
    assert workflow["naive_cost_usd"] > workflow["true_cost_usd"]
