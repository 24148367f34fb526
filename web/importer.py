"""`spyglass import FILE`: load OTLP/JSON exports back into a running server.

A file holds one export request (ExportTraceServiceRequest, ExportLogsServiceRequest or
ExportMetricsServiceRequest as OTLP/JSON, told apart by the top-level key: resourceSpans,
resourceLogs or resourceMetrics), several of them one per line (JSON lines) or one after the
other, or a JSON array of them. Each is POSTed to the server's /v1/traces, /v1/logs or /v1/metrics
as application/json, so the receiver validates it exactly as it does an exporter's request, and its
retry detection makes a second import of the same file store nothing twice: a request is sent as
the very bytes it has in the file, so it has the same digest every time.

The whole file is read and checked before anything is sent: a file with bad JSON on line 12 sends
nothing.
"""

import json
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Top-level key -> (signal, list keys down to the records, what a record is called)
SIGNALS = {
    "resourceSpans": "traces", "resource_spans": "traces",
    "resourceLogs": "logs", "resource_logs": "logs",
    "resourceMetrics": "metrics", "resource_metrics": "metrics",
}
RECORD_PATHS = {
    "traces": (("resourceSpans", "resource_spans"), ("scopeSpans", "scope_spans"), ("spans",)),
    "logs": (("resourceLogs", "resource_logs"), ("scopeLogs", "scope_logs"), ("logRecords", "log_records")),
    "metrics": (("resourceMetrics", "resource_metrics"), ("scopeMetrics", "scope_metrics"), ("metrics",)),
}
RECORD_NAMES = {"traces": "spans", "logs": "log records", "metrics": "data points"}
REJECTED_KEYS = {"traces": "rejectedSpans", "logs": "rejectedLogRecords", "metrics": "rejectedDataPoints"}
METRIC_DATA = ("gauge", "sum", "histogram", "exponentialHistogram", "exponential_histogram", "summary")
# Requests larger than this are split by resource, scope and then record list (the server's
# default limit is 64 MiB; smaller requests also keep the writer's batches small).
MAX_REQUEST_BYTES = 8 * 1024 * 1024
RETRIES = 8


class ImportFailed(Exception):
    """Nothing (more) can be sent: a missing file, bad JSON, no server. The message says which."""


@dataclass
class Export:
    """One request to send: its signal, its body and where it starts in the file."""

    signal: str
    body: bytes
    line: int
    records: int


@dataclass
class Totals:
    """What the server answered, per signal."""

    requests: int = 0
    accepted: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    already_stored: int = 0

    def summary(self) -> str:
        parts = []
        for signal in ("traces", "logs", "metrics"):
            if signal in self.accepted or signal in self.rejected:
                parts.append(f"{self.accepted.get(signal, 0)} {RECORD_NAMES[signal]} accepted, "
                             f"{self.rejected.get(signal, 0)} rejected")
        if self.already_stored:
            parts.append(f"{self.already_stored} request{'' if self.already_stored == 1 else 's'} already stored "
                         f"by an earlier import (not stored again)")
        requests = f"{self.requests} request{'' if self.requests == 1 else 's'}"
        return f"{requests}: {'; '.join(parts) or 'nothing to store'}"


def read_exports(text: str, source: str = "input") -> list[Export]:
    """Every export request in `text` (one JSON value, or several separated by whitespace).

    Raises ImportFailed naming the line of the first problem.
    """
    decoder = json.JSONDecoder()
    exports: list[Export] = []
    index, line = 0, 1
    while True:
        start = _skip_space(text, index)
        line += text.count("\n", index, start)
        if start == len(text):
            break
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError as error:
            raise ImportFailed(f"{source}: bad JSON on line {error.lineno}, column {error.colno}: {error.msg}") from None
        except RecursionError:
            raise ImportFailed(f"{source}: the JSON value on line {line} is nested too deeply") from None
        if isinstance(value, list):  # a JSON array of export requests
            for item in value:
                exports.extend(_exports_of(item, None, source, line))
        else:
            exports.extend(_exports_of(value, text[start:end], source, line))
        line += text.count("\n", start, end)
        index = end
    return exports


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n\ufeff":
        index += 1
    return index


def _exports_of(value: Any, original: str | None, source: str, line: int) -> list[Export]:
    signal = signal_of(value, f"{source}, line {line}")
    if original is not None and len(original.encode()) <= MAX_REQUEST_BYTES:
        # the bytes as they are in the file: the same file gives the same request digests
        return [Export(signal, original.encode(), line, count_records(value, signal))]
    return [Export(signal, _dumps(part), line, count_records(part, signal))
            for part in split_request(value, signal, MAX_REQUEST_BYTES)]


