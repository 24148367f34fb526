"""The LLMs and Agents pages in Debian's Chromium, on what real pydantic-ai agents sent.

Two clients (pydantic_ai_clients/run_agents.py): pydantic-ai 1.x with instrumentation version 1 and
pydantic-ai 2.x with the default version, both through the plain OTel exporter. Every number on the
pages is checked against values computed here from scenario.py and genai-prices.
"""

import re

import httpx
import pytest

from tests.conftest import screenshot, start_server
from tests.e2e.pydantic_ai_clients import scenario
from tests.e2e.pydantic_ai_clients.runner import CALLS, CLIENTS, expected_cost, run_clients, wait_for_calls
from web.llm_pages import money

PAGE_CLIENTS = [c for c in CLIENTS if c.service in ("pai-otel-v1", "pai-otel-default")]
N = len(PAGE_CLIENTS)


@pytest.fixture(scope="module")
def agents(tmp_path_factory):
    directory = tmp_path_factory.mktemp("llm-pages")
    srv = start_server(directory / "spyglass.duckdb")
    try:
        run_clients(srv, directory, PAGE_CLIENTS)
        wait_for_calls(srv, [c.service for c in PAGE_CLIENTS], len(CALLS))
        yield srv
    finally:
        srv.stop()


def calls_of(agent: scenario.Agent) -> list[scenario.Call]:
    return [call for a, _, call in CALLS if a is agent]


def cost_of(agent: scenario.Agent) -> float | None:
    costs = [c for call in calls_of(agent) if (c := expected_cost(agent, call)) is not None]
    return sum(costs) * N if costs else None


def cells(row) -> dict[str, str]:
    return {name: row.locator(f"td.{name}").inner_text().strip()
            for name in ("calls", "errors", "p50", "p95", "input", "output", "cached", "tool-calls", "cost")}


def test_llms_page_shows_calls_tokens_and_cost_per_model(agents, page):
    page.goto(f"{agents.url}/llms")
    rows = page.locator("#models tbody tr")
    assert rows.count() == 3
    # most expensive first; the model no price list knows last, marked as unknown
    assert [(r.get_attribute("data-provider"), r.get_attribute("data-model")) for r in rows.all()] == [
        ("openai", "gpt-4o"), ("anthropic", "claude-haiku-5-5"), ("ollama", "acme-local-7b")]
    api = httpx.get(f"{agents.url}/api/llms", timeout=30).json()
    for row, agent, model in zip(rows.all(), scenario.AGENTS, api["models"], strict=True):
        calls = calls_of(agent)
        shown = cells(row)
        assert shown["calls"] == f"{len(calls) * N:,}"
        assert shown["errors"] == (str(sum(1 for c in calls if c.error) * N) if any(c.error for c in calls) else "")
        assert shown["input"] == f"{sum(c.input_tokens for c in calls) * N:,}"
        assert shown["output"] == f"{sum(c.output_tokens for c in calls) * N:,}"
        cached = sum(c.cache_read_tokens for c in calls) * N
        assert shown["cached"] == (f"{cached:,}" if cached else "")
        assert shown["tool-calls"] == str(sum(len(c.tool_calls) for c in calls) * N)
        assert shown["p50"] and shown["p95"]  # durations as measured: formatted, e.g. "1.6 ms"
        cost = cost_of(agent)
        if cost is None:
            assert shown["cost"] == "unknown model" and model["cost_usd"] is None
        else:
            assert shown["cost"] == money(cost) and model["cost_usd"] == pytest.approx(cost, rel=1e-9)
        assert model["calls"] == len(calls) * N
    # version 1's pydantic-ai could not price claude-haiku-5-5: Spyglass did, and says so
    assert api["models"][1]["computed_calls"] == 2
    assert "priced by Spyglass" in rows.nth(1).locator("td.cost").get_attribute("title")
    total = sum(c for agent in scenario.AGENTS if (c := cost_of(agent)) is not None)
    footer = page.locator("#models tfoot td.cost").inner_text()
    assert footer.startswith(money(total)) and f"+{N} unpriced" in footer
    assert page.locator("#models tfoot td.calls").inner_text() == str(len(CALLS) * N)

    # the charts: bars for cost and for input and output tokens, whose titles add up to the totals
    assert page.locator("#cost-chart rect.bar.cost").count() >= 1
    assert page.locator("#token-chart rect.bar.input").count() >= 1
    assert page.locator("#token-chart rect.bar.output").count() >= 1
    bucket_tokens = sum(b["input_tokens"] for b in api["timeline"]["buckets"])
    assert bucket_tokens == sum(c.input_tokens for _, _, c in CALLS) * N
    assert sum(b["cost_usd"] or 0 for b in api["timeline"]["buckets"]) == pytest.approx(total, rel=1e-9)
    screenshot(page, "llms")
    assert page.js_errors == []


