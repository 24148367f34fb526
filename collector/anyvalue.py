"""OTLP AnyValue and KeyValue lists -> plain Python values that serialise to valid JSON."""

import base64
import math
from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector.limits import (
    DROPPED_ATTRIBUTES_KEY,
    MAX_ATTRIBUTES,
    MAX_DEPTH,
    MAX_NAME_CHARS,
    MAX_STRING_CHARS,
    TOO_DEEP_MARKER,
    truncate,
)

# JSON has no NaN or Infinity; DuckDB's JSON type rejects them, so they are stored as the strings
# OTLP/JSON itself uses for them (OTLP.md item 16).
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def json_number(number: float) -> float | str:
    """A float that JSON can hold: NaN and the infinities become strings."""
    if math.isfinite(number):
        return number
    return _NON_FINITE.get(number, "NaN")


def any_value(value: AnyValue, depth: int = 0) -> Any:
    """Convert one AnyValue. Raises ValueError for a kind this code does not know."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        text = value.string_value
        return text if len(text) <= MAX_STRING_CHARS else truncate(text, MAX_STRING_CHARS)
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        return json_number(value.double_value)
    if kind == "array_value":
        if depth >= MAX_DEPTH:
            return TOO_DEEP_MARKER
        return [any_value(item, depth + 1) for item in value.array_value.values]
    if kind == "kvlist_value":
        if depth >= MAX_DEPTH:
            return TOO_DEEP_MARKER
        return key_values(value.kvlist_value.values, depth + 1)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind is None:
        return None
    raise ValueError(f"unsupported AnyValue kind {kind!r}")


def key_values(items: Iterable[KeyValue], depth: int = 0) -> dict[str, Any]:
    """Convert a KeyValue list to a dict. A repeated key keeps its last value (OTLP.md item 25)."""
    result: dict[str, Any] = {}
    dropped = 0
    for item in items:
        key = item.key if len(item.key) <= MAX_NAME_CHARS else truncate(item.key, MAX_NAME_CHARS)
        if len(result) >= MAX_ATTRIBUTES and key not in result:
            dropped += 1
            continue
        result[key] = any_value(item.value, depth)
    if dropped:
        result[DROPPED_ATTRIBUTES_KEY] = dropped
    return result
