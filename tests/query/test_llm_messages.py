"""query/llm_messages.py on what real clients sent: the fixtures in tests/fixtures/llm, captured by
tests/fixtures/llm/capture.py from real pydantic-ai (instrumentation versions 1 to 6) and from the
real openinference-instrumentation-openai, and read through Spyglass's own decoder into the rows it
stores, so the input here is exactly what the trace view's span endpoint reads."""

import json
import random
from pathlib import Path

import pytest

from collector.decode import decode_request
from query.llm_messages import conversation, wants_logs
from tests.fixtures.llm.capture import FINAL, PROMPT

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "llm"
INSTRUCTIONS = [{"type": "text", "content": "Be terse. Answer in Markdown."}]
RETRY = "days must be between 1 and 3"


def load(name: str) -> list[dict]:
    """The fixture's records as the writer stores them (JSON columns parsed, as query/trace.py does)."""
    document = json.loads((FIXTURES / f"{name}.json").read_text())
    rows = []
    for signal in ("traces", "logs"):
        if signal in document:
            decoded = decode_request(signal, json.dumps(document[signal]).encode(), "json", 0)
            assert decoded.rejected == 0, decoded.errors
            rows += decoded.records
    for row in rows:
        for column in ("attributes", "otel_events"):
            if row[column] is not None:
                row[column] = json.loads(row[column])
    return sorted(rows, key=lambda r: r["start_timestamp"])


def spans(rows: list[dict], name: str) -> list[dict]:
    return [r for r in rows if r["kind"] == "span" and r["span_name"] == name]


def logs_under(rows: list[dict], span: dict) -> list[dict]:
    """The log records emitted inside `span`, oldest first, as query/sql/trace_span_logs.sql reads them."""
    return [r for r in rows if r["kind"] == "log" and r["parent_span_id"] == span["span_id"]]


def of(rows: list[dict], name: str, index: int = 0) -> dict:
    record = spans(rows, name)[index]
    return conversation(record, logs_under(rows, record))


def outline(messages: list[dict]) -> list[tuple]:
    """Each message as (role, response, part summaries): what should not depend on the format."""
    def part(p: dict) -> tuple:
        kind = p["type"]
        if kind in ("text", "thinking"):
            return kind, p["content"]
        if kind == "tool_call":
            return kind, p["name"], p["id"], p.get("arguments")
        if kind == "tool_result":
            return kind, p["name"], p["id"], p.get("result")
        if kind == "uri":
            return kind, p["uri"]
        if kind == "file":
            return kind, p["file_id"], p["mime_type"]
        if kind == "blob":
            return kind, p["mime_type"], p["bytes"]
        return kind, p.get("kind")
    return [(m["role"], m["response"], [part(p) for p in m["parts"]]) for m in messages]


def weather_outline(tool_role: str, retry: str = RETRY, answer_is_response: bool = True) -> list[tuple]:
    """The weather agent's last model call, as every instrumentation version should read."""
    return [
        ("system", False, [("text", "You are a weather assistant.")]),
        ("user", False, [
            ("text", PROMPT), ("uri", "https://images.example.com/paris.jpg"),
            ("uri", "https://docs.example.com/paris-guide.pdf"), ("blob", "image/png", 70),
            ("file", "file-abc123", "application/pdf"),
        ]),
        ("assistant", False, [
            ("thinking", "The user wants the weather in Paris: call get_weather first."),
            ("tool_call", "get_weather", "call_weather", {"city": "Paris"}),
        ]),
        (tool_role, False, [("tool_result", "get_weather", "call_weather", "sunny, 21 °C in Paris")]),
        ("assistant", False, [("tool_call", "get_forecast", "call_forecast_1", {"city": "Paris", "days": 9})]),
        (tool_role, False, [("tool_result", "get_forecast", "call_forecast_1", retry)]),
        ("assistant", False, [("tool_call", "get_forecast", "call_forecast_2", {"city": "Paris", "days": 3})]),
        (tool_role, False, [("tool_result", "get_forecast", "call_forecast_2", "Monday: sunny. Tuesday: rain.")]),
        ("assistant", answer_is_response, [("text", FINAL)]),
    ]


# -- versions 2 to 6: GenAI message JSON ------------------------------------------------------------


