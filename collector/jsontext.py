"""Python values -> the JSON text stored in JSON columns. The hottest step of ingest, hence orjson."""

import json
import re
from typing import Any

import orjson

LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def to_json(value: Any) -> str:
    """Compact UTF-8 JSON that DuckDB's JSON type accepts."""
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:
        # orjson refuses integers past 64 bits and lone surrogates; both can only come from JSON
        # text parsed out of an attribute. DuckDB refuses lone surrogates too, so replace them.
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        return LONE_SURROGATE.sub("\ufffd", text)
