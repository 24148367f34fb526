"""The Evals pages and the `eval_cases` / `eval_experiments` views, against real pydantic-evals runs.

`python -m examples.evals` runs the twenty questions dataset for three scripted stand-in models
(real model names, so genai-prices prices them), exporting through logfire over OTLP to a real
Spyglass. The test replays the same deterministic games in-process to know, on its own, who won, in
how many questions, and what every model call cost according to genai-prices.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx
import pytest
from genai_prices import Usage, calc_price

from examples.evals.twenty_questions import DEFAULT_WORDS, STAND_INS, Contender
from examples.twenty_questions.game import answerer_agent, play, questioner_agent, scripted_answerer
from query.database import open_database
from tests.conftest import ROOT, screenshot, start_server
from tests.e2e.workflows.truth import query

MAX_QUESTIONS = 6
WORDS = DEFAULT_WORDS


@dataclass
class Game:
    won: bool
    questions: int
    requests: int
    cost: float


class Recorder:
    """An agent that notes the usage of each run (one model request each), priced by genai-prices."""

    def __init__(self, agent):
        self.agent, self.cost, self.requests = agent, 0.0, 0

    async def run(self, prompt: str):
        result = await self.agent.run(prompt)
        usage = result.usage  # a property since pydantic-ai 2.6x, a method before
        usage = usage if hasattr(usage, "input_tokens") else usage()
        model = self.agent.model
        price = calc_price(Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens),
                           model_ref=model.model_name, provider_id=model.system)
        self.cost += float(price.total_price)
        self.requests += usage.requests
        return result


def replay(contender: Contender, word: str) -> Game:
    questioner = Recorder(questioner_agent(contender.questioner(seed=0)))
    answerer = Recorder(answerer_agent(scripted_answerer(word), word))
    # in a thread of its own: Playwright's sync API (the `page` fixture, session-wide) keeps an event
    # loop running in this thread once any browser test has run
    with ThreadPoolExecutor(1) as thread:
        result = thread.submit(asyncio.run, play(word, questioner, answerer, MAX_QUESTIONS)).result()
    return Game(result.won, result.questions, questioner.requests + answerer.requests, questioner.cost + answerer.cost)


@pytest.fixture(scope="module")
def evals_server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("evals") / "spyglass.duckdb")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LOGFIRE_", "OTEL_"))}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = server.url
    run = subprocess.run([sys.executable, "-m", "examples.evals", "--max-questions", str(MAX_QUESTIONS)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    yield server
    server.stop()


@pytest.fixture(scope="module")
def truth() -> dict[str, dict[str, Game]]:
    return {contender.label: {word: replay(contender, word) for word in WORDS} for contender in STAND_INS}


def test_eval_cases_match_the_games(evals_server, truth):
    rows = query(evals_server.url, "SELECT experiment, case_name, passed, scores->'Questions'->>'value' AS questions, "
                                   "model_requests, cost_usd, unpriced_requests, error, output->>'won' AS won, "
                                   "labels->'Outcome'->>'value' AS outcome FROM eval_cases")
    assert len(rows) == len(STAND_INS) * len(WORDS)
    for row in rows:
        model = row["experiment"].removeprefix("twenty questions · ")
        game = truth[model][row["case_name"]]
        assert row["passed"] is game.won and row["won"] == str(game.won).lower()
        assert int(row["questions"]) == game.questions
        assert row["outcome"] == ("won" if game.won else "lost")
        assert row["model_requests"] == game.requests == 2 * game.questions
        assert row["cost_usd"] == pytest.approx(game.cost, rel=1e-9)
        assert row["unpriced_requests"] == 0 and row["error"] is None


def test_eval_experiments_match_the_games(evals_server, truth):
    rows = {row["model"]: row for row in query(evals_server.url, "SELECT * FROM eval_experiments")}
    assert set(rows) == set(truth)
    for model, games in truth.items():
        row = rows[model]
        won = sum(game.won for game in games.values())
        assert (row["dataset"], row["task"], row["n_cases"], row["cases"]) == (
            "twenty-questions", "play_twenty_questions", len(WORDS), len(WORDS))
        assert (row["passed"], row["failed"], row["errors"]) == (won, len(WORDS) - won, 0)
        assert row["pass_rate"] == pytest.approx(won / len(WORDS))
        assert row["assertion_pass_rate"] == pytest.approx(won / len(WORDS))  # pydantic-evals' own number
        assert row["avg_model_requests"] == pytest.approx(sum(g.requests for g in games.values()) / len(WORDS))
        total = sum(game.cost for game in games.values())
        assert row["cost_usd"] == pytest.approx(total, rel=1e-9)
        assert row["cost_per_case"] == pytest.approx(total / len(WORDS), rel=1e-9)
        scores = query(evals_server.url, f"SELECT avg_scores->>'Questions' AS q, avg_metrics->>'cost' AS cost "
                                         f"FROM eval_experiments WHERE span_id = '{row['span_id']}'")[0]
        assert float(scores["q"]) == pytest.approx(sum(g.questions for g in games.values()) / len(WORDS))
        # pydantic-evals' own `cost` metric sums the same calls' operation.cost
        assert float(scores["cost"]) == pytest.approx(total / len(WORDS), rel=1e-9)
    # the stand-ins differ: the cheap one loses some games here
    assert rows["openai:gpt-4o-mini"]["pass_rate"] < rows["openai:gpt-4.1"]["pass_rate"]


def money_text(value: float) -> str:
    from web.llm_pages import money
    return money(value)


def test_compare_page_in_the_browser(evals_server, truth, page):
    page.goto(f"{evals_server.url}/evals")
    assert page.locator("#experiments tr.experiment").count() == len(STAND_INS)
    for row in page.locator("#experiments tr.experiment").all():
        row.locator("input[type=checkbox]").check()
    page.click("#compare")
    page.wait_for_selector("#comparison")
    names = [text.strip() for text in page.locator("#comparison thead th.run a").all_inner_texts()]
    models = [name.removeprefix("twenty questions · ") for name in names]
    assert sorted(models) == sorted(truth)

    def cells(measure: str) -> list[str]:
        return [t.strip() for t in page.locator(f'#comparison tr[data-measure="{measure}"] td').all_inner_texts()]

    assert cells("Model") == models
    assert cells("Pass rate") == [f"{100 * sum(g.won for g in truth[m].values()) / len(WORDS):.0f}%" for m in models]
    assert cells("Cost / case") == [money_text(sum(g.cost for g in truth[m].values()) / len(WORDS)) for m in models]
    assert cells("Model requests / case") == [f"{sum(g.requests for g in truth[m].values()) / len(WORDS):.1f}"
                                              for m in models]
    differing = {word for word in WORDS if len({truth[m][word].won for m in models}) > 1}
    assert differing, "the scripted stand-ins should disagree on some word"
    shown = page.locator("#differing tr.differing")
    assert {d.get_attribute("data-case") for d in shown.all()} == differing
    for row in shown.all():
        word = row.get_attribute("data-case")
        outcomes = [cell.get_attribute("data-outcome") for cell in row.locator("td.outcome-cell").all()]
        assert outcomes == ["passed" if truth[m][word].won else "failed" for m in models]
    screenshot(page, "evals_compare")
    assert page.js_errors == []


def test_experiment_page_links_each_case_to_its_trace(evals_server, truth, page):
    runs = httpx.get(f"{evals_server.url}/api/evals").json()["experiments"]
    run = next(r for r in runs if r["model"] == "openai:gpt-4o-mini")
    page.goto(f"{evals_server.url}/evals/{run['span_id']}")
    rows = page.locator("#cases tr.case")
    assert rows.count() == len(WORDS)
    for row in rows.all():
        word = row.get_attribute("data-case")
        game = truth["openai:gpt-4o-mini"][word]
        assert ("passed" if game.won else "failed") in row.get_attribute("class")
        assert row.locator(".scores li").inner_text().split() == ["Questions", str(game.questions)]
        href = row.locator("td.name a").get_attribute("href")
        assert re.fullmatch(rf"/trace/{run['trace_id']}\?span={row.get_attribute('data-span-id')}", href)
    page.locator("#cases tr.case td.name a").first.click()
    page.wait_for_url(re.compile(r"/trace/"))
    assert page.js_errors == []


@pytest.mark.parametrize("path, status, message", [
    ("/evals/0123456789abcdef", 404, "no experiment with span id"),
    ("/api/evals/0123456789abcdef", 404, "no experiment with span id"),
    ("/evals/not-an-id", 400, "16-hex-character span id"),
    ("/api/evals/not-an-id", 400, "16-hex-character span id"),
    ("/evals/compare", 400, "at least two different experiments"),
    ("/api/evals/compare?experiment=0123456789abcdef", 400, "at least two different experiments"),
    ("/api/evals/compare?experiment=0123456789abcdef&experiment=0123456789ABCDEF", 400, "at least two different"),
    ("/api/evals/compare?experiment=0123456789abcdef&experiment=fedcba9876543210", 404, "no experiment with span id"),
    ("/evals/compare?experiment=x&experiment=y", 400, "16-hex-character span id"),
])
def test_bad_experiment_ids_are_refused_clearly(evals_server, path, status, message):
    response = httpx.get(f"{evals_server.url}{path}")
    assert response.status_code == status
    body = response.json()["error"] if path.startswith("/api/") else response.text
    assert message in body


# --- docs/schema.md: the `eval_cases` and `eval_experiments` sections ------------------------------

DOC = (ROOT / "docs" / "schema.md").read_text()


@pytest.mark.parametrize("view", ["eval_cases", "eval_experiments"])
def test_documented_columns_are_the_views_columns(tmp_path, view):
    section = DOC[DOC.index(f"\n## `{view}`\n"):]
    section = section[:section.index("\n## ", 1)]
    documented = re.findall(r"^\| `(\w+)` \| ([A-Z\[\]]+) \|", section, re.M)
    connection = open_database(tmp_path / "x.duckdb")
    actual = connection.execute("SELECT column_name, data_type FROM information_schema.columns "
                                "WHERE table_name = ? ORDER BY ordinal_position", [view]).fetchall()
    assert [(name, {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}.get(kind, kind)) for name, kind in documented] == actual


def test_a_case_whose_task_raised_failed_with_its_error(evals_server, page):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "LOGFIRE_"))}
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=evals_server.url)
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "e2e" / "evals_clients" / "raising_task.py")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "done 1 1" in done.stdout, done.stdout + done.stderr
    rows = []
    for _ in range(100):
        rows = query(evals_server.url, "SELECT case_name, passed, error FROM eval_cases "
                                       "WHERE experiment = 'shouting' ORDER BY case_name")
        if len(rows) == 2:
            break
        time.sleep(0.2)
    assert [(row["case_name"], row["passed"]) for row in rows] == [("boom", False), ("quiet", True)]
    assert "cannot shout boom" in rows[0]["error"] and rows[1]["error"] is None
    experiment = query(evals_server.url, "SELECT span_id, pass_rate, errors FROM eval_experiments "
                                         "WHERE name = 'shouting'")[0]
    assert (experiment["pass_rate"], experiment["errors"]) == (0.5, 1)
    page.goto(f"{evals_server.url}/evals/{experiment['span_id']}")
    assert "cannot shout boom" in page.content()
    assert not page.js_errors
