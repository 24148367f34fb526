"""Durable workflows with the real engines: DBOS on SQLite, Temporal's dev server and a Prefect 3.9 server,
each running a pydantic-ai agent with a scripted model inside `research_workflow` (tests/e2e/workflows/),
exported by plain OTel exporters and by the logfire SDK (Prefect: plain OTel only). Each scenario
(complete; a step fails twice then succeeds; the worker SIGKILLed mid-workflow and recovered by a new
process) writes its own ground truth, and every row of `workflow_steps` and the true cost are checked
against it.
"""

import re
import time
from collections import Counter

import httpx
import pytest
from genai_prices import Usage, calc_price

from query.database import open_database
from tests.conftest import ROOT, screenshot, start_server
from tests.e2e.workflows import dbos_harness, prefect_harness, temporal_harness
from tests.e2e.workflows.truth import SCENARIOS, TELEMETRY, Run, query
from web.llm_pages import money

HARNESSES = {"dbos": dbos_harness, "prefect": prefect_harness, "temporal": temporal_harness}
# the telemetry modes each engine's harness runs (the others run them all)
ENGINE_TELEMETRY = {"prefect": prefect_harness.TELEMETRY}
# the steps of the agent as each engine names them
MODEL_STEP = {"dbos": "researcher__model.request", "temporal": "agent__researcher__model_request",
              "prefect": "Model Request: gpt-4o-mini"}
# Temporal runs each tool call as an activity too, Prefect as a task
TOOL_STEP_PREFIXES = ("agent__researcher__toolset__", "Call Tool: ")
TOOL_STEP_ENGINES = ("temporal", "prefect")
# under plain OTel, the killed worker's open step span never arrives and nothing else tells of it
LOST_OPEN_STEP = {("temporal", "otel"), ("prefect", "otel")}
# after a crash, the recovering worker takes every step the first finished from history (Temporal
# replays it, Prefect's tasks come back Cached); DBOS only the workflow's own steps, not the agent's
RESTORES_EVERY_STEP = ("temporal", "prefect")
RUNS = [pytest.param(engine, scenario, telemetry, id=f"{telemetry}-{scenario}-{engine}")
        for telemetry in TELEMETRY for scenario in SCENARIOS for engine in sorted(HARNESSES)
        if telemetry in ENGINE_TELEMETRY.get(engine, TELEMETRY)]
SETTLE_SECONDS = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("workflows") / "spyglass.duckdb")
    yield srv
    srv.stop()


def run_ids_sql(run: Run) -> str:
    """The run's workflow and, for DBOS, its child workflows (pydantic-ai's DBOSAgent runs the agent as one)."""
    if run.engine == "dbos":
        return f"(workflow_id = '{run.workflow_id}' OR workflow_id LIKE '{run.workflow_id}-%')"
    return f"workflow_id = '{run.workflow_id}'"


def step_rows(server, run: Run) -> list[dict]:
    return query(server.url, f"""
        SELECT step_name, status, process_pid, attempt, error, span_id, saved_seconds
        FROM workflow_steps WHERE engine = '{run.engine}' AND {run_ids_sql(run)}
        ORDER BY started_at""")


def workflow_row(server, run: Run) -> dict | None:
    rows = query(server.url, f"SELECT * FROM workflows WHERE engine = '{run.engine}' AND workflow_id = '{run.workflow_id}'")
    return rows[0] if rows else None