def test_agents_page_shows_runs_success_and_conversations(agents, page):
    page.goto(f"{agents.url}/agents")
    rows = {r.get_attribute("data-agent"): r for r in page.locator("#agents tbody tr").all()}
    assert set(rows) == {a.name for a in scenario.AGENTS}
    for agent in scenario.AGENTS:
        row = rows[agent.name]
        runs = len(agent.runs) * N
        failed = sum(1 for run in agent.runs if any(c.error for c in run)) * N
        assert row.locator("td.runs").inner_text().strip() == str(runs)
        success = row.locator("td.success").inner_text().strip()
        assert success.startswith(f"{100 * (runs - failed) / runs:.0f}%")
        assert (f"{failed} failed" in success) == bool(failed)
        requests = sum(len(run) for run in agent.runs) / len(agent.runs)
        assert row.locator("td.requests").inner_text().strip() == f"{requests:.1f}"
        calls = calls_of(agent)
        assert row.locator("td.input").inner_text().strip() == f"{sum(c.input_tokens for c in calls) * N:,}"
        cost = cost_of(agent)
        assert row.locator("td.cost").inner_text().strip() == ("unknown model" if cost is None else money(cost))
        assert row.locator("td.avg").inner_text().strip() and row.locator("td.p95").inner_text().strip()

    # runs grouped into conversations: the weather agent's two runs are one conversation per client
    conversations = page.locator(".conversation")
    assert conversations.count() == N * (sum(len(a.runs) for a in scenario.AGENTS) - 1)
    weather = page.locator(".conversation", has=page.locator(".agent-name", has_text="weather_agent"))
    assert weather.count() == N
    first = weather.first
    assert first.locator("tr.run").count() == 2
    weather_cost = sum(expected_cost(scenario.WEATHER, c) for c in calls_of(scenario.WEATHER))
    assert first.locator(".conversation-cost").inner_text() == money(weather_cost)
    assert [r.inner_text() for r in first.locator("td.requests").all()] == ["3 requests", "1 request"]
    failed_runs = page.locator("tr.run.error")
    assert failed_runs.count() == N and "529" in failed_runs.first.locator("td.error-text").inner_text()
    screenshot(page, "agents")

    # each run links to its trace, with the run's span selected
    link = first.locator("tr.run").first.locator("td.start a")
    trace_id = first.locator("tr.run").first.get_attribute("data-trace-id")
    span_id = first.locator("tr.run").first.get_attribute("data-span-id")
    link.click()
    page.wait_for_url(re.compile(rf".*/trace/{trace_id}\?span={span_id}"))
    page.wait_for_selector("h1 code")
    assert page.locator("h1 code").inner_text() == trace_id
    assert page.js_errors == []


def test_agent_filter_and_time_range(agents, page):
    page.goto(f"{agents.url}/agents")
    page.locator("#agents tr[data-agent='research_agent'] td.name a").click()
    page.wait_for_url(re.compile(r".*/agents\?agent=research_agent"))
    names = {n.inner_text() for n in page.locator(".conversation .agent-name").all()}
    assert names == {"research_agent"} and page.locator(".conversation").count() == 2 * N
    assert page.locator("#agents tr.selected").get_attribute("data-agent") == "research_agent"
    page.locator("a.clear", has_text="all agents").click()
    page.wait_for_url(re.compile(r".*/agents$"))
    assert page.locator(".conversation").count() == N * 4

    # the time range keeps the agent; the calls are seconds old, so the last 15 minutes hold them all
    page.goto(f"{agents.url}/llms")
    page.select_option("#since", "15m")
    page.wait_for_url(re.compile(r".*/llms\?since=15m"))
    assert page.locator("#models tbody tr").count() == 3
    assert page.js_errors == []


def test_empty_pages_and_refused_ranges(tmp_path, page):
    server = start_server(tmp_path / "empty.duckdb")
    try:
        page.goto(f"{server.url}/llms")
        assert "No model calls in the last 24h" in page.locator("#no-calls").inner_text()
        page.goto(f"{server.url}/agents?since=all")
        assert "No agent runs yet" in page.locator("#no-runs").inner_text()
        screenshot(page, "agents-empty")
        response = page.goto(f"{server.url}/llms?since=yesterday")
        assert response.status == 400
        assert "since must be a number and a unit" in page.locator(".error-box").inner_text()
        api = httpx.get(f"{server.url}/api/agents", params={"since": "1y"}, timeout=10)
        assert api.status_code == 400 and api.json()["rule"] == "invalid time range"
        assert httpx.get(f"{server.url}/api/llms", params={"since": "all"}, timeout=10).json()["models"] == []
        assert page.js_errors == []
    finally:
        server.stop()
