"""Model calls, agent runs and tool calls of one record, as a conversation the trace view draws. Pure.

LLM messages reach Spyglass in three shapes (REFERENCE-SPANS.md, "pydantic-ai" and "Other LLM
instrumentations"); each is turned into the same normalized form:

- GenAI message JSON (pydantic-ai instrumentation versions 2 to 6, logfire's instrument_openai):
  `gen_ai.input.messages`, `gen_ai.output.messages` and `gen_ai.system_instructions` on model-call
  spans; `pydantic_ai.all_messages` and `final_result` on agent-run spans; `gen_ai.tool.call.arguments`
  / `.result` on tool spans (version 2: `tool_arguments` / `tool_response`). Version 6 sends tool
  results under role "tool" instead of "user"; roles are kept as sent.
- Version 1 events, one per message (`gen_ai.system.message`, `gen_ai.user.message`,
  `gen_ai.assistant.message`, `gen_ai.tool.message`, `gen_ai.choice`): an `events` JSON attribute on
  the model-call span, span events, or log records emitted inside the span (event_mode="logs");
  `all_messages_events` on agent-run spans.
- OpenInference (Arize's instrumentors): flattened attributes `llm.input_messages.N.message.*`,
  `llm.output_messages.N.message.*`, `llm.token_count.*`, `llm.model_name`; `tool.name`,
  `input.value` and `output.value` on TOOL spans, `output.value` on AGENT spans.

The result, or None when the record carries none of these:

    {"kind": "chat" | "agent" | "tool", "format": "gen_ai" | "gen_ai_events" | "openinference",
     "model": str | None, "provider": str | None,
     "instructions": [part, ...],            # system instructions, shown above the messages
     "messages": [{"role": str, "parts": [part, ...], "response": bool, "finish_reason"?: str}],
     "final_result"?: any,                   # agent runs: what the run returned (present even when null)
     "tool"?: {"name", "call_id", "arguments"?, "result"?, "retry"?: {"cause", "attempt", "max_retries"}},
     "usage": {"input_tokens"?, "output_tokens"?, "cache_read_tokens"?, "cache_write_tokens"?, "total_tokens"?}}

A part is one of
    {"type": "text", "content": str | None}          (None: the client did not record content)
    {"type": "thinking", "content": str | None}
    {"type": "tool_call", "id", "name", "arguments"?}    (JSON text arguments are parsed)
    {"type": "tool_result", "id", "name", "result"?}
    {"type": "uri", "uri", "mime_type", "modality"}
    {"type": "file", "file_id", "mime_type", "modality"}
    {"type": "blob", "mime_type", "modality", "bytes"}   (inline data: only its size is kept)
    {"type": "other", "kind": str, "data": any}          (a part type this module does not know)

Every input comes from a client and may be any JSON: nothing here assumes a shape, and odd values
become "other" parts or are skipped rather than raising.
"""

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

V1_EVENTS = frozenset({
    "gen_ai.system.message", "gen_ai.user.message", "gen_ai.assistant.message", "gen_ai.tool.message", "gen_ai.choice",
})
"""Names of pydantic-ai's version 1 message events (log records or span events)."""

MAX_LOG_RECORDS = 5000
"""Log records under one span read for a version 1 conversation, at most."""

_MEDIA_URL_TYPES = {"image-url": "image", "audio-url": "audio", "video-url": "video", "document-url": "document"}
_OI_MESSAGE = re.compile(r"llm\.(input|output)_messages\.(\d{1,6})\.message\.(.+)")
_OI_INDEXED = re.compile(r"(\d{1,6})\.(.+)")


# -- small helpers ---------------------------------------------------------------------------------