def signal_of(value: Any, where: str) -> str:
    """'traces', 'logs' or 'metrics' from the request's top-level key."""
    if not isinstance(value, dict):
        raise ImportFailed(f"{where}: expected an OTLP/JSON export object, got a JSON {type(value).__name__}")
    signals = {SIGNALS[key] for key in value if key in SIGNALS}
    if len(signals) != 1:
        keys = ", ".join(sorted(value)[:5]) or "none"
        raise ImportFailed(
            f"{where}: not an OTLP/JSON export: expected exactly one of resourceSpans, resourceLogs or "
            f"resourceMetrics at the top level (keys found: {keys})"
        )
    return signals.pop()


def count_records(value: dict, signal: str) -> int:
    """Spans, log records or metric data points in one request."""
    level = [value]
    for keys in RECORD_PATHS[signal]:
        level = [item for container in level if isinstance(container, dict)
                 for item in _list(container, keys)]
    if signal != "metrics":
        return len(level)
    return sum(len(metric[kind].get("dataPoints", metric[kind].get("data_points", [])) or [])
               for metric in level if isinstance(metric, dict)
               for kind in METRIC_DATA if isinstance(metric.get(kind), dict))


def _list(container: dict, keys: tuple[str, ...]) -> list:
    for key in keys:
        if isinstance(container.get(key), list):
            return container[key]
    return []


def split_request(value: dict, signal: str, max_bytes: int) -> list[dict]:
    """Parts of a request, each under `max_bytes` where possible, together holding every record.

    Halves the resource list, then a lone resource's scope list, then a lone scope's records.
    The parts depend only on the request, so a re-import sends the same bodies.
    """
    return _split(value, RECORD_PATHS[signal], max_bytes)


def _split(container: dict, path: tuple[tuple[str, ...], ...], max_bytes: int) -> list[dict]:
    if not path or len(_dumps(container)) <= max_bytes:
        return [container]
    key = next((k for k in path[0] if isinstance(container.get(k), list)), None)
    items = container.get(key) if key else None
    if not items:
        return [container]
    if len(items) > 1:
        half = len(items) // 2
        return (_split({**container, key: items[:half]}, path, max_bytes)
                + _split({**container, key: items[half:]}, path, max_bytes))
    if not isinstance(items[0], dict):
        return [container]
    return [{**container, key: [part]} for part in _split(items[0], path[1:], max_bytes)]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def send(url: str, export: Export, token: str | None, totals: Totals, source: str) -> None:
    """POST one request; add the server's answer to `totals`. Raises ImportFailed when the
    server cannot be reached or refuses the token (nothing more can be sent then)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = token
    endpoint = f"{url.rstrip('/')}/v1/{export.signal}"
    for attempt in range(RETRIES + 1):
        request = urllib.request.Request(endpoint, data=export.body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                answer = _json(response.read())
                duplicate = response.headers.get("X-Spyglass-Duplicate") == "true"
            break
        except urllib.error.HTTPError as error:
            message = _json(error.read()).get("message") or error.reason
            if error.code in (429, 502, 503, 504) and attempt < RETRIES:
                time.sleep(min(float(error.headers.get("Retry-After") or 1), 30))
                continue
            if error.code == 401:
                raise ImportFailed(f"{url} refused the token ({message}): pass --token or set SPYGLASS_TOKEN") from None
            totals.requests += 1
            totals.rejected[export.signal] = totals.rejected.get(export.signal, 0) + export.records
            totals.problems.append(f"{source}, line {export.line}: the server refused the request ({error.code}): {message}")
            return
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ImportFailed(f"no Spyglass server answers at {url} ({reason}); start one with "
                               f"`spyglass serve` or pass --url") from None
    totals.requests += 1
    if duplicate:  # the server had stored this very request before: nothing was stored now
        totals.already_stored += 1
        return
    partial = answer.get("partialSuccess") or answer.get("partial_success") or {}
    rejected = int(partial.get(REJECTED_KEYS[export.signal]) or 0)
    totals.accepted[export.signal] = totals.accepted.get(export.signal, 0) + max(export.records - rejected, 0)
    totals.rejected[export.signal] = totals.rejected.get(export.signal, 0) + rejected
    if rejected:
        totals.problems.append(f"{source}, line {export.line}: {rejected} {RECORD_NAMES[export.signal]} rejected: "
                               f"{partial.get('errorMessage') or partial.get('error_message') or ''}")


def _json(body: bytes) -> dict:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def read_file(path: str) -> str:
    """The text of FILE ('-' is standard input), or ImportFailed saying why it cannot be read."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImportFailed(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImportFailed(f"{path}: is a directory, not an OTLP/JSON file") from None
    except UnicodeDecodeError as error:
        raise ImportFailed(f"{path}: not UTF-8 text (OTLP/JSON is UTF-8): {error}") from None
    except OSError as error:
        raise ImportFailed(f"{path}: cannot be read: {error.strerror}") from None


def import_path(path: str, url: str, token: str | None) -> Totals:
    """Read, check and send one file. Raises ImportFailed before sending if the file is unusable."""
    source = "standard input" if path == "-" else path
    exports = read_exports(read_file(path), source)
    totals = Totals()
    for export in exports:
        send(url, export, token, totals, source)
    return totals