@pytest.mark.parametrize("version", [2, 3, 4, 5, 6])
def test_every_version_reads_as_the_same_conversation(version):
    rows = load(f"pydantic_ai_v{version}")
    last_call = of(rows, "chat gpt-4o", 3)
    assert (last_call["kind"], last_call["format"], last_call["model"], last_call["provider"]) == ("chat", "gen_ai", "gpt-4o", "openai")
    assert last_call["instructions"] == INSTRUCTIONS
    # version 6 sends tool results under role "tool", earlier versions under "user"
    assert outline(last_call["messages"]) == weather_outline("tool" if version == 6 else "user")

    agent = of(rows, "invoke_agent weather_agent" if version > 2 else "agent run")
    assert agent["kind"] == "agent" and agent["model"] == "gpt-4o"
    assert agent["final_result"] == FINAL
    assert outline(agent["messages"]) == weather_outline("tool" if version == 6 else "user", answer_is_response=False)
    assert agent["usage"] == {"input_tokens": 600, "output_tokens": 124}  # the aggregated run totals


def test_version_5_first_model_call_in_full():
    first = of(load("pydantic_ai_v5"), "chat gpt-4o")
    assert first == {
        "kind": "chat", "format": "gen_ai", "model": "gpt-4o", "provider": "openai",
        "instructions": INSTRUCTIONS,
        "messages": [
            {"role": "system", "parts": [{"type": "text", "content": "You are a weather assistant."}], "response": False},
            {"role": "user", "response": False, "parts": [
                {"type": "text", "content": PROMPT},
                {"type": "uri", "uri": "https://images.example.com/paris.jpg", "mime_type": "image/jpeg", "modality": "image"},
                {"type": "uri", "uri": "https://docs.example.com/paris-guide.pdf", "mime_type": "application/pdf", "modality": None},
                {"type": "blob", "mime_type": "image/png", "modality": "image", "bytes": 70},
                {"type": "file", "file_id": "file-abc123", "mime_type": "application/pdf", "modality": "document"},
            ]},
            {"role": "assistant", "response": True, "parts": [
                {"type": "thinking", "content": "The user wants the weather in Paris: call get_weather first."},
                {"type": "tool_call", "id": "call_weather", "name": "get_weather", "arguments": {"city": "Paris"}},
            ]},
        ],
        "usage": {"input_tokens": 140, "output_tokens": 16},
    }


def test_versions_2_and_3_media_parts_have_no_mime_type():
    user = of(load("pydantic_ai_v2"), "chat gpt-4o")["messages"][1]
    assert user["parts"][1] == {"type": "uri", "uri": "https://images.example.com/paris.jpg", "mime_type": None, "modality": "image"}
    assert user["parts"][2]["modality"] == "document"


def test_second_agent_on_another_provider():
    rows = load("pydantic_ai_v5")
    call = of(rows, "chat claude-sonnet-4-5")
    assert (call["model"], call["provider"]) == ("claude-sonnet-4-5", "anthropic")
    assert call["instructions"] == [{"type": "text", "content": "Forecast the weather."}]
    assert outline(call["messages"]) == [
        ("user", False, [("text", "Forecast 3 days for Paris.")]),
        ("assistant", True, [("text", "Monday: sunny. Tuesday: rain.")]),
    ]
    agent = of(rows, "invoke_agent forecaster")
    assert agent["final_result"] == "Monday: sunny. Tuesday: rain."


@pytest.mark.parametrize("version, name", [(2, "running tool"), (5, "execute_tool get_forecast")])
def test_tool_spans_arguments_result_and_retry(version, name):
    rows = load(f"pydantic_ai_v{version}")
    retried, called = of(rows, name, 0 if version > 2 else 1), of(rows, name, 1 if version > 2 else 2)
    assert retried["kind"] == "tool"
    assert retried["tool"] == {
        "name": "get_forecast", "call_id": "call_forecast_1", "arguments": {"city": "Paris", "days": 9}, "result": RETRY,
        "retry": {"cause": "model_retry", "attempt": 1, "max_retries": 1},
    }
    assert called["tool"] == {
        "name": "get_forecast", "call_id": "call_forecast_2", "arguments": {"city": "Paris", "days": 3},
        "result": "Monday: sunny. Tuesday: rain.",
    }


