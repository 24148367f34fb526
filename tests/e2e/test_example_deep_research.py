"""examples/deep_research on each engine, offline, against a real Spyglass server: a plan of three
searches, the worker SIGKILLed after the first search completed (--crash-after 1) and resumed with the
same --workflow-id. The example writes what really ran (SPYGLASS_EXAMPLE_TRUTH); Spyglass must show
the workflow completed with one recovery, the steps executed and restored as the truth says, the
parallel searches overlapping, and the true cost of the model calls that really happened.
"""

import os
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest
from genai_prices import Usage, calc_price

from tests.conftest import ROOT, screenshot, start_server
from tests.e2e.workflows.truth import query

SEARCHES = 3
# each engine's step names: the searcher's model requests and its search tool
MODEL_STEP = {"dbos": "searcher__model.request", "temporal": "agent__searcher__model_request"}
SEARCH_STEP = {"dbos": "search", "temporal": "agent__searcher__toolset__<agent>__call_tool"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("deep_research") / "spyglass.duckdb")
    yield srv
    srv.stop()


def run_example(server, engine: str, data_dir, truth, workflow_id: str, *extra: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "LOGFIRE_"))}
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=server.url, OTEL_BSP_SCHEDULE_DELAY="200", OTEL_BLRP_SCHEDULE_DELAY="200",
               SPYGLASS_EXAMPLE_TRUTH=str(truth))
    return subprocess.run(
        [sys.executable, "-m", "examples.deep_research", "How do durable agents survive a crash?", "--engine", engine,
         "--data-dir", str(data_dir), "--workflow-id", workflow_id, "--max-searches", str(SEARCHES),
         "--search-seconds", "1.0", "--analysis-seconds", "0.3", *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)


def read_truth(path) -> list[dict]:
    import json

    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def family(engine: str, workflow_id: str) -> str:
    """The workflow and, on DBOS, its child workflows (one per search: DBOSAgent runs)."""
    if engine == "dbos":
        return f"(workflow_id = '{workflow_id}' OR workflow_id LIKE '{workflow_id}-%')"
    return f"workflow_id = '{workflow_id}'"


def settled(server, engine: str, workflow_id: str, real_calls: int) -> dict:
    deadline = time.monotonic() + 30
    while True:
        rows = query(server.url, f"SELECT * FROM workflows WHERE engine = '{engine}' AND workflow_id = '{workflow_id}'")
        if rows and rows[0]["status"] == "completed" and rows[0]["model_calls"] - rows[0]["restored_calls"] >= real_calls:
            return rows[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"workflow not settled: {rows}")
        time.sleep(0.3)


def expected_steps(engine: str, truth: list[dict]) -> Counter:
    """(step, status, pid) rows that workflow_steps must hold for the durable steps, from the truth."""
    first, second = [line["pid"] for line in truth if line["event"] == "worker"]
    rows = Counter()
    for line in truth:
        if line["event"] == "step" and line["outcome"] == "ok":
            rows[(SEARCH_STEP[engine] if line["step"] == "search" else line["step"], "executed", line["pid"])] += 1
        if line["event"] == "model_call" and line["agent"] == "searcher":
            rows[(MODEL_STEP[engine], "executed", line["pid"])] += 1
    if engine == "temporal":  # the second worker replayed the history: every step the first finished
        for (step, status, pid), count in list(rows.items()):
            if pid == first:
                rows[(step, "restored", second)] += count
    else:  # DBOS restores the parent's plan step and the finished steps of the searches still in flight
        done = sum(1 for line in truth if line["event"] == "search_done" and line["pid"] == first)
        in_flight_calls = rows[(MODEL_STEP[engine], "executed", first)] - 2 * done
        searches_ok = {line["query"] for line in truth if line["event"] == "step" and line["step"] == "search"
                       and line["outcome"] == "ok" and line["pid"] == first}
        rows[("plan", "restored", second)] += 1
        rows[(MODEL_STEP[engine], "restored", second)] += in_flight_calls
        rows[(SEARCH_STEP[engine], "restored", second)] += len(searches_ok) - done
        started = [line for line in truth if line["event"] == "step" and line["step"] == "search"
                   and line["outcome"] == "started" and line["pid"] == first]
        rows[(SEARCH_STEP[engine], "interrupted", first)] += len(started) - len(searches_ok)
    return +rows


def true_cost(truth: list[dict]) -> float:
    return sum(float(calc_price(Usage(input_tokens=line["input_tokens"], output_tokens=line["output_tokens"]),
                                line["model"], provider_id=line["provider"]).total_price)
               for line in truth if line["event"] == "model_call")


@pytest.mark.parametrize("engine", ["dbos", "temporal"])
def test_deep_research_crash_and_resume(server, tmp_path, page, engine):
    workflow_id, truth_path, data_dir = f"deep-research-{engine}-{uuid.uuid4().hex[:6]}", tmp_path / "truth.jsonl", tmp_path / "data"
    began = time.monotonic()
    crashed = run_example(server, engine, data_dir, truth_path, workflow_id, "--crash-after", "1")
    assert crashed.returncode == -9, crashed.stderr[-3000:]
    resumed = run_example(server, engine, data_dir, truth_path, workflow_id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.startswith("# How do durable agents survive a crash?")
    truth = read_truth(truth_path)
    calls = [line for line in truth if line["event"] == "model_call"]
    assert [line["event"] for line in truth].count("crash") == 1
    workflow = settled(server, engine, workflow_id, len(calls))
    print(f"{engine}: {time.monotonic() - began:.1f} s, {len(calls)} model calls, true cost ${true_cost(truth):.6f}")

    assert workflow["recoveries"] == 1 and workflow["processes"] == 2
    assert workflow["true_cost_usd"] == pytest.approx(true_cost(truth), rel=1e-9)
    assert workflow["model_calls"] - workflow["restored_calls"] == len(calls)
    not_restored = query(server.url, f"""
        SELECT count(*) AS n, sum(cost_usd) AS cost FROM llm_calls WHERE NOT restored AND trace_id IN
            (SELECT trace_id FROM workflow_spans WHERE engine = '{engine}' AND {family(engine, workflow_id)})""")[0]
    assert not_restored["n"] == len(calls) and not_restored["cost"] == pytest.approx(true_cost(truth), rel=1e-9)

    steps = query(server.url, f"""
        SELECT step_name, status, process_pid, started_at, duration, trace_id FROM workflow_steps
        WHERE engine = '{engine}' AND {family(engine, workflow_id)} ORDER BY started_at""")
    durable = set(MODEL_STEP.values()) | set(SEARCH_STEP.values()) | {"plan", "analyse"}
    seen = Counter((row["step_name"], row["status"], row["process_pid"]) for row in steps if row["step_name"] in durable)
    assert seen == expected_steps(engine, truth)

    # the searches the second process ran overlap in time: they ran in parallel
    second = [line["pid"] for line in truth if line["event"] == "worker"][1]
    searches = [row for row in steps if row["step_name"] == SEARCH_STEP[engine] and row["status"] == "executed"
                and row["process_pid"] == second]
    assert len(searches) == 2
    starts = [time.mktime(time.strptime(row["started_at"][:19], "%Y-%m-%dT%H:%M:%S")) + float("0." + row["started_at"][20:26])
              for row in searches]
    assert max(starts) < min(start + row["duration"] for start, row in zip(starts, searches))

    analyse = next(row for row in steps if row["step_name"] == "analyse")
    page.goto(f"{server.url}/trace/{analyse['trace_id']}")
    page.wait_for_load_state("networkidle")
    assert "analyse" in page.content()
    screenshot(page, f"deep_research_trace_{engine}")
    page.goto(f"{server.url}/workflows/{engine}/{workflow_id}")
    assert page.locator("#workflow-status").inner_text() == "completed"
    assert page.locator("#recoveries").inner_text() == "1"
    assert not page.js_errors
    screenshot(page, f"deep_research_workflow_{engine}")


@pytest.mark.parametrize("engine", ["dbos", "temporal"])
def test_an_analysis_over_its_time_limit_fails_the_workflow(server, tmp_path, engine):
    workflow_id = f"research-timeout-{engine}-{uuid.uuid4().hex[:8]}"
    done = run_example(server, engine, tmp_path / "data", tmp_path / "truth.jsonl", workflow_id,
                       "--analysis-seconds", "3", "--analysis-timeout", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    deadline = time.monotonic() + 30
    while True:
        rows = query(server.url, f"SELECT status FROM workflows WHERE engine = '{engine}' AND workflow_id = '{workflow_id}'")
        if rows and rows[0]["status"] == "failed" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert rows == [{"status": "failed"}]
    attempts = query(server.url, f"""
        SELECT step_name, attempt, status, error FROM workflow_steps
        WHERE engine = '{engine}' AND workflow_id = '{workflow_id}' AND step_name LIKE '%analy%' ORDER BY attempt""")
    if engine == "dbos":  # attempt 1 failed (an event on the step's span), attempt 2 ended it with DBOS's error
        assert [(row["status"], row["attempt"]) for row in attempts] == [("retried", 1), ("failed", 2)]
        assert "analysis exceeded --analysis-timeout" in attempts[0]["error"]
        assert "exceeded its maximum" in attempts[1]["error"]
    else:
        # Temporal's worker never learns that the server timed an attempt out: both attempts' spans end
        # OK. The first is shown as retried (another attempt followed); the last cannot be told apart
        # from a success, but the workflow's CompleteWorkflow span carries the failure.
        assert [(row["status"], row["attempt"]) for row in attempts] == [("retried", 1), ("executed", 2)]
        assert "ran it again" in attempts[0]["error"]
