"""The LLM panel of the trace view in Debian's Chromium, fed by real pydantic-ai agents.

The agents are the scripted weather agent of tests/fixtures/llm/capture.py (FunctionModel, offline):
thinking, three tool calls of which one is retried (ModelRetry), a second agent on a model from
another provider, a Markdown answer. They reach a real `spyglass serve` through the OTel SDK's HTTP
exporters (instrumentation version 2 and the default in-process; version 1 in logs mode from
pydantic-ai 1.x in .venv-pai1), through the logfire SDK (instrument_pydantic_ai), and as the
OpenInference spans captured from openinference-instrumentation-openai (tests/fixtures/llm).
"""

import json
import subprocess
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, export_spans, screenshot
from tests.e2e.test_logfire_sdk import run_client
from tests.e2e.test_trace_view import only_trace_id, open_trace
from tests.fixtures.llm.capture import FINAL, PROMPT, run_weather_agent

PAI1_PYTHON = ROOT / ".venv-pai1" / "bin" / "python"
CLIENTS = Path(__file__).with_name("clients")
FIXTURES = ROOT / "tests" / "fixtures" / "llm"


# -- sending data ----------------------------------------------------------------------------------


def in_thread(function, *args, **kwargs):
    """Run `function` in a thread of its own: Playwright's sync API holds this thread's event loop,
    and Agent.run_sync needs one of its own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args, **kwargs).result()


def export_agent_run(url: str, **settings) -> None:
    """The weather agent in this process, its spans sent by the OTel SDK's HTTP exporter."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from pydantic_ai.models.instrumented import InstrumentationSettings

    provider = TracerProvider(resource=Resource.create({"service.name": "pydantic-ai"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # version 2 is a deprecated format
        run_weather_agent(InstrumentationSettings(tracer_provider=provider, **settings))
    provider.shutdown()


def post_fixture(url: str, name: str) -> None:
    """Replay a captured fixture (OTLP/JSON) to the server, as an exporter of the JSON protocol would."""
    document = json.loads((FIXTURES / f"{name}.json").read_text())
    for signal in ("traces", "logs"):
        if signal in document:
            response = httpx.post(f"{url}/v1/{signal}", json=document[signal], timeout=30)
            assert response.status_code == 200, response.text


# -- page helpers ----------------------------------------------------------------------------------


def select(page, label: str, nth: int = 0, part: str = ".label"):
    """Click the nth row whose `part` (.label, or .span-name) shows `label`; wait for its details."""
    row = page.locator("#rows .row", has=page.locator(part, has_text=label)).nth(nth)
    row_id = row.get_attribute("data-row-id")
    row.locator(".label").click()
    page.wait_for_selector(f".detail-inner[data-row-id='{row_id}']")
    return page.locator("#llm-panel")


def bubbles(panel) -> list[tuple[str, str]]:
    """(role, text of its parts) of each message bubble, in order."""
    return [
        (m.get_attribute("data-role"), "\n".join(m.locator(":scope > .llm-part").all_inner_texts()))
        for m in panel.locator(".llm-msg").all()
    ]


def expand_all(page) -> None:
    page.click("#expand-all")


def shot(page, locator, name: str) -> None:
    """A screenshot with `locator` scrolled into view in the details pane (which scrolls on its own)."""
    locator.scroll_into_view_if_needed()
    screenshot(page, name)


# -- the tests -------------------------------------------------------------------------------------


def assert_weather_chat(panel, tool_role: str) -> None:
    """The last model call of the weather agent: its whole input and its Markdown answer."""
    assert panel.get_attribute("data-kind") == "chat"
    assert panel.locator(".llm-model").inner_text() == "gpt-4o"
    assert panel.locator(".llm-instructions").inner_text().endswith("Be terse. Answer in Markdown.")
    roles = [role for role, _ in bubbles(panel)]
    assert roles == ["system", "user", "assistant", tool_role, "assistant", tool_role, "assistant", tool_role, "assistant"]
    user = panel.locator(".llm-msg[data-role=user]").first
    assert PROMPT in user.inner_text()
    image = user.locator(".llm-uri a")
    assert image.first.get_attribute("href") == "https://images.example.com/paris.jpg"
    assert "image/png" in user.locator(".llm-blob").inner_text()
    assert "file-abc123" in user.locator(".llm-file").inner_text()
    first_answer = panel.locator(".llm-msg[data-role=assistant]").first
    thinking = first_answer.locator("details.llm-thinking")
    assert thinking.evaluate("d => d.open") is False  # thinking starts collapsed
    thinking.locator("summary").click()
    assert "call get_weather first" in thinking.inner_text()
    call = first_answer.locator(".llm-tool-call")
    assert call.locator(".llm-tool-name").inner_text() == "get_weather"
    assert json.loads(call.locator("pre.llm-json").inner_text()) == {"city": "Paris"}
    results = panel.locator(".llm-tool-result")
    assert results.count() == 3
    assert "get_weather" in results.nth(0).locator(".llm-part-head").inner_text()
    assert results.nth(0).locator(".llm-plain").inner_text() == "sunny, 21 °C in Paris"
    assert "days must be between 1 and 3" in results.nth(1).inner_text()  # the retry message
    answer = panel.locator(".llm-msg.response")
    assert answer.count() == 1
    assert answer.locator(".md-h").inner_text() == "Paris"
    assert answer.locator("strong").inner_text() == "sunny"
    assert answer.locator("li").all_inner_texts() == ["Monday: sunny", "Tuesday: rain"]
    assert answer.locator("a").get_attribute("href") == "https://weather.example.com/paris"
    assert answer.locator("code.md-code").inner_text() == "get_forecast"
    assert answer.locator("pre.md-pre").inner_text() == "days=3"


def assert_weather_agent(panel) -> None:
    assert panel.get_attribute("data-kind") == "agent"
    assert len(bubbles(panel)) == 9
    final = panel.locator(".llm-final")
    assert final.locator(".md-h").inner_text() == "Paris"
    assert "It is sunny and 21 °C right now." in final.inner_text()


def test_default_version_chat_agent_and_tool_panels(server, page):
    in_thread(export_agent_run, server.url)
    open_trace(page, server, only_trace_id(server))
    expand_all(page)

    panel = select(page, "chat gpt-4o", 3)  # the fourth model call: the answer
    assert_weather_chat(panel, tool_role="user")  # version 5 sends tool results as role "user"
    assert "160 in · 58 out tokens" in panel.locator(".llm-usage").inner_text()
    shot(page, panel.locator(".llm-msg.response"), "llm-panel-chat")

    panel = select(page, "weather_agent run")
    assert_weather_agent(panel)
    assert panel.locator(".llm-usage").inner_text() == "600 in · 124 out tokens"
    shot(page, panel.locator(".llm-final"), "llm-panel-agent")

    # the tool spans: arguments and result; the retried call says so
    panel = select(page, "running tool: get_weather")
    assert panel.get_attribute("data-kind") == "tool"
    assert json.loads(panel.locator(".llm-tool-args pre").inner_text()) == {"city": "Paris"}
    assert panel.locator(".llm-tool-output").inner_text() == "sunny, 21 °C in Paris"
    panel = select(page, "running tool: get_forecast", 0)
    assert "try again (attempt 1 of 1)" in panel.locator(".llm-retry").inner_text()
    assert json.loads(panel.locator(".llm-tool-args pre").inner_text()) == {"city": "Paris", "days": 9}
    screenshot(page, "llm-panel-tool")

    # the second agent, on a model of another provider, inside the tool that called it
    panel = select(page, "chat claude-sonnet-4-5")
    assert panel.locator(".llm-model").inner_text() == "claude-sonnet-4-5"
    assert panel.locator(".llm-provider").inner_text() == "anthropic"
    assert bubbles(panel) == [("user", "Forecast 3 days for Paris."), ("assistant", "Monday: sunny. Tuesday: rain.")]
    assert panel.locator(".llm-msg.response .llm-badge").inner_text() == "response"
    panel = select(page, "forecaster run")
    assert panel.locator(".llm-final").inner_text().endswith("Monday: sunny. Tuesday: rain.")
    assert page.js_errors == []


def test_version_6_and_version_2(server, page):
    in_thread(export_agent_run, server.url, version=6)
    trace_v6 = only_trace_id(server)
    open_trace(page, server, trace_v6)
    expand_all(page)
    assert_weather_chat(select(page, "chat gpt-4o", 3), tool_role="tool")  # version 6: role "tool"

    in_thread(export_agent_run, server.url, version=2)  # `agent run` and `running tool` spans, tool_arguments
    traces = httpx.get(f"{server.url}/api/traces", timeout=10).json()
    trace_v2 = next(t["trace_id"] for t in traces if t["trace_id"] != trace_v6)
    open_trace(page, server, trace_v2)
    expand_all(page)
    assert_weather_chat(select(page, "chat gpt-4o", 3), tool_role="user")
    assert_weather_agent(select(page, "weather_agent run"))
    panel = select(page, "running tool: get_forecast", 1)
    assert json.loads(panel.locator(".llm-tool-args pre").inner_text()) == {"city": "Paris", "days": 3}
    assert panel.locator(".llm-tool-output").inner_text() == "Monday: sunny. Tuesday: rain."
    assert page.js_errors == []


def test_version_1_messages_sent_as_log_records(server, page):
    assert PAI1_PYTHON.exists(), f"{PAI1_PYTHON} is missing: run `make test-deps` (pydantic-ai 1.x for instrumentation version 1)"
    result = subprocess.run([str(PAI1_PYTHON), str(CLIENTS / "pydantic_ai_agent.py"), server.url, "1", "logs"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    open_trace(page, server, only_trace_id(server))
    expand_all(page)
    panel = select(page, "chat gpt-4o", 3)
    assert panel.get_attribute("data-format") == "gen_ai_events"
    assert_weather_chat(panel, tool_role="tool")
    shot(page, panel.locator(".llm-msg.response"), "llm-panel-v1-logs")
    assert_weather_agent(select(page, "weather_agent run"))  # all_messages_events on the agent span
    # a message's own log record, clicked in the tree
    panel = select(page, "gen_ai.user.message", part=".span-name")
    assert [role for role, _ in bubbles(panel)] == ["user"]
    assert PROMPT in panel.inner_text()
    assert page.js_errors == []


def test_logfire_sdk_instrument_pydantic_ai(server, page, tmp_path):
    run_client("pydantic_ai_agent.py", server, tmp_path)
    traces = httpx.get(f"{server.url}/api/traces", timeout=10).json()
    trace_id = next(t["trace_id"] for t in traces if "weather_agent" in json.dumps(t))
    open_trace(page, server, trace_id)
    expand_all(page)
    panel = select(page, "chat gpt-4o", 3)
    roles = [role for role, _ in bubbles(panel)]
    assert roles[:3] == ["system", "user", "assistant"] and roles[-1] == "assistant"
    assert panel.locator(".llm-msg.response strong").inner_text() == "sunny"
    assert_weather_agent(select(page, "weather_agent run"))
    shot(page, page.locator(".llm-final"), "llm-panel-logfire")
    assert page.js_errors == []


def test_openinference_spans(server, page):
    post_fixture(server.url, "openinference_openai")
    traces = httpx.get(f"{server.url}/api/traces", timeout=10).json()
    assert len(traces) == 2  # the openai instrumentor makes each completion a root span
    for trace in traces:
        open_trace(page, server, trace["trace_id"])
        panel = select(page, "ChatCompletion")
        if panel.locator(".llm-msg").count() == 4:
            continue  # the first call: its answer is a tool call
        assert panel.get_attribute("data-format") == "openinference"
        assert panel.locator(".llm-model").inner_text() == "gpt-4o-2024-08-06"
        assert panel.locator(".llm-usage").inner_text() == "52 in · 18 out · 20 cache read tokens"
        assert [role for role, _ in bubbles(panel)] == ["system", "user", "assistant", "tool", "assistant"]
        call = panel.locator(".llm-tool-call")
        assert call.locator(".llm-tool-name").inner_text() == "get_weather"
        assert json.loads(call.locator("pre").inner_text()) == {"city": "Paris"}
        assert "get_weather" in panel.locator(".llm-tool-result .llm-part-head").inner_text()
        assert panel.locator(".llm-msg.response strong").inner_text() == "sunny"
        assert panel.locator(".llm-uri a").get_attribute("href") == "https://images.example.com/paris.jpg"
        shot(page, panel.locator(".llm-msg.response"), "llm-panel-openinference")
        break
    else:
        pytest.fail("no OpenInference span with the final answer")
    assert page.js_errors == []


# -- hostile content -------------------------------------------------------------------------------

HOSTILE = '<script>alert(1)</script> and <img src=x onerror="alert(1);window.__xss=1">'


def hostile_agent_run(url: str) -> None:
    """An agent whose prompt, thinking, tool call, tool result and answer all carry HTML and script."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from pydantic_ai import Agent
    from pydantic_ai.messages import ImageUrl, ModelResponse, TextPart, ThinkingPart, ToolCallPart
    from pydantic_ai.models.function import FunctionModel
    from pydantic_ai.models.instrumented import InstrumentationSettings

    def model(messages, info):
        if len(messages) == 1:
            return ModelResponse(parts=[
                ThinkingPart(content=f"<b onmouseover=alert(1)>think</b> {HOSTILE}"),
                ToolCallPart("lookup", {"query": HOSTILE, "tags": {"<img src=x onerror=alert(1)>": 1}}, tool_call_id="call_x"),
            ])
        return ModelResponse(parts=[TextPart(
            f"**Done** {HOSTILE}\n\n[click me](javascript:alert(1)) [data](data:text/html,<script>alert(1)</script>) "
            f"[fine](https://example.com/safe) <a href=\"javascript:alert(1)\">raw link</a>\n\n```\n{HOSTILE}\n```\n\n- `{HOSTILE}`"
        )])

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces")))
    agent = Agent(FunctionModel(model, model_name="evil-model"), name="evil", instructions=HOSTILE)
    agent.instrument = InstrumentationSettings(tracer_provider=provider)

    @agent.tool_plain
    def lookup(query: str, tags: dict[str, int]) -> str:
        return f"<script>alert('tool')</script>{query}"

    agent.run_sync([f"Hello {HOSTILE}", ImageUrl(url="javascript:alert(1)", media_type="image/png")])
    provider.shutdown()


def test_hostile_messages_render_as_text(server, page):
    in_thread(hostile_agent_run, server.url)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_trace(page, server, only_trace_id(server))
    expand_all(page)
    for label, nth in (("chat evil-model", 1), ("evil run", 0), ("running tool: lookup", 0)):
        panel = select(page, label, nth)
        panel.locator("details").evaluate_all("all => all.forEach(d => { d.open = true; })")
        assert panel.locator("script, img, iframe, object, embed, [onerror], [onmouseover]").count() == 0
        hrefs = panel.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert all(href.startswith("https://") for href in hrefs), hrefs
        assert HOSTILE in panel.inner_text()
    panel = select(page, "chat evil-model", 1)
    answer = panel.locator(".llm-msg.response")
    assert "[click me](javascript:alert(1))" in answer.inner_text()  # shown as written, not a link
    assert answer.locator("a").all_inner_texts() == ["fine"]
    assert '<a href="javascript:alert(1)">raw link</a>' in answer.inner_text()
    assert "javascript:alert(1)" in panel.locator(".llm-msg[data-role=user] .llm-uri").inner_text()
    assert panel.locator(".llm-msg[data-role=user] .llm-uri a").count() == 0
    shot(page, answer, "llm-panel-hostile")
    page.mouse.move(400, 400)
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    assert page.js_errors == []


MARKDOWN_CASES = [
    ("a **b** *c* _d_ snake_case_name `<e>`",
     '<p>a <strong>b</strong> <em>c</em> <em>d</em> snake_case_name <code class="md-code">&lt;e&gt;</code></p>'),
    ("[x](HTTPS://A.example/p?q=1) [y](javascript:alert(1)) [z](//evil.example) see https://b.example/z.",
     '<p><a href="https://a.example/p?q=1" target="_blank" rel="noopener noreferrer nofollow" class="llm-link">x</a> '
     '[y](javascript:alert(1)) [z](//evil.example) see <a href="https://b.example/z" target="_blank" '
     'rel="noopener noreferrer nofollow" class="llm-link">https://b.example/z</a>.</p>'),
    ("1. one\n2. **two**\n\n- a\n  more", '<ol class="md-list"><li>one</li><li><strong>two</strong></li></ol>'
     '<ul class="md-list"><li>a<br>more</li></ul>'),
    ("```html\n<b onclick=x>hi</b>\n```\n> quoted *it*",
     '<pre class="md-pre" data-lang="html"><code>&lt;b onclick=x&gt;hi&lt;/b&gt;</code></pre>'
     '<blockquote class="md-quote"><div class="md"><p>quoted <em>it</em></p></div></blockquote>'),
    ("## Title\nline one\nline <two>", '<div class="md-h md-h2" role="heading" aria-level="2">Title</div><p>line one<br>line &lt;two&gt;</p>'),
]


def test_markdown_subset(server, page):
    export_spans(server.url, lambda tracer: tracer.start_span("just a span").end())
    trace_id = only_trace_id(server)
    span_id = httpx.get(f"{server.url}/api/trace/{trace_id}", timeout=10).json()["nodes"][0]["row_id"]
    details = httpx.get(f"{server.url}/api/trace/{trace_id}/span/{span_id}", timeout=10).json()
    assert details["conversation"] is None  # not a model call: no panel
    open_trace(page, server, trace_id)
    assert page.locator("#llm-panel").count() == 0
    for text, html in MARKDOWN_CASES:
        assert page.evaluate("text => SpyglassLLM.markdown(text).innerHTML", text) == html, text
    # openers that never close, which make a naive parser backtrack: drawn as text, without a stall
    for text in ("**a " * 15_000, "_a " * 20_000, "[" * 20_000 + "](http://x", "`a" + " b" * 30_000):
        assert page.evaluate("text => SpyglassLLM.markdown(text).textContent.length", text) == len(text)
    assert page.evaluate("text => SpyglassLLM.markdown(text).querySelectorAll('em').length", "x*" * 30_000) == 15_000
    assert page.js_errors == []