def test_content_not_recorded():
    rows = load("pydantic_ai_v5_no_content")
    last_call = of(rows, "chat gpt-4o", 3)
    assert last_call["instructions"] == []  # not sent without content
    assert [m["role"] for m in last_call["messages"]] == ["system", "user", "assistant", "user", "assistant", "user", "assistant", "user", "assistant"]
    assert last_call["messages"][2]["parts"] == [
        {"type": "thinking", "content": None}, {"type": "tool_call", "id": "call_weather", "name": "get_weather"},
    ]
    assert last_call["messages"][3]["parts"] == [{"type": "tool_result", "id": "call_weather", "name": "get_weather"}]
    assert of(rows, "execute_tool get_weather")["tool"] == {"name": "get_weather", "call_id": "call_weather"}


# -- version 1: events ------------------------------------------------------------------------------


def test_version_1_events_attribute():
    rows = load("pydantic_ai_v1_attributes")
    last_call = of(rows, "chat gpt-4o", 3)
    assert (last_call["kind"], last_call["format"], last_call["model"]) == ("chat", "gen_ai_events", "gpt-4o")
    # the instructions are the system event without gen_ai.message.index; a retry says how to fix it
    assert last_call["instructions"] == INSTRUCTIONS
    assert outline(last_call["messages"]) == weather_outline("tool", retry=RETRY + "\n\nFix the errors and try again.")
    agent = of(rows, "agent run")  # all_messages_events
    assert agent["kind"] == "agent" and agent["final_result"] == FINAL
    assert agent["instructions"] == INSTRUCTIONS
    assert outline(agent["messages"]) == weather_outline("tool", retry=RETRY + "\n\nFix the errors and try again.", answer_is_response=False)
    assert agent["usage"] == {"input_tokens": 608, "output_tokens": 124}
    tool = of(rows, "running tool", 1)
    assert tool["tool"]["arguments"] == {"city": "Paris", "days": 9}


def test_version_1_log_records_read_as_the_attribute_form():
    attribute_rows, log_rows = load("pydantic_ai_v1_attributes"), load("pydantic_ai_v1_logs")
    chats = spans(log_rows, "chat gpt-4o")
    assert len(chats) == 4 and all(wants_logs(chat) for chat in chats)
    assert not wants_logs(spans(attribute_rows, "chat gpt-4o")[0])  # its messages are in `events`
    assert not wants_logs(spans(log_rows, "agent run")[0])
    for index, chat in enumerate(chats):
        expected = of(attribute_rows, "chat gpt-4o", index)
        found = conversation(chat, logs_under(log_rows, chat))
        assert found["format"] == "gen_ai_events"
        assert found["instructions"] == expected["instructions"]
        assert outline(found["messages"]) == outline(expected["messages"])
    assert conversation(chats[0], [])["messages"] == []  # the span alone holds no message


def test_version_1_log_records_in_any_order_of_equal_timestamps():
    """Records emitted in one microsecond may come back in any order: the choice still ends the
    conversation, the instructions still lead it and messages follow gen_ai.message.index."""
    rows = load("pydantic_ai_v1_logs")
    chat = spans(rows, "chat gpt-4o")[3]
    logs = logs_under(rows, chat)
    expected = conversation(chat, logs)
    by_message: dict = {}
    for log in logs:  # parts of one message (one index and role) keep their order; messages shuffle
        key = (log["attributes"].get("gen_ai.message.index"), log["attributes"]["event.name"])
        by_message.setdefault(key, []).append(log)
    groups = list(by_message.values())
    random.Random(7).shuffle(groups)
    assert conversation(chat, [log for group in groups for log in group]) == expected


def test_version_1_one_log_record_on_its_own():
    rows = load("pydantic_ai_v1_logs")
    user_log = next(r for r in rows if r["kind"] == "log" and r["span_name"] == "gen_ai.user.message")
    found = conversation(user_log)
    assert found["kind"] == "chat" and found["instructions"] == []
    assert outline(found["messages"])[0][2][0] == ("text", PROMPT)
    choice = next(r for r in rows if r["kind"] == "log" and r["span_name"] == "gen_ai.choice")
    assert conversation(choice)["messages"][0]["response"] is True


def test_version_1_as_span_events():
    """Span events named gen_ai.*.message carry the body's fields as attributes. Built from the
    captured `events` attribute: no package at hand sends this form, older SDKs did."""
    rows = load("pydantic_ai_v1_attributes")
    chat = dict(spans(rows, "chat gpt-4o")[3])
    attributes = dict(chat["attributes"])
    events = attributes.pop("events")
    chat["attributes"] = attributes
    chat["otel_events"] = [{"name": e["event.name"], "timestamp": None, "attributes": e} for e in events]
    assert not wants_logs(chat)
    found = conversation(chat)
    expected = of(rows, "chat gpt-4o", 3)
    assert (found["instructions"], outline(found["messages"])) == (expected["instructions"], outline(expected["messages"]))


