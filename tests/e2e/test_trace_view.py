"""The trace view in Debian's Chromium, against a real `spyglass serve` fed by real clients.

Traces come from the OTel SDK (export_spans), the logfire SDK (a subprocess, for pending spans and
the export round trip) and raw OTLP protobuf built here, for shapes no SDK produces on purpose
(orphans, shared span ids, parent cycles, hostile names) and for 10,000 spans at once.
"""

import json
import os
import time
from urllib.parse import parse_qs, urlparse

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.trace import Link, SpanContext, Status, StatusCode, TraceFlags

from tests.conftest import export_spans, read_db, screenshot, start_server
from tests.e2e.test_logfire_sdk import read_line, run_client, start_client

UNSTORED_TRACE = 0x5B8EFFF798038103D269B633813FC60C
UNSTORED_SPAN = 0x00F067AA0BA902B7
T0 = 1_790_000_000_000_000_000  # 2026, nanoseconds


# -- sending data ----------------------------------------------------------------------------------


def agent_trace(tracer) -> None:
    """An agent run: JSON text attributes, events, an exception, two errors, links, a warn log."""
    messages = [{"role": "user", "parts": [{"type": "text", "content": "Where is order 42?"}]}]
    with tracer.start_as_current_span("invoke_agent support", attributes={
        "gen_ai.agent.name": "support", "gen_ai.input.messages": json.dumps(messages),
        "attempts": 3, "ratio": 0.25, "cached": True, "quote": "it's <fine>", "tags": ["a", "b"],
    }):
        with tracer.start_as_current_span("chat gpt-4o", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 12,
        }) as chat:
            chat.add_event("gen_ai.choice", {"index": 0, "finish_reason": "tool_call"})
        with tracer.start_as_current_span("execute_tool lookup_order", attributes={"order.id": "42"}) as tool:
            with tracer.start_as_current_span("GET /orders/42", attributes={"http.response.status_code": 503,
                                                                                     "error.type": "upstream_overloaded"}):
                pass
            try:
                raise ConnectionError("order service is down")
            except ConnectionError as error:
                tool.record_exception(error)
                tool.set_status(Status(StatusCode.ERROR, "order service is down"))
        unstored = SpanContext(UNSTORED_TRACE, UNSTORED_SPAN, is_remote=True, trace_flags=TraceFlags(1))
        with tracer.start_as_current_span("retry lookup_order", links=[
            Link(chat.get_span_context(), {"link.reason": "same request"}), Link(unstored),
        ]):
            pass
        with tracer.start_as_current_span("final answer") as final:
            final.set_status(Status(StatusCode.ERROR, "gave up"))


def only_trace_id(server) -> str:
    traces = httpx.get(f"{server.url}/api/traces", timeout=10).json()
    assert len(traces) == 1, traces
    return traces[0]["trace_id"]


def kv(key: str, value) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    return KeyValue(key=key, value=AnyValue(int_value=value))


def span_id(n: int) -> bytes:
    return n.to_bytes(8, "big")


