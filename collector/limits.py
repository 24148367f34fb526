"""Size limits applied while turning OTLP into rows.

Real clients sometimes send absurd values (a 10 MB attribute, 100k attributes, a 1 MB span name,
deeply nested lists). Spyglass keeps every span, but trims what it stores so that one record can
never exhaust memory or freeze the UI. Every cut leaves a visible marker (OTLP.md item 24).
"""

MAX_BODY_BYTES = 64 * 1024 * 1024
"""Largest request body accepted, measured after decompression (OTLP.md item 4)."""

MAX_NAME_CHARS = 4096
"""span_name, metric_name and attribute keys are cut to this many characters."""

MAX_MESSAGE_CHARS = 16 * 1024
"""message (logfire.msg or the rendered log body) is cut to this many characters."""

MAX_STRING_CHARS = 1024 * 1024
"""Any single string value (attribute, log body, event attribute) is cut to this many characters."""

MAX_ATTRIBUTES = 2048
"""Attributes kept per span, log record, event or resource; the rest are counted, not stored."""

MAX_DEPTH = 32
"""Nested arrays and key-value lists deeper than this are replaced by a marker string."""

MAX_EVENTS = 1024
"""Span events kept per span."""

MAX_LINKS = 1024
"""Span links kept per span."""

DROPPED_ATTRIBUTES_KEY = "spyglass.dropped_attributes_count"
TOO_DEEP_MARKER = "[spyglass: value nested deeper than 32 levels was dropped]"


def truncate(text: str, limit: int) -> str:
    """Cut `text` to `limit` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[truncated by spyglass: {len(text) - limit} more characters]"