# -- OpenInference ----------------------------------------------------------------------------------


def test_openinference_flattened_attributes():
    rows = load("openinference_openai")
    first, second = (conversation(r) for r in spans(rows, "ChatCompletion"))
    assert (second["kind"], second["format"], second["model"], second["provider"]) == ("chat", "openinference", "gpt-4o-2024-08-06", "openai")
    assert second["usage"] == {"input_tokens": 52, "output_tokens": 18, "cache_read_tokens": 20, "total_tokens": 70}
    assert outline(first["messages"])[-1] == ("assistant", True, [("tool_call", "get_weather", "call_oi_1", {"city": "Paris"})])
    assert first["messages"][-1]["finish_reason"] == "tool_calls"
    assert outline(second["messages"]) == [
        ("system", False, [("text", "You are a weather assistant.")]),
        ("user", False, [("text", "What's the weather in Paris?"), ("uri", "https://images.example.com/paris.jpg")]),
        ("assistant", False, [("tool_call", "get_weather", "call_oi_1", {"city": "Paris"})]),
        # OpenInference sends only the call id: the name comes from the call
        ("tool", False, [("tool_result", "get_weather", "call_oi_1", "sunny, 21 °C")]),
        ("assistant", True, [("text", "It is **sunny** in Paris.")]),
    ]
    assert second["messages"][1]["parts"][1]["modality"] == "image"


def test_openinference_tool_and_agent_spans():
    """TOOL and AGENT spans as the OpenInference semantic conventions define them (no instrumentor at
    hand emits them offline): tool.name, input.value, output.value."""
    tool = conversation({"kind": "span", "attributes": {
        "openinference.span.kind": "TOOL", "tool.name": "get_weather", "input.value": '{"city": "Paris"}', "output.value": "sunny",
    }})
    assert tool["tool"] == {"name": "get_weather", "call_id": None, "arguments": {"city": "Paris"}, "result": "sunny"}
    agent = conversation({"kind": "span", "attributes": {"openinference.span.kind": "AGENT", "output.value": "done"}})
    assert (agent["kind"], agent["final_result"]) == ("agent", "done")


# -- what is not a conversation, and what must never break -------------------------------------------


def test_records_without_llm_content():
    assert conversation({"kind": "span", "attributes": {"http.method": "GET"}}) is None
    assert conversation({"kind": "log", "attributes": {"event.name": "user.login"}, "log_body": "hi"}) is None
    assert conversation({"kind": "span", "attributes": None}) is None
    # a model call that recorded no content still gets a (message-less) panel
    empty = conversation({"kind": "span", "attributes": {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}})
    assert (empty["kind"], empty["model"], empty["messages"]) == ("chat", "m", [])


GARBAGE = [None, 1, -1.5, True, "", "[", "{not json", "[1, 2]", '{"a": 1}', [], [None], [1, "two", [3]], {}, {"parts": 7},
           [{"role": None, "parts": [None, 5, "text", {"type": None}, {"type": "tool_call", "arguments": "{bad"}]}],
           [{"event.name": "gen_ai.choice", "message": "oops"}], [{"event.name": "gen_ai.assistant.message", "tool_calls": [1, {"function": 2}]}],
           "x" * 10_000, [[[[[]]]]]]
KEYS = ["gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "pydantic_ai.all_messages",
        "all_messages_events", "events", "final_result", "gen_ai.tool.call.arguments", "tool_response",
        "llm.input_messages.0.message.role", "llm.input_messages.0.message.contents.0.message_content.type",
        "llm.output_messages.x.message.content", "gen_ai.usage.input_tokens", "llm.token_count.prompt"]


@pytest.mark.parametrize("key", KEYS)
def test_any_value_in_any_attribute_is_handled(key):
    for value in GARBAGE:
        found = conversation({"kind": "span", "attributes": {key: value}, "otel_events": value})
        assert found is None or found["kind"] in ("chat", "agent", "tool")
        json.dumps(found)  # what the span endpoint serves
    for value in GARBAGE:
        log = {"kind": "log", "attributes": {"event.name": "gen_ai.user.message", "gen_ai.message.index": value}, "log_body": value}
        json.dumps(conversation(log))
        json.dumps(conversation({"kind": "span", "attributes": {"gen_ai.operation.name": "chat"}}, [log, log]))