def send_protobuf(url: str, spans: list[dict], service: str = "crafted") -> None:
    """POST one ExportTraceServiceRequest built from span dicts (protobuf Span fields) to /v1/traces."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(kv("service.name", service))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "tests.crafted"
    for fields in spans:
        scope_spans.spans.add(**fields)
    response = httpx.post(f"{url}/v1/traces", content=request.SerializeToString(),
                          headers={"Content-Type": "application/x-protobuf"}, timeout=60)
    assert response.status_code == 200 and response.content == b"", response.content


def crafted(trace: bytes, n: int, name: str, parent: int | None = None, start_ms: float = 0, end_ms: float = 1, **fields) -> dict:
    span = {"trace_id": trace, "span_id": span_id(n), "name": name,
            "start_time_unix_nano": T0 + int(start_ms * 1e6), "end_time_unix_nano": T0 + int(end_ms * 1e6), **fields}
    if parent is not None:
        span["parent_span_id"] = span_id(parent)
    return span


def run_sql(server, sql: str) -> list[list]:
    response = httpx.post(f"{server.url}/api/query", json={"sql": sql}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["rows"]


# -- page helpers ----------------------------------------------------------------------------------


def open_trace(page, server, trace_id: str, query: str = "") -> None:
    page.goto(f"{server.url}/trace/{trace_id}{query}")
    page.wait_for_selector("#rows .row")


def row(page, text: str):
    return page.locator("#rows .row", has=page.locator(".label", has_text=text))


def labels(page) -> list[str]:
    return page.locator("#rows .row .label").all_inner_texts()


def click_row(page, text: str) -> None:
    row(page, text).locator(".label").click()
    page.wait_for_selector(f"#detail-title:text-is({json.dumps(text)})")


# -- the tests -------------------------------------------------------------------------------------


def test_tree_details_json_attributes_copy_filter_and_links(server, page, browser):
    export_spans(server.url, agent_trace)
    trace_id = only_trace_id(server)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_trace(page, server, trace_id)
    screenshot(page, "trace-view")

    assert page.locator("h1 code").inner_text() == trace_id
    assert labels(page) == [
        "invoke_agent support", "chat gpt-4o", "execute_tool lookup_order", "GET /orders/42",
        "retry lookup_order", "final answer",
    ]
    assert page.locator("#rows .row").first.get_attribute("aria-level") == "1"
    assert row(page, "GET /orders/42").get_attribute("aria-level") == "3"
    # the waterfall: the root spans the whole axis; children sit inside it, in start order
    bars = page.locator("#rows .row .bar").evaluate_all("bars => bars.map(b => [parseFloat(b.style.left), parseFloat(b.style.width)])")
    assert bars[0] == [0, 100] and all(0 <= left <= 100 and left + width <= 100.001 for left, width in bars)
    assert [left for left, _ in bars[1:3]] == sorted(left for left, _ in bars[1:3])
    assert row(page, "chat gpt-4o").locator(".tick").get_attribute("title") == "gen_ai.choice"

    # collapse and expand
    row(page, "execute_tool lookup_order").locator(".toggle").click()
    assert "GET /orders/42" not in labels(page)
    assert row(page, "execute_tool lookup_order").locator(".count").inner_text() == "1"
    row(page, "execute_tool lookup_order").locator(".toggle").click()
    assert "GET /orders/42" in labels(page)
    page.locator("#rows .row .toggle").first.click()
    assert labels(page) == ["invoke_agent support"]
    page.click("#expand-all")
    assert len(labels(page)) == 6

    # details of the root: attributes, with the JSON text attribute shown parsed
    click_row(page, "invoke_agent support")
    attributes = page.locator("#detail-attributes")
    messages = attributes.locator(".kv", has=page.locator(".key", has_text="gen_ai.input.messages")).first
    assert messages.locator(".jsontext").inner_text() == "JSON"
    assert messages.locator(".kv .key", has_text="role").first.is_visible()
    assert "Where is order 42?" in messages.inner_text()
    assert "parts" in messages.inner_text() and '"role"' not in messages.inner_text()  # a tree, not the text
    messages.locator("button.raw").first.click()
    assert '"role": "user"' in messages.locator("pre").first.inner_text()
    messages.locator("button.raw").first.click()  # back to the tree
    assert attributes.locator(".kv", has=page.locator(".key", has_text="attempts")).first.locator(".n").inner_text() == "3"
    assert page.locator("#detail-span-id").inner_text() == row(page, "invoke_agent support").get_attribute("data-span-id")
    screenshot(page, "trace-details")

    # "filter by this value": SQL for the live view that finds this very span
    def filter_sql(key_text: str, nested_key: str | None = None) -> str:
        entry = attributes.locator(".kv", has=page.locator(".key", has_text=key_text)).first
        if nested_key:
            entry = entry.locator(".kv", has=page.locator(".key", has_text=nested_key)).first
        entry.hover()
        link = entry.locator("a.filter").first
        href = link.get_attribute("href")
        assert urlparse(href).path == "/"
        return parse_qs(urlparse(href).query)["where"][0]

    for key, nested, expected in [
        ("attempts", None, "TRY_CAST((attributes->>'attempts') AS BIGINT) = 3"),
        ("ratio", None, "TRY_CAST((attributes->>'ratio') AS DOUBLE) = 0.25"),
        ("cached", None, "(attributes->>'cached') = 'true'"),
        ("quote", None, "(attributes->>'quote') = 'it''s <fine>'"),
        ("gen_ai.input.messages", "role", "((attributes->>'gen_ai.input.messages')->0->>'role') = 'user'"),
    ]:
        where = filter_sql(key, nested)
        assert where == expected
        assert run_sql(server, f"SELECT span_name FROM records WHERE {where}") == [["invoke_agent support"]]
    assert run_sql(server, f"SELECT count(*) FROM records WHERE {filter_sql('tags', '1')}") == [[1]]

    # copy buttons: trace id and span id reach the clipboard
    page.locator(".detail button.copy").nth(1).click()
    page.wait_for_selector(".detail button.copy.copied")
    assert page.evaluate("navigator.clipboard.readText()") == page.locator("#detail-span-id").inner_text()
    page.click("h1 button.copy")
    assert page.evaluate("navigator.clipboard.readText()") == trace_id

    # an exception with its stack trace, and the event that carried it
    click_row(page, "execute_tool lookup_order")
    assert page.locator("#detail-exception .exc-title").inner_text() == "ConnectionError: order service is down"
    assert "Traceback (most recent call last)" in page.locator("#detail-exception pre").inner_text()
    assert page.locator("#detail-events .event-name").all_inner_texts() == ["exception"]

    # links: the stored one is a link into its trace, the other plain text; the parent is one click away
    click_row(page, "retry lookup_order")
    link = page.locator("#detail-links a.span-link")
    assert link.count() == 1
    chat_span = row(page, "chat gpt-4o").get_attribute("data-span-id")
    assert link.get_attribute("href").endswith(f"/trace/{trace_id}?span={chat_span}")
    assert f"{UNSTORED_TRACE:032x} / {UNSTORED_SPAN:016x}" in page.locator("#detail-links").inner_text()
    assert "not stored here" in page.locator("#detail-links").inner_text()
    link.click()
    page.wait_for_selector("#detail-title:text-is('chat gpt-4o')")
    assert row(page, "chat gpt-4o").get_attribute("class").split().count("selected") == 1
    page.click("#detail-parent")
    page.wait_for_selector("#detail-title:text-is('invoke_agent support')")
    assert page.js_errors == []


def test_status_colours_and_error_navigation(server, page):
    export_spans(server.url, agent_trace)
    trace_id = only_trace_id(server)
    open_trace(page, server, trace_id)

    def colour(text: str) -> str:
        return row(page, text).locator(".bar").evaluate("bar => getComputedStyle(bar).backgroundColor")

    assert colour("execute_tool lookup_order") == colour("final answer") == "rgb(220, 38, 38)"
    assert colour("chat gpt-4o") != colour("final answer")
    errors = page.locator("#rows .row.error .label").all_inner_texts()
    assert errors == ["execute_tool lookup_order", "final answer"]
    assert page.locator("#error-count").inner_text() == "2 errors"

    page.click("#error-next")
    page.wait_for_selector("#detail-title:text-is('execute_tool lookup_order')")
    assert page.locator("#error-count").inner_text() == "error 1 of 2"
    page.click("#error-next")
    page.wait_for_selector("#detail-title:text-is('final answer')")
    page.click("#error-next")  # wraps around
    page.wait_for_selector("#detail-title:text-is('execute_tool lookup_order')")
    page.click("#error-prev")
    page.wait_for_selector("#detail-title:text-is('final answer')")
    assert page.locator("#rows .row.selected .label").inner_text() == "final answer"

    # the keyboard: arrows move the selection, left and right fold and unfold
    page.focus("#rows")
    page.keyboard.press("ArrowUp")
    page.wait_for_selector("#detail-title:text-is('retry lookup_order')")
    page.keyboard.press("Home")
    page.keyboard.press("ArrowLeft")
    assert labels(page) == ["invoke_agent support"]
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("#detail-title:text-is('chat gpt-4o')")
    assert "span=" in page.url

    # an error inside a collapsed subtree: navigation expands its ancestors
    page.click("#collapse-all")
    assert labels(page) == ["invoke_agent support"]
    page.click("#error-next")
    page.wait_for_selector("#detail-title:text-is('execute_tool lookup_order')")
    assert "execute_tool lookup_order" in labels(page)
    # the page can be opened on a span, which is then selected and shown
    chat_span = row(page, "chat gpt-4o").get_attribute("data-span-id")
    open_trace(page, server, trace_id, f"?span={chat_span}")
    page.wait_for_selector("#detail-title:text-is('chat gpt-4o')")
    assert page.js_errors == []


def test_search_highlights_expands_and_moves_between_matches(server, page):
    export_spans(server.url, agent_trace)
    trace_id = only_trace_id(server)
    open_trace(page, server, trace_id)
    page.click("#collapse-all")

    def search(text: str) -> str:
        page.fill("#trace-search", text)
        page.wait_for_selector("#search-count[data-done]", state="attached")
        return page.locator("#search-count").inner_text()

    # "overloaded" is only in an attribute of a span hidden in a collapsed subtree: found by the server
    # (not a number: digits also turn up in random span ids and event timestamps)
    assert search("overloaded") == "1 of 1"
    assert page.locator("#rows .row.match .label").all_inner_texts() == ["GET /orders/42"]
    assert page.locator("#rows .row.match.current").count() == 1

    # names and attributes; Enter moves to the next match, Shift+Enter back
    assert search("order") == "1 of 4"  # the root's only "order" is inside a JSON attribute
    assert page.locator("#rows .row.match .label").all_inner_texts() == [
        "invoke_agent support", "execute_tool lookup_order", "GET /orders/42", "retry lookup_order",
    ]
    assert page.locator("#rows .row.current .label").inner_text() == "invoke_agent support"
    page.press("#trace-search", "Enter")
    assert page.locator("#search-count").inner_text() == "2 of 4"
    assert page.locator("#rows .row.current .label").inner_text() == "execute_tool lookup_order"
    page.click("#search-next")
    page.click("#search-next")
    assert page.locator("#search-count").inner_text() == "4 of 4"
    page.press("#trace-search", "Enter")  # wraps around
    assert page.locator("#rows .row.current .label").inner_text() == "invoke_agent support"
    page.press("#trace-search", "Shift+Enter")
    assert page.locator("#rows .row.current .label").inner_text() == "retry lookup_order"
    assert page.locator("#rows .row:not(.match) .label").all_inner_texts() == ["chat gpt-4o", "final answer"]

    assert search("no such thing") == "no matches"
    assert page.locator("#rows .row.match").count() == 0
    assert search("") == ""
    assert page.js_errors == []


def test_a_pending_span_is_drawn_as_running(server, page, tmp_path):
    client = start_client("hold_span.py", server, tmp_path)
    try:
        ids = json.loads(read_line(client))
        client.stdin.write("\n")  # end the nested span; the root stays open
        client.stdin.flush()
        assert read_line(client) == "child ended"
        open_trace(page, server, ids["trace_id"])
        assert labels(page) == ["long running", "nested 1"]
        running = row(page, "long running")
        assert "running" in running.get_attribute("class").split()
        assert running.locator(".badge.running").inner_text() == "running"
        assert running.locator(".dur").inner_text() == "running"
        assert running.locator(".bar").evaluate("bar => getComputedStyle(bar).animationName") == "bar-running"
        finished = row(page, "nested 1")
        assert "running" not in finished.get_attribute("class").split()
        # the running bar reaches the end of the trace (the end of the finished child)
        root_bar = running.locator(".bar").evaluate("b => parseFloat(b.style.left) + parseFloat(b.style.width)")
        child_bar = finished.locator(".bar").evaluate("b => parseFloat(b.style.left) + parseFloat(b.style.width)")
        assert abs(root_bar - 100) < 0.01 and abs(child_bar - 100) < 0.01
        click_row(page, "long running")
        assert "not ended yet" in page.locator("#detail-facts").inner_text()
        assert page.locator(".detail .badges").inner_text().startswith("pending span")
        screenshot(page, "trace-pending")
        assert page.locator("#trace-changed").is_hidden()
        client.stdin.write("\n")
        client.stdin.close()
        assert client.wait(60) == 0
        # the open page notices, without a reload, that the running trace has finished
        page.wait_for_selector("#trace-changed:not([hidden])", timeout=20_000)
        assert page.locator("#trace-changed").inner_text().startswith("This trace has finished.")
        page.click("#trace-reload")
        page.wait_for_load_state()
        assert page.locator("#rows .row.running").count() == 0
        assert "span=" in page.url  # the selected span stays selected
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        for stream in (client.stdout, client.stderr):
            stream.close()
    open_trace(page, server, ids["trace_id"])
    assert page.locator("#rows .row.running").count() == 0
    assert page.js_errors == []


def test_orphans_shared_ids_and_cycles_render_without_hanging(server, page):
    trace = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
    send_protobuf(server.url, [
        crafted(trace, 1, "root", start_ms=0, end_ms=100),
        crafted(trace, 2, "attempt 1", parent=1, start_ms=10, end_ms=30),
        crafted(trace, 2, "attempt 2 (same span id)", parent=1, start_ms=50, end_ms=90),
        crafted(trace, 3, "child of attempt 2", parent=2, start_ms=60, end_ms=70),
        crafted(trace, 4, "orphan: parent never arrived", parent=999, start_ms=20, end_ms=40),
        crafted(trace, 5, "cycle a", parent=6, start_ms=5, end_ms=6),
        crafted(trace, 6, "cycle b", parent=5, start_ms=6, end_ms=7),
        crafted(trace, 7, "its own parent", parent=7, start_ms=8, end_ms=9),
        crafted(trace, 8, "ends before it starts", parent=1, start_ms=80, end_ms=70),
    ])
    trace_id = trace.hex()
    open_trace(page, server, trace_id)
    assert labels(page) == [
        "root", "attempt 1", "attempt 2 (same span id)", "child of attempt 2", "ends before it starts",
        "cycle a", "cycle b", "its own parent", "orphan: parent never arrived",
    ]
    assert row(page, "orphan: parent never arrived").locator(".badge.orphan").inner_text() == "orphan"
    assert row(page, "orphan: parent never arrived").get_attribute("aria-level") == "1"
    assert row(page, "child of attempt 2").get_attribute("aria-level") == "3"
    assert row(page, "cycle a").locator(".badge.cycle").count() == 1
    assert row(page, "cycle b").get_attribute("aria-level") == "2"
    assert row(page, "its own parent").locator(".badge.cycle").count() == 1
    assert row(page, "attempt 2 (same span id)").locator(".badge.dup").count() == 1
    assert row(page, "ends before it starts").locator(".badge.negative").count() == 1
    assert page.locator("#rows .row[data-row-id$='-1']").count() == 1

    # each of the two rows sharing a span id has its own details
    click_row(page, "attempt 2 (same span id)")
    assert page.locator("#detail-span-id").inner_text() == span_id(2).hex()
    click_row(page, "attempt 1")
    click_row(page, "orphan: parent never arrived")
    assert "never arrived" in page.locator("#detail-facts").inner_text()
    assert page.locator(".trace-facts .fact-orphan").inner_text() == "1 orphan"
    screenshot(page, "trace-anomalies")
    api = httpx.get(f"{server.url}/api/trace/{trace_id}", timeout=10).json()
    assert len(api["nodes"]) == 9 and api["summary"]["orphans"] == 1
    assert page.js_errors == []


def ten_thousand_spans(trace: bytes) -> list[dict]:
    """1 root, 20 steps of 20 calls of 23 leaves (9,621 spans), and a chain 379 deep: 10,000 spans."""
    spans = [crafted(trace, 1, "root", start_ms=0, end_ms=9000)]
    n = 1
    for a in range(20):
        n += 1
        step = n
        spans.append(crafted(trace, step, f"step {a}", 1, a * 400, a * 400 + 390))
        for b in range(20):
            n += 1
            call = n
            status = {"status": {"code": 2, "message": "failed"}} if (a, b) == (19, 19) else {}
            spans.append(crafted(trace, call, f"call {a}.{b}", step, a * 400 + b * 19, a * 400 + b * 19 + 18, **status))
            for c in range(23):
                n += 1
                spans.append(crafted(trace, n, f"leaf {a}.{b}.{c}", call, a * 400 + b * 19 + c * 0.7, a * 400 + b * 19 + c * 0.7 + 0.6,
                                     attributes=[kv("leaf.key", f"needle-{a}-{b}-{c}")]))
    parent = 1
    for d in range(379):
        n += 1
        spans.append(crafted(trace, n, f"deep {d}", parent, d * 0.001, 8000 - d * 0.001))
        parent = n
    assert len(spans) == 10_000
    return spans


def test_ten_thousand_spans_open_fast_and_stay_lazy(server, page):
    trace = os.urandom(16)
    send_protobuf(server.url, ten_thousand_spans(trace), service="big")
    trace_id = trace.hex()
    started = time.perf_counter()
    response = httpx.get(f"{server.url}/trace/{trace_id}", timeout=60)
    print(f"10,000-span trace page: {(time.perf_counter() - started) * 1000:.0f} ms, {len(response.content) / 1e6:.2f} MB")
    assert response.status_code == 200

    open_trace(page, server, trace_id)
    rows_in_dom = page.locator("#rows .row").count()
    assert 10 <= rows_in_dom <= 120
    assert "10000 spans" in page.locator(".trace-facts").inner_text()
    screenshot(page, "trace-10k")

    # expand a deep node: search opens the 100 levels above "deep 99", whose own child stays folded
    page.fill("#trace-search", "deep 99")
    page.wait_for_selector("#search-count[data-done]", state="attached")
    deep = row(page, "deep 99")
    assert (deep.get_attribute("aria-level"), deep.get_attribute("aria-expanded")) == ("101", "false")
    assert deep.locator(".count").inner_text() == "279"
    assert row(page, "deep 100").count() == 0
    deep.locator(".toggle").click()
    assert row(page, "deep 100").get_attribute("aria-level") == "102"
    assert page.locator("#rows .row").count() <= 120

    # search reaches a leaf 379 levels down and one among 9,200 leaves; the DOM stays small
    page.fill("#trace-search", "deep 378")
    page.wait_for_selector("#search-count[data-done]", state="attached")
    assert page.locator("#search-count").inner_text() == "1 of 1"
    assert page.locator("#rows .row.current .label").inner_text() == "deep 378"
    assert page.locator("#rows .row.current").get_attribute("aria-level") == "380"
    page.fill("#trace-search", "needle-13-7-21")  # only in an attribute
    page.wait_for_selector("#search-count[data-done]", state="attached")
    assert page.locator("#search-count").inner_text() == "1 of 1"
    assert page.locator("#rows .row.current .label").inner_text() == "leaf 13.7.21"
    assert page.locator("#rows .row").count() <= 120

    # everything expanded: still only the rows in view exist; scrolling draws the others
    page.click("#expand-all")
    assert page.locator("#rows .row").count() <= 120
    assert page.locator("#rows-spacer").evaluate("s => s.offsetHeight") == 10_000 * 24
    page.locator("#rows").evaluate("r => { r.scrollTop = r.scrollHeight; }")
    page.wait_for_selector("#rows .row .label:text-is('leaf 19.19.22')")  # the last row
    assert page.locator("#rows .row").count() <= 120
    page.click("#error-next")
    page.wait_for_selector("#detail-title:text-is('call 19.19')")
    assert page.js_errors == []


def test_hostile_names_and_attributes_render_as_text(server, page):
    trace = bytes.fromhex("00000000000000000000000000000bad")
    img = "<img src=x onerror=\"window.__pwned=1;alert(1)\">"
    script = "<script>window.__pwned=2;alert(2)</script>"
    send_protobuf(server.url, [
        crafted(trace, 1, img, start_ms=0, end_ms=10, attributes=[
            kv(f"key {img}", f"value {script}"),
            kv("json", json.dumps({"html": img, "list": [script]})),
            kv("logfire.msg", f"message {img}"),
            kv("long", img * 200 + " END"),
        ], events=[{"name": script, "time_unix_nano": T0 + 1000, "attributes": [kv("x", img)]}],
            status={"code": 2, "message": img}),
        crafted(trace, 2, script, parent=1, start_ms=1, end_ms=2),
    ], service=f"svc {img}")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_trace(page, server, trace.hex())
    assert labels(page) == [f"message {img}", script]
    assert row(page, script).get_attribute("data-row-id") == span_id(2).hex()
    page.locator("#rows .row .label").first.click()
    page.wait_for_selector("#detail-attributes")
    detail = page.locator("#detail").inner_text()
    assert f"key {img}" in detail and f"value {script}" in detail and img in detail
    # a long string is cut, with "show more"
    long_value = page.locator("#detail-attributes .kv", has=page.locator(".key", has_text="long")).locator(".s")
    assert long_value.inner_text().endswith("…") and " END" not in long_value.inner_text()
    page.click("#detail-attributes button.more:text('show more')")
    assert long_value.inner_text() == img * 200 + " END"
    page.fill("#trace-search", "<script>")
    page.wait_for_selector("#search-count[data-done]", state="attached")
    assert page.locator("#search-count").inner_text() == "1 of 2"  # a name, and an event of the other
    assert page.locator("main img, main script:not([src]):not([type])").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert dialogs == [] and page.js_errors == []
    assert img in page.locator(".trace-facts .services").inner_text()


def test_export_round_trips_through_a_fresh_server(tmp_path, page):
    source = start_server(tmp_path / "source.duckdb")
    target = start_server(tmp_path / "target.duckdb")
    try:
        export_spans(source.url, agent_trace)
        agent = only_trace_id(source)
        root = httpx.get(f"{source.url}/api/trace/{agent}", timeout=10).json()["nodes"][0]
        # an OTLP log record emitted inside the agent's root span
        log = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "logger"}}]},
                                 "scopeLogs": [{"scope": {"name": "app.logs"}, "logRecords": [{
                                     "timeUnixNano": str(root["start_us"] * 1000 + 1500), "severityNumber": 13,
                                     "body": {"stringValue": "low stock"}, "traceId": agent, "spanId": root["span_id"],
                                     "attributes": [{"key": "sku", "value": {"intValue": "77"}}]}]}]}]}
        assert httpx.post(f"{source.url}/v1/logs", json=log, timeout=10).status_code == 200
        # the real logfire SDK: logs as spans, JSON attributes declared in logfire.json_schema, exceptions
        run_client("emit_records.py", source, tmp_path)
        traces = [t["trace_id"] for t in httpx.get(f"{source.url}/api/traces", params={"limit": 100}, timeout=10).json()]
        assert len(traces) == 6

        open_trace(page, source, agent)
        with page.expect_download() as download:
            page.click("a.export:text('Export OTLP JSON')")
        exported = json.loads(download.value.path().read_text())
        assert exported["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] == agent
        assert page.locator("a.export").count() == 2  # the trace has an OTLP log record: a logs export too

        for trace_id in traces:
            spans = httpx.get(f"{source.url}/api/trace/{trace_id}/otlp.json", timeout=10)
            assert spans.headers["content-disposition"] == f'attachment; filename="trace-{trace_id}.otlp.json"'
            assert httpx.post(f"{target.url}/v1/traces", content=spans.content,
                              headers={"Content-Type": "application/json"}, timeout=10).json() == {}
            logs = httpx.get(f"{source.url}/api/trace/{trace_id}/otlp-logs.json", timeout=10).json()
            if logs["resourceLogs"]:
                assert httpx.post(f"{target.url}/v1/logs", json=logs, timeout=10).json() == {}
        missing = httpx.get(f"{source.url}/api/trace/{'0' * 31}1/otlp.json", timeout=10)
        assert missing.status_code == 404 and "no finished records" in missing.json()["error"]
    finally:
        source.stop()
        target.stop()

    columns = [c for (c,) in read_db(
        source.db, "SELECT column_name FROM information_schema.columns WHERE table_name = 'stored_records' ORDER BY ordinal_position"
    )]
    compared = ", ".join(c for c in columns if c != "created_at")
    query = f"SELECT {compared} FROM records ORDER BY trace_id, start_timestamp, span_id"
    before, after = read_db(source.db, query), read_db(target.db, query)
    assert len(before) == len(after) == 15  # 6 agent spans, 1 OTLP log, 8 logfire records
    span_id_column = columns.index("span_id")
    logs = [i for i, r in enumerate(before) if r[columns.index("otel_span_kind")] is None]
    assert len(logs) == 1  # only the OTLP log record gets a new (derived) span_id
    for i, (a, b) in enumerate(zip(before, after)):
        if i in logs:
            a, b = a[:span_id_column] + a[span_id_column + 1:], b[:span_id_column] + b[span_id_column + 1:]
        assert a == b


def test_unknown_traces_and_bad_ids(server, page):
    response = httpx.get(f"{server.url}/trace/{'a' * 32}", timeout=10)
    assert response.status_code == 404 and "may not have arrived yet" in response.text
    response = httpx.get(f"{server.url}/trace/not-a-trace", timeout=10)
    assert response.status_code == 400 and "32 hex characters" in response.text
    assert httpx.get(f"{server.url}/api/trace/xyz", timeout=10).json()["error"].startswith("a trace id is 32 hex")
    assert httpx.get(f"{server.url}/api/trace/{'a' * 32}", timeout=10).status_code == 404
    export_spans(server.url, agent_trace)
    trace_id = only_trace_id(server)
    response = httpx.get(f"{server.url}/api/trace/{trace_id}/span/nope", timeout=10)
    assert response.status_code == 400 and "row id" in response.json()["error"]
    assert httpx.get(f"{server.url}/api/trace/{trace_id}/span/{'0' * 16}", timeout=10).status_code == 404
    open_trace(page, server, trace_id, f"?span={'0' * 16}")
    assert f"No span {'0' * 16} in this trace." in page.locator("#detail").inner_text()
    assert page.js_errors == []
