"""The explore page in Debian's Chromium: run SQL, follow links, see errors, truncation, charts, saved queries."""

from opentelemetry.trace import Status, StatusCode

from tests.conftest import export_spans, screenshot, start_server


def agent_spans(tracer):
    for run in range(3):
        with tracer.start_as_current_span(f"invoke_agent demo", attributes={"gen_ai.operation.name": "invoke_agent"}):
            for turn in range(2):
                with tracer.start_as_current_span("chat gpt-4o", attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 100 + run, "gen_ai.usage.output_tokens": 10, "operation.cost": 0.001,
                }):
                    pass
            with tracer.start_as_current_span("execute_tool lookup", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup",
            }) as tool:
                if run == 2:
                    tool.set_status(Status(StatusCode.ERROR, "lookup failed"))


def run_sql(page, sql: str) -> None:
    page.fill("#sql", sql)
    page.press("#sql", "Control+Enter")


def test_explore_runs_sql_and_links_into_traces(tmp_path, page):
    server = start_server(tmp_path / "db.duckdb", "--query-row-limit", "5")
    try:
        export_spans(server.url, agent_spans)
        page.goto(f"{server.url}/explore")
        tables = page.locator(".schema-pane details summary code").all_inner_texts()
        assert tables[:2] == ["records", "metrics"]
        assert page.locator(".schema-pane .columns code", has_text="start_timestamp").count() >= 1

        run_sql(page, "SELECT span_name, count(*) AS n FROM records GROUP BY span_name ORDER BY n DESC, span_name")
        page.wait_for_selector("#results tbody tr")
        rows = page.locator("#results tbody tr").all_inner_texts()
        assert [r.split("\t") for r in rows] == [["chat gpt-4o", "6"], ["execute_tool lookup", "3"], ["invoke_agent demo", "3"]]
        assert page.locator("#status").inner_text().startswith("3 rows")
        assert page.locator("#truncated").count() == 0

        # a bar chart of n by span_name: one bar per row
        page.select_option("#chart-kind", "bar")
        page.select_option("#chart-x", "span_name")
        page.select_option("#chart-y", "n")
        assert page.locator("#chart svg rect.bar").count() == 3
        screenshot(page, "explore")

        # more rows than --query-row-limit: visibly truncated
        run_sql(page, "SELECT trace_id, span_id, span_name FROM records ORDER BY start_timestamp")
        page.wait_for_selector("#truncated")
        assert page.locator("#results tbody tr").count() == 5
        assert "truncated at 5 rows" in page.locator("#status").inner_text()

        # trace_id is a link into the trace view, span_id a link to the span in it
        span_link = page.locator("#results tbody tr").first.locator("td").nth(1).locator("a")
        span_id = span_link.inner_text()
        page.locator("#results tbody tr").first.locator("td").first.locator("a").click()
        page.wait_for_url("**/trace/*")
        assert page.locator("h1 code").inner_text() == page.url.rsplit("/", 1)[1]
        page.go_back()
        page.wait_for_selector("#sql")

        # a refused query shows the rule next to the editor, not an error page
        run_sql(page, "DELETE FROM records")
        page.wait_for_selector("#error:not([hidden])")
        assert "read-only statements only: DELETE is not allowed" in page.locator("#error").inner_text()
        run_sql(page, "SELECT nonsense FROM records")
        page.wait_for_selector("#error:not([hidden])")
        assert 'Referenced column "nonsense" not found' in page.locator("#error").inner_text()
        screenshot(page, "explore-error")
        assert span_id and page.js_errors == []
    finally:
        server.stop()


def test_examples_saved_and_recent_queries(tmp_path, page):
    server = start_server(tmp_path / "db.duckdb")
    try:
        export_spans(server.url, agent_spans)
        page.goto(f"{server.url}/explore")
        page.click(".examples a:text('Slowest tools')")
        page.wait_for_selector("#results tbody tr")
        assert page.locator("#results thead th").all_inner_texts()[:2] == ["tool", "calls"]
        assert page.locator("#results tbody tr").first.locator("td").nth(1).inner_text() == "3"

        page.once("dialog", lambda dialog: dialog.accept("tool latency"))
        page.click("#save")
        page.wait_for_selector("#saved a:text('tool latency')")

        page.reload()
        page.wait_for_selector("#saved a:text('tool latency')")
        assert page.locator("#recent a").count() >= 1  # kept in the browser across reloads
        page.fill("#sql", "SELECT 1")
        page.click("#saved a:text('tool latency')")
        page.wait_for_selector("#results tbody tr")
        assert "gen_ai.tool.name" in page.input_value("#sql")
        assert page.js_errors == []
    finally:
        server.stop()