def _parsed(value: Any) -> Any:
    """A JSON text value parsed (objects and arrays only: plain strings stay strings)."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _blob_bytes(content: Any) -> int | None:
    """Size of base64 content without decoding it."""
    if not isinstance(content, str):
        return None
    data = content.strip()
    return max(len(data) * 3 // 4 - (len(data) - len(data.rstrip("="))), 0)


def _first(attributes: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return value
    return None


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


# -- GenAI message JSON (versions 2 to 6) -----------------------------------------------------------


def genai_part(part: Any) -> dict[str, Any]:
    """One GenAI message part (any version's shape) in the normalized form."""
    if isinstance(part, str):
        return {"type": "text", "content": part}
    if not isinstance(part, Mapping):
        return {"type": "other", "kind": type(part).__name__, "data": part}
    kind = part.get("type", part.get("kind"))
    if kind == "text":
        return {"type": "text", "content": _text(part.get("content", part.get("text")))}
    if kind == "thinking":
        return {"type": "thinking", "content": _text(part.get("content", part.get("text")))}
    if kind == "tool_call":
        call = {"type": "tool_call", "id": _text(part.get("id")), "name": _text(part.get("name"))}
        if "arguments" in part:
            call["arguments"] = _parsed(part["arguments"])
        return call
    if kind == "tool_call_response":
        result = {"type": "tool_result", "id": _text(part.get("id")), "name": _text(part.get("name"))}
        if "result" in part:
            result["result"] = _parsed(part["result"])
        return result
    if kind == "uri":
        return {"type": "uri", "uri": _text(part.get("uri")), "mime_type": _text(part.get("mime_type")),
                "modality": _text(part.get("modality"))}
    if kind in _MEDIA_URL_TYPES:  # versions 2 and 3
        return {"type": "uri", "uri": _text(part.get("url")), "mime_type": _text(part.get("media_type")),
                "modality": _MEDIA_URL_TYPES[kind]}
    if kind == "file":
        return {"type": "file", "file_id": _text(part.get("file_id")), "mime_type": _text(part.get("mime_type")),
                "modality": _text(part.get("modality"))}
    if kind in ("blob", "binary"):  # "binary": versions 2 and 3 (and version 1's `binary_content`)
        content = part.get("content", part.get("binary_content"))
        return {"type": "blob", "mime_type": _text(part.get("mime_type", part.get("media_type"))),
                "modality": _text(part.get("modality")), "bytes": _blob_bytes(content)}
    return {"type": "other", "kind": _text(kind) or "unknown", "data": dict(part)}


def genai_messages(value: Any, *, response: bool = False) -> list[dict[str, Any]]:
    """A `gen_ai.*.messages` / `pydantic_ai.all_messages` value (a list, or JSON text of one)."""
    value = _parsed(value)
    if not isinstance(value, list):
        return []
    messages = []
    for item in value:
        if not isinstance(item, Mapping):
            continue
        parts = item.get("parts")
        if parts is None and "content" in item:  # a plain {"role", "content"} message
            parts = [item["content"]] if not isinstance(item["content"], list) else item["content"]
        message = {
            "role": _text(item.get("role")) or "unknown",
            "parts": [genai_part(p) for p in parts] if isinstance(parts, list) else [],
            "response": response,
        }
        if item.get("finish_reason") is not None:
            message["finish_reason"] = _text(item["finish_reason"])
        messages.append(message)
    return messages


def genai_parts(value: Any) -> list[dict[str, Any]]:
    """`gen_ai.system_instructions`: a list of parts (or one string)."""
    value = _parsed(value)
    if isinstance(value, str):
        return [{"type": "text", "content": value}]
    return [genai_part(p) for p in value] if isinstance(value, list) else []


# -- version 1 events -----------------------------------------------------------------------------


def _v1_user_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return [genai_part(item) for item in content]
    return [{"type": "text", "content": _text(content)}]


def _v1_assistant(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = _parsed(body.get("content"))
    parts = []
    if isinstance(content, list):
        parts += [genai_part(item) for item in content]
    elif content is not None:
        parts.append({"type": "text", "content": _text(content)})
    calls = _parsed(body.get("tool_calls"))
    for call in calls if isinstance(calls, list) else []:
        if not isinstance(call, Mapping):
            continue
        function = call.get("function") if isinstance(call.get("function"), Mapping) else {}
        part = {"type": "tool_call", "id": _text(call.get("id")), "name": _text(function.get("name"))}
        if "arguments" in function:
            part["arguments"] = _parsed(function["arguments"])
        parts.append(part)
    return parts


def v1_event(name: str, body: Mapping[str, Any], index: Any) -> tuple[str, dict[str, Any]] | None:
    """One version 1 event as ("instructions" | "message", message); None for other events.

    A system event without `gen_ai.message.index` carries the agent's instructions (pydantic-ai
    emits them first, apart from the messages); one with an index is a system prompt message.
    """
    if name == "gen_ai.system.message":
        message = {"role": "system", "parts": [{"type": "text", "content": _text(body.get("content"))}], "response": False}
        return ("instructions" if index is None else "message"), message
    if name == "gen_ai.user.message":
        return "message", {"role": "user", "parts": _v1_user_parts(_parsed(body.get("content"))), "response": False}
    if name == "gen_ai.assistant.message":
        return "message", {"role": "assistant", "parts": _v1_assistant(body), "response": False}
    if name == "gen_ai.tool.message":
        part = {"type": "tool_result", "id": _text(body.get("id")), "name": _text(body.get("name"))}
        if "content" in body:
            part["result"] = _parsed(body["content"])
        return "message", {"role": "tool", "parts": [part], "response": False}
    if name == "gen_ai.choice":
        inner = _parsed(body.get("message"))
        inner = inner if isinstance(inner, Mapping) else {}
        message = {"role": _text(inner.get("role")) or "assistant", "parts": _v1_assistant(inner), "response": True}
        if body.get("finish_reason") is not None:
            message["finish_reason"] = _text(body["finish_reason"])
        return "message", message
    return None


def v1_conversation(events: Iterable[tuple[str, Mapping[str, Any], Any]]) -> tuple[list[dict], list[dict]]:
    """(instructions, messages) from (event name, body, gen_ai.message.index) triples, in order.

    Consecutive events of one message (the same role and index, e.g. two tool results of one
    request) become one message with several parts.
    """
    instructions: list[dict] = []
    messages: list[dict] = []
    last_key = None
    for name, body, index in events:
        found = v1_event(name, body, index)
        if found is None:
            continue
        where, message = found
        if where == "instructions":
            instructions += message["parts"]
            continue
        key = (message["role"], index, message["response"])
        if index is not None and key == last_key:
            messages[-1]["parts"] += message["parts"]
        else:
            messages.append(message)
        last_key = key if index is not None else None
    return instructions, messages


def _events_attribute(value: Any) -> list[tuple[str, Mapping, Any]]:
    """pydantic-ai's `events` / `all_messages_events` attribute: dicts with the body and `event.name`."""
    value = _parsed(value)
    if not isinstance(value, list):
        return []
    return [
        (item.get("event.name"), item, item.get("gen_ai.message.index"))
        for item in value if isinstance(item, Mapping) and item.get("event.name") in V1_EVENTS
    ]


def _span_events(events: Any) -> list[tuple[str, Mapping, Any]]:
    """Span events named like version 1 events: the body's fields are the event's attributes."""
    if not isinstance(events, list):
        return []
    found = []
    for event in events:
        if isinstance(event, Mapping) and event.get("name") in V1_EVENTS:
            body = event.get("attributes") if isinstance(event.get("attributes"), Mapping) else {}
            found.append((event["name"], body, body.get("gen_ai.message.index")))
    return found


def _log_events(logs: Sequence[Mapping[str, Any]]) -> list[tuple[str, Mapping, Any]]:
    """Log records (rows with `attributes` and `log_body`) named like version 1 events, in message order.

    Records are expected oldest first; the sort puts them in the order pydantic-ai emitted them even
    when timestamps tie: instructions, then messages by gen_ai.message.index, the choice last.
    """
    found = []
    for position, log in enumerate(logs):
        attributes = _parsed(log.get("attributes"))
        attributes = attributes if isinstance(attributes, Mapping) else {}
        name = attributes.get("event.name")
        if name not in V1_EVENTS:
            continue
        body = _parsed(log.get("log_body"))
        body = body if isinstance(body, Mapping) else {"content": body}
        index = attributes.get("gen_ai.message.index")
        rank = 2 if name == "gen_ai.choice" else 1 if isinstance(index, int) else 0
        found.append(((rank, index if isinstance(index, int) else 0, position), (name, body, index)))
    return [event for _, event in sorted(found, key=lambda pair: pair[0])]


def wants_logs(record: Mapping[str, Any]) -> bool:
    """Whether a span's messages may be in log records under it: a model call (version 1, logs
    mode) that carries no messages of its own. Saves a query for every other span."""
    attributes = record.get("attributes")
    if record.get("kind") == "log" or not isinstance(attributes, Mapping):
        return False
    if "gen_ai.input.messages" in attributes or "gen_ai.output.messages" in attributes:
        return False
    if _events_attribute(attributes.get("events")) or _span_events(record.get("otel_events")):
        return False
    return attributes.get("gen_ai.operation.name") == "chat" or "gen_ai.request.model" in attributes


# -- OpenInference --------------------------------------------------------------------------------


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{"contents.0.message_content.text": x} -> {"contents": {0: {"message_content.text": x}}}: only
    the numbered lists are nested; the dotted names between them stay whole."""
    tree: dict[str, Any] = {}
    for key, value in flat.items():
        head, dot, rest = key.partition(".")
        indexed = _OI_INDEXED.fullmatch(rest) if dot else None
        if head in ("contents", "tool_calls") and indexed:
            tree.setdefault(head, {}).setdefault(int(indexed.group(1)), {})[indexed.group(2)] = value
        else:
            tree[key] = value
    return tree


def _oi_content(item: Mapping[str, Any]) -> dict[str, Any]:
    kind = _text(item.get("message_content.type")) or "text"
    if kind in ("text", "reasoning"):
        return {"type": "text" if kind == "text" else "thinking", "content": _text(item.get("message_content.text"))}
    url = next((v for k, v in item.items() if k.endswith(".url") and isinstance(v, str)), None)
    mime = next((v for k, v in item.items() if k.endswith(".mime_type") and isinstance(v, str)), None)
    if url is not None and url.startswith("data:"):
        header, _, data = url.partition(",")
        return {"type": "blob", "mime_type": mime or header[5:].split(";")[0] or None, "modality": kind,
                "bytes": _blob_bytes(data) if ";base64" in header else len(data)}
    if url is not None:
        return {"type": "uri", "uri": url, "mime_type": mime, "modality": kind}
    return {"type": "other", "kind": kind, "data": dict(item)}


def _oi_message(fields: Mapping[str, Any], response: bool) -> dict[str, Any]:
    tree = _nest(fields)
    role = _text(tree.get("role")) or "unknown"
    parts: list[dict[str, Any]] = []
    tool_call_id = tree.get("tool_call_id")
    if role == "tool" or tool_call_id is not None:
        result = {"type": "tool_result", "id": _text(tool_call_id), "name": _text(tree.get("name"))}
        if "content" in tree:
            result["result"] = _parsed(tree["content"])
        parts.append(result)
    elif "content" in tree:
        parts.append({"type": "text", "content": _text(tree["content"])})
    contents = tree.get("contents")
    for index in sorted(contents) if isinstance(contents, dict) else []:
        parts.append(_oi_content(contents[index]))
    calls = tree.get("tool_calls")
    for index in sorted(calls) if isinstance(calls, dict) else []:
        call = calls[index]
        part = {"type": "tool_call", "id": _text(call.get("tool_call.id")), "name": _text(call.get("tool_call.function.name"))}
        if "tool_call.function.arguments" in call:
            part["arguments"] = _parsed(call["tool_call.function.arguments"])
        parts.append(part)
    if tree.get("function_call_name") is not None:  # the legacy OpenAI function_call
        part = {"type": "tool_call", "id": None, "name": _text(tree["function_call_name"])}
        if "function_call_arguments_json" in tree:
            part["arguments"] = _parsed(tree["function_call_arguments_json"])
        parts.append(part)
    return {"role": role, "parts": parts, "response": response}


def openinference_messages(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Input then output messages from flattened `llm.{input,output}_messages.N.message.*` attributes."""
    grouped: dict[tuple[int, int], dict[str, Any]] = {}
    for key, value in attributes.items():
        match = _OI_MESSAGE.fullmatch(key) if key.startswith("llm.") else None
        if match:
            side = 0 if match.group(1) == "input" else 1
            grouped.setdefault((side, int(match.group(2))), {})[match.group(3)] = value
    messages = [_oi_message(grouped[key], response=key[0] == 1) for key in sorted(grouped)]
    finish = attributes.get("llm.finish_reason")
    if finish is not None:
        for message in messages:
            if message["response"]:
                message["finish_reason"] = _text(finish)
    return messages


# -- one record -----------------------------------------------------------------------------------


def _usage(attributes: Mapping[str, Any], agent: bool) -> dict[str, Any]:
    prefix = "gen_ai.aggregated_usage." if agent and "gen_ai.aggregated_usage.input_tokens" in attributes else "gen_ai.usage."
    keys = {
        "input_tokens": (prefix + "input_tokens", "llm.token_count.prompt"),
        "output_tokens": (prefix + "output_tokens", "llm.token_count.completion"),
        "cache_read_tokens": (prefix + "cache_read.input_tokens", prefix + "cache_read_tokens",
                              "llm.token_count.prompt_details.cache_read"),
        "cache_write_tokens": (prefix + "cache_creation.input_tokens", prefix + "cache_write.input_tokens",
                               "llm.token_count.prompt_details.cache_write"),
        "total_tokens": ("llm.token_count.total",),
    }
    usage = {}
    for name, candidates in keys.items():
        value = _number(_first(attributes, *candidates))
        if value is not None:
            usage[name] = value
    return usage


def _tool(attributes: Mapping[str, Any], openinference: bool) -> dict[str, Any]:
    tool = {
        "name": _text(_first(attributes, "gen_ai.tool.name", "tool.name")),
        "call_id": _text(_first(attributes, "gen_ai.tool.call.id", "tool.id")),
    }
    keys = (
        ("arguments", ("gen_ai.tool.call.arguments", "tool_arguments")),  # version 2: tool_arguments
        ("result", ("gen_ai.tool.call.result", "tool_response")),
    )
    if openinference:
        keys = (("arguments", ("input.value", "tool.parameters")), ("result", ("output.value",)))
    for name, candidates in keys:
        for key in candidates:
            if key in attributes:
                tool[name] = _parsed(attributes[key])
                break
    if "pydantic_ai.tool.retry.attempt" in attributes:  # the tool asked the model to try again (ModelRetry)
        tool["retry"] = {
            "cause": _text(attributes.get("pydantic_ai.tool.retry.cause")),
            "attempt": _number(attributes.get("pydantic_ai.tool.retry.attempt")),
            "max_retries": _number(attributes.get("pydantic_ai.tool.retry.max_retries")),
        }
    return tool


def _name_tool_results(messages: list[dict[str, Any]]) -> None:
    """Give tool results without a name (OpenInference sends only the call id) their call's name."""
    names: dict[str, str] = {}
    for message in messages:
        for part in message["parts"]:
            if part["type"] == "tool_call" and part.get("id") and part.get("name"):
                names[part["id"]] = part["name"]
            elif part["type"] == "tool_result" and not part.get("name") and part.get("id") in names:
                part["name"] = names[part["id"]]


def conversation(record: Mapping[str, Any], logs: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any] | None:
    """The conversation of one record (a `records` row: `attributes`, `otel_events`, `kind`,
    `log_body`), with `logs`, the log records emitted inside it (version 1 in logs mode), oldest first.

    A version 1 log record on its own (a gen_ai.*.message log clicked in the tree) gives its message.
    """
    attributes = _parsed(record.get("attributes"))
    attributes = attributes if isinstance(attributes, Mapping) else {}
    if record.get("kind") == "log":
        if attributes.get("event.name") not in V1_EVENTS:
            return None
        return _build("chat", "gen_ai_events", attributes, *v1_conversation(_log_events([record])))

    openinference_kind = _text(attributes.get("openinference.span.kind"))
    operation = attributes.get("gen_ai.operation.name")
    if operation == "execute_tool" or any(k in attributes for k in ("gen_ai.tool.call.arguments", "tool_arguments")):
        return _build("tool", "gen_ai", attributes, [], [], tool=_tool(attributes, openinference=False))
    if openinference_kind == "TOOL":
        return _build("tool", "openinference", attributes, [], [], tool=_tool(attributes, openinference=True))

    instructions = genai_parts(attributes.get("gen_ai.system_instructions"))
    agent = operation == "invoke_agent" or any(k in attributes for k in ("pydantic_ai.all_messages", "all_messages_events"))
    extra = {"final_result": _parsed(attributes["final_result"])} if "final_result" in attributes else {}
    if agent:
        if "pydantic_ai.all_messages" in attributes:
            messages = genai_messages(attributes["pydantic_ai.all_messages"])
            return _build("agent", "gen_ai", attributes, instructions, messages, **extra)
        if "all_messages_events" in attributes:
            v1_instructions, messages = v1_conversation(_events_attribute(attributes["all_messages_events"]))
            return _build("agent", "gen_ai_events", attributes, instructions + v1_instructions, messages, **extra)
        return _build("agent", "gen_ai", attributes, instructions, [], **extra)
    if openinference_kind == "AGENT":
        extra = {"final_result": _parsed(attributes["output.value"])} if "output.value" in attributes else {}
        return _build("agent", "openinference", attributes, [], [], **extra)

    if "gen_ai.input.messages" in attributes or "gen_ai.output.messages" in attributes:
        messages = genai_messages(attributes.get("gen_ai.input.messages"))
        messages += genai_messages(attributes.get("gen_ai.output.messages"), response=True)
        return _build("chat", "gen_ai", attributes, instructions, messages)
    events = _events_attribute(attributes.get("events")) or _span_events(record.get("otel_events")) or _log_events(logs)
    if events:
        v1_instructions, messages = v1_conversation(events)
        return _build("chat", "gen_ai_events", attributes, instructions + v1_instructions, messages)
    if any(key.startswith(("llm.input_messages.", "llm.output_messages.")) for key in attributes):
        return _build("chat", "openinference", attributes, [], openinference_messages(attributes))
    if operation == "chat" or openinference_kind == "LLM":  # a model call whose content was not recorded
        return _build("chat", "openinference" if openinference_kind else "gen_ai", attributes, instructions, [])
    return None


def _build(
    kind: str, format: str, attributes: Mapping[str, Any], instructions: list, messages: list, **extra: Any,
) -> dict[str, Any]:
    if kind == "agent":
        model = _first(attributes, "model_name", "gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
    else:
        model = _first(attributes, "gen_ai.response.model", "gen_ai.request.model", "llm.model_name", "llm.request.model_name")
    _name_tool_results(messages)
    return {
        "kind": kind,
        "format": format,
        "model": _text(model),
        "provider": _text(_first(attributes, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")),
        "instructions": instructions,
        "messages": messages,
        "usage": _usage(attributes, agent=kind == "agent"),
        **extra,
    }
