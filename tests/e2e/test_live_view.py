"""The live view (home page) in Debian's Chromium, fed by the real OTel and logfire SDKs.

New traces and finished ones show up without a reload; the WHERE box, the quick filters and the
page live in the URL; refused filters show their message next to the box; paging shows the total.
"""

import json
import time
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from opentelemetry.trace import Status, StatusCode, set_span_in_context
from playwright.sync_api import expect

from tests.conftest import screenshot, start_server
from tests.e2e.test_logfire_sdk import read_line, start_client

SECOND = 1_000_000_000


def export_as(url: str, service: str, build) -> None:
    """Like conftest.export_spans, with a service name of our choosing."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces")))
    build(provider.get_tracer("live-view-tests"))
    provider.shutdown()


def trace(name: str, seconds: float, ago: float = 1.0, error: bool = False, children: int = 0, **attributes):
    """A builder: one root span of `seconds` that started `ago` seconds ago, with `children` spans."""
    def build(tracer):
        start = time.time_ns() - int(ago * SECOND)
        root = tracer.start_span(name, start_time=start, attributes=attributes)
        for n in range(children):
            child = tracer.start_span(f"{name} step {n}", context=set_span_in_context(root), start_time=start + n)
            child.end(end_time=start + n + SECOND // 100)
        if error:
            root.set_status(Status(StatusCode.ERROR, "it failed"))
        root.end(end_time=start + int(seconds * SECOND))
    return build


def agent_run(tracer):
    """An agent run with two model calls: tokens and cost on the chat spans only."""
    with tracer.start_as_current_span("invoke_agent support", attributes={"gen_ai.operation.name": "invoke_agent"}):
        for _ in range(2):
            with tracer.start_as_current_span("chat gpt-4o", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 30, "operation.cost": 0.0125,
            }):
                pass


def messages(page) -> list[str]:
    return page.locator("tr.trace td.message a").all_inner_texts()


def query_of(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def test_new_traces_appear_without_a_reload_and_html_stays_text(server, page):
    page.goto(server.url)
    expect(page.locator(".empty")).to_contain_text("No traces yet")
    expect(page.locator("#live-status")).to_have_text("Live")
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads

    export_as(server.url, "checkout", trace("place order", 0.25, children=2))
    row = page.locator("tr.trace", has_text="place order")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(4)).to_have_text("3")  # spans
    expect(row.locator("td.duration .value")).to_have_text("250.0 ms")
    expect(page.locator("#trace-count")).to_have_text("traces 1–1 of 1")

    hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>'
    export_as(server.url, '<i>svc</i>', trace(hostile, 0.01))
    expect(page.locator("tr.trace")).to_have_count(2)
    assert messages(page) == [hostile, "place order"]  # newest first, and the markup is text
    assert page.locator("tr.trace").first.locator(".service").inner_text() == "<i>svc</i>"
    assert page.locator("tr.trace img, tr.trace b, tr.trace script").count() == 0
    assert page.evaluate("window.pwned") is None
    assert page.evaluate("window.loadedOnce") is True
    assert page.locator("th", has_text="Tokens").count() == 0  # no model calls yet: no LLM columns

    export_as(server.url, "agent", agent_run)
    row = page.locator("tr.trace", has_text="invoke_agent support")
    expect(row.locator("td.tokens")).to_have_text("2.4k in · 60 out")
    expect(row.locator("td.cost")).to_have_text("$0.0250")
    assert row.locator("td.tokens").get_attribute("title") == "2,400 input tokens, 60 output tokens"
    href = page.locator("tr.trace", has_text="place order").locator("a").get_attribute("href")
    assert href.startswith("/trace/") and len(href) == len("/trace/") + 32
    screenshot(page, "live-view")

    # a hidden tab stops polling; showing it again polls at once
    page.evaluate("""() => {
        Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
        document.dispatchEvent(new Event("visibilitychange"));
    }""")
    expect(page.locator("#live-status")).to_have_text("Paused while the tab is hidden")
    with page.expect_request("**/live/rows?v=*"):
        page.evaluate("""() => {
            Object.defineProperty(document, "hidden", {configurable: true, get: () => false});
            document.dispatchEvent(new Event("visibilitychange"));
        }""")
    expect(page.locator("#live-status")).to_have_text("Live")

    # "/" focuses the filter box; a click anywhere on a row opens its trace
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "where"
    page.locator("tr.trace", has_text="place order").locator("td.num").first.click()
    page.wait_for_url(f"**{href}")
    assert page.js_errors == []


def test_a_running_trace_turns_into_its_duration(server, page, tmp_path):
    page.goto(server.url)
    page.evaluate("window.loadedOnce = true")
    client = start_client("hold_span.py", server, tmp_path)  # the logfire SDK: sends pending spans
    try:
        ids = json.loads(read_line(client))
        row = page.locator(f"tr[data-trace-id='{ids['trace_id']}']")
        expect(row.locator(".badge.running")).to_have_text("running")
        expect(row.locator("td.message a")).to_have_text("long running")
        expect(row.locator(".dot.running")).to_have_count(1)
        client.stdin.write("\n")
        client.stdin.flush()
        assert read_line(client) == "child ended"
        client.stdin.write("\n")
        client.stdin.close()
        assert client.wait(60) == 0
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        client.stdout.close()
        client.stderr.close()
    expect(row.locator(".badge.running")).to_have_count(0)
    expect(row.locator("td.duration .value")).to_have_count(1)
    assert row.locator("td.duration .value").inner_text().endswith(("ms", "µs", " s"))
    assert page.evaluate("window.loadedOnce") is True
    assert page.js_errors == []


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """One server with a few traces of three services, one of them three hours old."""
    server = start_server(tmp_path_factory.mktemp("shop") / "spyglass.duckdb")
    export_as(server.url, "checkout", trace("place order", 1.5, ago=30))
    export_as(server.url, "checkout", trace("list orders", 0.2, ago=20))
    export_as(server.url, "billing", trace("charge card", 0.3, ago=10, error=True))
    export_as(server.url, "billing", trace("refund", 2.5, ago=5))
    export_as(server.url, "batch", trace("nightly job", 60, ago=3 * 3600))
    yield server
    server.stop()


def test_where_clause_lives_in_the_url(shop, page):
    page.goto(shop.url)
    expect(page.locator("#trace-count")).to_have_text("traces 1–5 of 5")
    assert messages(page) == ["refund", "charge card", "list orders", "place order", "nightly job"]
    page.fill("#where", "service_name = 'billing' and duration > 1")
    page.press("#where", "Enter")
    page.wait_for_url("**/?where=*")
    assert query_of(page) == {"where": ["service_name = 'billing' and duration > 1"]}  # no empty parameters
    assert messages(page) == ["refund"]
    expect(page.locator("#trace-count")).to_have_text("traces 1–1 of 1")
    screenshot(page, "live-filtered")
    page.reload()
    assert page.input_value("#where") == "service_name = 'billing' and duration > 1"
    assert messages(page) == ["refund"]
    page.click("#clear-where")
    page.wait_for_url(shop.url + "/")
    assert len(messages(page)) == 5
    assert page.js_errors == []


def test_an_invalid_clause_shows_the_database_message_next_to_the_box(shop, page):
    response = page.goto(f"{shop.url}/?where=nonsense+%3D+1")
    assert response.status == 200
    error = page.locator("#filter-error")
    expect(error).to_contain_text('Referenced column "nonsense" not found')
    assert page.locator(".where-row + #filter-error").count() == 1  # right under the box
    assert page.input_value("#where") == "nonsense = 1"
    expect(page.locator("#live-status")).to_have_text("Not updating: fix the filter")
    screenshot(page, "live-error")
    page.fill("#where", "duration >")
    page.press("#where", "Enter")
    expect(page.locator("#filter-error")).to_contain_text("syntax error")
    assert page.js_errors == []


@pytest.mark.parametrize("clause, message", [
    ("1=1) UNION SELECT * FROM read_csv('/etc/passwd') WHERE (1=1",
     "no file or dynamic-SQL functions: read_csv() is not allowed"),
    ("1=1) UNION SELECT * FROM read_csv('/etc/passwd') --", "syntax error"),
    ("1=1; DELETE FROM records", "syntax error"),
    ("; DELETE FROM records", "syntax error"),
    ("1=1) GROUP BY trace_id HAVING (1=1", "one condition only"),
])
def test_forbidden_clauses_are_refused(shop, page, clause, message):
    page.goto(shop.url)
    page.fill("#where", clause)
    page.press("#where", "Enter")
    expect(page.locator("#filter-error")).to_contain_text(message)
    assert "root:" not in page.content()
    assert page.locator("tr.trace").count() == 0
    assert httpx.get(f"{shop.url}/api/traces").headers["X-Spyglass-Total"] == "5"  # nothing deleted
    assert page.js_errors == []


def test_quick_filters(shop, page):
    page.goto(shop.url)
    page.select_option("#service", "billing")
    page.wait_for_url("**/?service=billing")
    assert messages(page) == ["refund", "charge card"]

    page.check("#errors")
    page.wait_for_url("**/?service=billing&errors=1")
    assert messages(page) == ["charge card"]
    assert page.locator("tr.trace").first.get_attribute("class") == "trace error"
    assert page.locator("tr.trace .badge.errors").inner_text() == "1 error"

    page.select_option("#service", "")
    page.wait_for_url("**/?errors=1")
    page.uncheck("#errors")
    page.wait_for_url(shop.url + "/")
    page.select_option("#since", "1h")
    page.wait_for_url("**/?since=1h")
    assert messages(page) == ["refund", "charge card", "list orders", "place order"]
    assert page.locator("#since option:checked").inner_text() == "last 1h"
    page.goto(f"{shop.url}/?since=6h")
    assert "nightly job" in messages(page)
    page.goto(f"{shop.url}/?since=yesterday")
    expect(page.locator("#filter-error")).to_contain_text("since must be a number and a unit")
    assert page.js_errors == []


def test_paging_shows_the_total(server, page):
    def many(tracer):
        start = time.time_ns() - 120 * SECOND
        for n in range(1, 61):
            tracer.start_span(f"job {n:02d}", start_time=start + n * SECOND).end(end_time=start + n * SECOND + 1000)

    export_as(server.url, "worker", many)
    page.goto(server.url)
    expect(page.locator("#trace-count")).to_have_text("traces 1–50 of 60")
    assert messages(page)[0] == "job 60" and messages(page)[-1] == "job 11"
    assert page.locator("#newer").count() == 0
    page.click("#older")
    page.wait_for_url("**/?page=2")
    expect(page.locator("#trace-count")).to_have_text("traces 51–60 of 60")
    assert messages(page) == [f"job {n:02d}" for n in range(10, 0, -1)]
    assert page.locator("#older").count() == 0
    expect(page.locator("#live-status")).to_have_text("Page 2: not updating")
    page.click("#newer")
    page.wait_for_url(server.url + "/")
    expect(page.locator("#trace-count")).to_have_text("traces 1–50 of 60")
    assert page.js_errors == []