def settled(server, run: Run, expected_rows: int) -> tuple[dict, list[dict]]:
    """Wait until the workflow shows as completed with all its step rows (the writer stores batches
    asynchronously), then return its `workflows` row and its `workflow_steps` rows."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        workflow, steps = workflow_row(server, run), step_rows(server, run)
        if workflow and workflow["status"] == "completed" and len(steps) >= expected_rows:
            return workflow, steps
        if time.monotonic() > deadline:
            raise AssertionError(f"workflow not settled: {workflow}\n{steps}")
        time.sleep(0.3)


def expected_steps(run: Run, telemetry: str) -> Counter:
    """The rows `workflow_steps` must hold, from the run's ground truth: (step, status, pid, attempt)."""
    rows = Counter()
    steps = [line for line in run.truth if line["event"] == "step"]
    finished = {(line["step"], line["attempt"]) for line in steps if line["outcome"] != "started"}
    last_attempt = {}
    for line in steps:
        last_attempt[line["step"]] = max(last_attempt.get(line["step"], 0), line["attempt"])
    lost = 0  # Temporal and Prefect under plain OTel: the killed worker's attempt sends nothing at all
    for line in steps:
        name, attempt, pid = line["step"], line["attempt"], line["pid"]
        if line["outcome"] == "started" and (name, attempt) not in finished:
            if (run.engine, telemetry) in LOST_OPEN_STEP:
                lost += 1
                continue
            rows[(name, "interrupted", pid, attempt)] += 1
        elif line["outcome"] == "error":
            rows[(name, "retried" if attempt < last_attempt[name] else "failed", pid, attempt)] += 1
        elif line["outcome"] == "ok":
            rows[(name, "executed", pid, attempt - lost if name == "slow_step" else attempt)] += 1
    calls = [line for line in run.truth if line["event"] == "model_call"]
    for line in calls:
        rows[(MODEL_STEP[run.engine], "executed", line["pid"], 1)] += 1
    if run.engine in TOOL_STEP_ENGINES:
        for line in run.truth:
            if line["event"] == "tool_call":
                rows[("tool", "executed", line["pid"], 1)] += 1
    if len(run.worker_pids) > 1:  # the recovering worker took every finished step of the first from history
        first, second = run.worker_pids
        for (name, status, pid, _), count in list(rows.items()):
            replayed = run.engine in RESTORES_EVERY_STEP or name in ("fetch_context", "flaky_step")
            if pid == first and status == "executed" and replayed:
                rows[(name, "restored", second, None)] += count
    return rows


def seen_steps(rows: list[dict]) -> Counter:
    return Counter((("tool" if row["step_name"].startswith(TOOL_STEP_PREFIXES) else row["step_name"]),
                    row["status"], row["process_pid"], row["attempt"]) for row in rows)


def true_cost(run: Run) -> float:
    """What the model calls that really happened cost, priced here with genai-prices."""
    return sum(float(calc_price(Usage(input_tokens=line["input_tokens"], output_tokens=line["output_tokens"]),
                                "gpt-4o-mini", provider_id="openai").total_price)
               for line in run.truth if line["event"] == "model_call")


@pytest.mark.parametrize(("engine", "scenario", "telemetry"), RUNS)
def test_workflow_steps_and_cost_match_what_really_ran(server, tmp_path, engine, scenario, telemetry, request):
    run = HARNESSES[engine].run_scenario(server, scenario, telemetry, tmp_path / "run")
    expected = expected_steps(run, telemetry)
    workflow, steps = settled(server, run, sum(expected.values()))

    assert seen_steps(steps) == expected
    assert all(row["span_id"] for row in steps if row["status"] != "restored" or engine == "dbos")
    retried = [row for row in steps if row["status"] == "retried"]
    assert [row["error"].removeprefix("RuntimeError: ") for row in retried] == (
        ["flaky failure 1", "flaky failure 2"] if scenario == "retry" else [])

    crashed = scenario == "crash"
    assert workflow["processes"] == len(run.worker_pids) == (2 if crashed else 1)
    assert workflow["recoveries"] == (1 if crashed else 0)
    assert workflow["retries"] == (2 if scenario == "retry" else 0)
    assert workflow["restored_steps"] == sum(n for key, n in expected.items() if key[1] == "restored")
    assert workflow["true_cost_usd"] == pytest.approx(true_cost(run), rel=1e-9)
    # naive cost: every model call span sent for the workflow, re-sent copies included
    sent = query(server.url, f"""
        SELECT count(*) AS calls, sum(cost_usd) AS cost FROM records
        WHERE kind = 'span' AND span_name LIKE 'chat %' AND cost_usd IS NOT NULL
          AND trace_id IN (SELECT trace_id FROM workflow_spans WHERE engine = '{engine}' AND {run_ids_sql(run)})""")[0]
    assert workflow["naive_cost_usd"] == pytest.approx(sent["cost"], rel=1e-9)
    real_calls = sum(1 for line in run.truth if line["event"] == "model_call")
    assert workflow["model_calls"] == sent["calls"] and workflow["restored_calls"] == sent["calls"] - real_calls
    if engine == "temporal" and crashed and telemetry == "otel":
        # the recovering worker replays the agent and sends both chat spans again, cost included
        assert sent["calls"] == 2 * real_calls and workflow["naive_cost_usd"] == pytest.approx(2 * workflow["true_cost_usd"])
    if engine == "temporal" and crashed and telemetry == "otel":
        check_documented_examples(server, run, workflow)
    if crashed:
        check_workflow_page(server, request.getfixturevalue("page"), run, workflow, steps, telemetry)


