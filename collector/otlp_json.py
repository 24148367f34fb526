"""OTLP/JSON -> the same protobuf messages the binary encoding yields. Pure.

OTLP/JSON is protobuf's JSON mapping with one exception: trace and span ids are hex strings, not
base64 (OTLP.md item 12). `json_format.ParseDict` would silently base64-decode them into 24- and
12-byte ids, so ids are converted here first; everything else (int64 as strings or numbers, enums
as integers or names, "NaN", unknown fields at any depth) is left to ParseDict.
"""

import base64
import json
import re
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from collector.errors import BadRequest

_HEX = re.compile(r"[0-9a-fA-F]*")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")

# Where the records with ids live, per signal: the path of list keys down to them. Both the
# lowerCamelCase and the original field names are valid protobuf JSON.
_RECORD_PATHS = {
    "traces": (("resourceSpans", "resource_spans"), ("scopeSpans", "scope_spans"), ("spans",)),
    "logs": (("resourceLogs", "resource_logs"), ("scopeLogs", "scope_logs"), ("logRecords", "log_records")),
}


def parse_json_request(body: bytes, message: Message, signal: str) -> list[str]:
    """Fill `message` from an OTLP/JSON body; return why each record with non-hex ids was dropped.

    Raises BadRequest when the body as a whole cannot be read.
    """
    try:
        document = json.loads(body) if body.strip() else {}
    except UnicodeDecodeError as error:
        raise BadRequest(f"request body is not UTF-8 JSON: {error}") from None
    except ValueError as error:
        raise BadRequest(f"request body is not valid JSON: {error}") from None
    except RecursionError:
        raise BadRequest("request body JSON is nested too deeply") from None
    if not isinstance(document, dict):
        raise BadRequest(f"request body must be a JSON object, got {type(document).__name__}")
    try:
        document = _replace_lone_surrogates(document)
        rejected = _convert_ids(document, signal)
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except json_format.ParseError as error:
        raise BadRequest(f"request body is not a valid OTLP/JSON {signal} export: {error}") from None
    except RecursionError:
        raise BadRequest("request body JSON is nested too deeply") from None
    return rejected


def _replace_lone_surrogates(value: Any) -> Any:
    # A lone surrogate ("\ud800") is valid JSON text but not valid UTF-8: protobuf and DuckDB
    # both refuse it. Replacing it with U+FFFD keeps the rest of the value (OTLP.md item 23).
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value) if _LONE_SURROGATE.search(value) else value
    if isinstance(value, dict):
        return {_replace_lone_surrogates(k): _replace_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_lone_surrogates(item) for item in value]
    return value


def _convert_ids(document: dict, signal: str) -> list[str]:
    """Rewrite hex ids as base64 for ParseDict; drop records whose ids are not hex at all."""
    errors: list[str] = []
    if signal == "metrics":
        for exemplar in _metric_exemplars(document):
            for key in _ID_KEYS:
                if key in exemplar:
                    converted = _hex_to_base64(exemplar[key])
                    exemplar[key] = converted if converted is not None else ""  # exemplar ids are optional
        return errors
    for container, key in _record_lists(document, _RECORD_PATHS[signal]):
        kept = []
        for index, record in enumerate(container[key]):
            problem = _convert_record_ids(record)
            if problem:
                errors.append(f"{key[:-1]} {index}: {problem}")
            else:
                kept.append(record)
        container[key] = kept
    return errors


def _convert_record_ids(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None  # ParseDict will describe the problem
    for holder in [record, *_as_list(record.get("links"))]:
        if not isinstance(holder, dict):
            continue
        for key in _ID_KEYS:
            if key in holder:
                converted = _hex_to_base64(holder[key])
                if converted is None:
                    return f"{key} must be a hex string, got {str(holder[key])[:40]!r}"
                holder[key] = converted
    return None


def _hex_to_base64(value: Any) -> str | None:
    if not isinstance(value, str) or not _HEX.fullmatch(value) or len(value) % 2:
        return None
    return base64.b64encode(bytes.fromhex(value)).decode("ascii")


def _record_lists(document: dict, path: tuple) -> list[tuple[dict, str]]:
    """The (dict, key) pairs holding the lists of records at the end of `path`."""
    level = [document]
    for depth, names in enumerate(path):
        last = depth == len(path) - 1
        found = []
        for node in level:
            if not isinstance(node, dict):
                continue
            for name in names:
                if last and isinstance(node.get(name), list):
                    found.append((node, name))
                elif not last:
                    found.extend(_as_list(node.get(name)))
        level = found
    return level


def _metric_exemplars(document: dict) -> list[dict]:
    exemplars = []
    for resource in _as_list(document.get("resourceMetrics", document.get("resource_metrics"))):
        if not isinstance(resource, dict):
            continue
        for scope in _as_list(resource.get("scopeMetrics", resource.get("scope_metrics"))):
            if not isinstance(scope, dict):
                continue
            for metric in _as_list(scope.get("metrics")):
                if not isinstance(metric, dict):
                    continue
                for data in metric.values():
                    if not isinstance(data, dict):
                        continue
                    for point in _as_list(data.get("dataPoints", data.get("data_points"))):
                        if isinstance(point, dict):
                            exemplars.extend(e for e in _as_list(point.get("exemplars")) if isinstance(e, dict))
    return exemplars


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else []
