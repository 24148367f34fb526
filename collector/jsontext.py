"""Python values -> the JSON stored in JSON columns. The hottest step of ingest, hence orjson."""

import json
import re
from typing import Any

import orjson

LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON that DuckDB's JSON type accepts.

    Bytes, not str: Arrow takes UTF-8 bytes as they are, while a str with non-ASCII text must be
    encoded again on the way in (measured: Arrow conversion of a batch 30 -> 11 us per span).
    """
    try:
        return orjson.dumps(value, default=str)
    except TypeError:
        # orjson refuses integers past 64 bits and lone surrogates; both can only come from JSON
        # text parsed out of an attribute. DuckDB refuses lone surrogates too, so replace them.
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_plain)
        return LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")


def _plain(value: Any) -> Any:
    if isinstance(value, orjson.Fragment):  # JSON text embedded as it came (collector/spans.py)
        return json.loads(value.contents)
    return str(value)


def json_text(value: Any) -> str:
    """The same JSON as text, for VARCHAR columns such as log_body."""
    return json_bytes(value).decode("utf-8")