def check_workflow_page(server, page, run: Run, workflow: dict, steps: list[dict], telemetry: str) -> None:
    """The workflow page after a crash: two lanes, the crash point in the first, the recovery in the
    second, a row per step attempt with its status, both costs, links into the trace view."""
    listing = httpx.get(f"{server.url}/workflows", params={"engine": run.engine, "status": "completed"})
    assert listing.status_code == 200 and run.workflow_id in listing.text

    page.goto(f"{server.url}/workflows/{run.engine}/{run.workflow_id}")
    assert page.locator("#workflow-status").inner_text() == "completed"
    lanes = page.locator(".lane")
    assert lanes.count() == 2
    assert lanes.nth(0).locator(".marker.crash").count() == 1
    assert lanes.nth(1).locator(".marker.recovery").count() == 1
    statuses = Counter(page.locator("#steps tr.step").evaluate_all("rows => rows.map(r => r.dataset.status)"))
    assert statuses == Counter(row["status"] for row in steps)
    assert statuses["restored"] == workflow["restored_steps"] > 0
    assert page.locator("#recoveries").inner_text() == "1"
    assert page.locator("#true-cost").inner_text() == money(workflow["true_cost_usd"])
    assert page.locator("#naive-cost").inner_text() == money(workflow["naive_cost_usd"])
    assert "/trace/" in page.locator("#steps tr.step a").first.get_attribute("href")
    # a DBOS recovery starts a new trace; Temporal and Prefect runs stay in one
    assert page.locator("#traces a").count() == (2 if run.engine == "dbos" else 1)
    screenshot(page, f"workflow_{run.engine}_crash_{telemetry}")
    # from a step into its trace, and from the trace back to the workflow
    page.locator("#steps tr.step a").first.click()
    page.wait_for_selector("#trace-workflows")
    backlinks = page.locator("#trace-workflows a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert any(href.endswith(f"/workflows/{run.engine}/{run.workflow_id}") for href in backlinks), backlinks
    assert not page.js_errors


# --- docs/schema.md: the `workflows` and `workflow_steps` sections ----------------------------------

DOC = (ROOT / "docs" / "schema.md").read_text()
SECTIONS = DOC[DOC.index("\n## `workflows`\n"):DOC.index("\n## Differences from Logfire\n")]
EXAMPLES = re.findall(r"^```sql workflows\n(.*?)^```", SECTIONS, re.S | re.M)


@pytest.mark.parametrize("view", ["workflows", "workflow_steps"])
def test_documented_columns_are_the_views_columns(tmp_path, view):
    section = SECTIONS[SECTIONS.index(f"## `{view}`\n"):]
    section = section[:section.index("\n## ", 1)] if "\n## " in section[1:] else section
    documented = re.findall(r"^\| `(\w+)` \| ([A-Z]+) \|", section, re.M)
    connection = open_database(tmp_path / "x.duckdb")
    actual = connection.execute("SELECT column_name, data_type FROM information_schema.columns "
                                "WHERE table_name = ? ORDER BY ordinal_position", [view]).fetchall()
    assert [(name, {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}.get(kind, kind)) for name, kind in documented] == actual


def check_documented_examples(server, run: Run, workflow: dict) -> None:
    """The examples of docs/schema.md, on a Temporal crash whose replay re-sent the agent's chat spans."""
    assert len(EXAMPLES) == 3
    double_counted, attempts, by_model = (query(server.url, sql) for sql in EXAMPLES)
    mine = [row for row in double_counted if row["workflow_id"] == run.workflow_id]
    assert len(mine) == 1 and mine[0]["double_counted"] == pytest.approx(workflow["naive_cost_usd"] - workflow["true_cost_usd"])
    assert mine[0]["double_counted"] == pytest.approx(true_cost(run))
    assert all(row["error"] for row in attempts)
    model = [row for row in by_model if row["model"] == "gpt-4o-mini"]
    assert len(model) == 1 and model[0]["naive"] > model[0]["real_cost"] > 0
