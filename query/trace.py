"""One trace: its records as a tree with waterfall positions, one record in full, search, export rows.

The tree is built here in Python rather than with a recursive SQL query, because real data breaks
what such a query assumes (OTLP.md items 19-22): parents that never arrive, two rows sharing one
span id, parent cycles, an end before the start, timestamps from 1970 or from the future. Rows are
keyed by their position, never by span_id, and the tree is walked iteratively with every row placed
exactly once, so no input can make it loop, recurse too deep or drop a record.
"""

import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import duckdb

from query import llm_messages
from query.reads import dicts, sql

MAX_TREE_ROWS = 50_000
"""Records of one trace the tree shows at most; the page says when a trace has more."""

INITIALLY_OPEN_ROWS = 500
"""Rows the tree shows expanded at first, at most (the roots are always open)."""

LABEL_CHARS = 300
"""The tree shows messages and names cut to this; the details panel shows them whole."""

EVENT_TICKS = 20
"""Span events drawn on a span's bar, at most."""

LEVEL_WARN = 13
LEVEL_ERROR = 17

# Timestamps before 2000 (an unset clock, a start of 0) or more than an hour after the record
# arrived (a clock running ahead) would squash every other bar of the waterfall into a sliver: they
# are left out of the trace's time range, and the bars that use them are clamped and flagged `skew`.
PLAUSIBLE_SINCE_US = 946_684_800_000_000
FUTURE_SLACK_US = 3_600_000_000

_ROW_ID = re.compile(r"([0-9a-f]{16})(?:-(\d{1,9}))?")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = datetime.resolution
JSON_COLUMNS = ("attributes", "otel_events", "otel_links", "otel_scope_attributes", "otel_resource_attributes")


# -- row ids ------------------------------------------------------------------------------------


def row_id(span_id: str, dup_index: int) -> str:
    """The name of one row of a trace: its span_id, plus `-n` for the n-th other row with that id."""
    return span_id if not dup_index else f"{span_id}-{dup_index}"


def parse_row_id(text: str) -> tuple[str, int] | None:
    """(span_id, dup_index) from a row id, or None when it is not one."""
    match = _ROW_ID.fullmatch(text.strip().lower())
    if match is None:
        return None
    return match.group(1), int(match.group(2) or 0)


# -- the tree (pure) ----------------------------------------------------------------------------


def build_tree(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Arrange the records of one trace as a forest, in depth-first order, children by start time.

    Each row needs span_id, parent_span_id, kind and start_us/end_us (microseconds; end_us None
    while a span is pending); dup_index is optional. Returns the same dicts (updated in place: the
    tree is built for every page view, and copying 10,000 rows costs) in tree order, each with:
    `row_id`, `parent` (position of the parent in the returned list, -1 for a root), `depth`,
    `end` (position just past the last descendant: a collapsed node hides [position + 1, end)),
    `children` (direct children count) and `flags`, a sorted list of:

    - `orphan`: its parent span is not in the trace (never arrived); shown as a root.
    - `cycle`: its parent link was ignored to break a cycle (including a span that is its own parent).
    - `dup`: another row of the trace has the same span_id.

    Rows sharing a span_id are all kept. A child whose parent id is shared hangs under the non-log
    row that was running when the child started, else under the first of them: deterministic.
    """
    records = sorted(rows, key=lambda r: (r["start_us"], r["span_id"], r.get("dup_index") or 0))
    count = len(records)
    # Few allocations per row: this runs on every page view, for up to MAX_TREE_ROWS rows.
    first_with: dict[str, int] = {}  # span_id -> its first row
    shared: dict[str, list[int]] = {}  # span_id -> all its rows, only for ids that several rows carry
    for index, record in enumerate(records):
        span_id = record["span_id"]
        if span_id in first_with:
            rows_of = shared.get(span_id)
            if rows_of is None:
                shared[span_id] = [first_with[span_id], index]
            else:
                rows_of.append(index)
        else:
            first_with[span_id] = index

    flags: dict[int, set[str]] = {}
    for rows_of in shared.values():
        for index in rows_of:
            flags[index] = {"dup"}
    parent = [-1] * count
    for index, record in enumerate(records):
        parent_id = record["parent_span_id"]
        if parent_id is None:
            continue
        candidate = first_with.get(parent_id)
        if candidate is None:
            flags.setdefault(index, set()).add("orphan")
        elif parent_id in shared:
            parent[index] = _best_parent(records, [i for i in shared[parent_id] if i != index], record["start_us"])
        elif candidate != index:
            parent[index] = candidate
        else:
            flags.setdefault(index, set()).add("cycle")  # its own parent: nothing else carries that id
    _break_cycles(parent, flags)

    children: dict[int, list[int]] = {}
    roots: list[int] = []
    for index in range(count):  # records are in start order, so children are too
        above = parent[index]
        if above < 0:
            roots.append(index)
        elif above in children:
            children[above].append(index)
        else:
            children[above] = [index]

    order: list[int] = []
    depth = [0] * count
    stack = roots[::-1]
    while stack:
        index = stack.pop()
        order.append(index)
        below = children.get(index)
        if below:
            level = depth[index] + 1
            for child in reversed(below):
                depth[child] = level
                stack.append(child)
    if len(order) != count:  # impossible once cycles are broken; a loud failure beats a lost span
        raise AssertionError(f"trace tree placed {len(order)} of {count} records")

    position = [0] * count
    for pos, index in enumerate(order):
        position[index] = pos
    size = [1] * count
    for index in reversed(order):
        if parent[index] >= 0:
            size[parent[index]] += size[index]

    nodes = []
    for pos, index in enumerate(order):
        node = records[index]
        dup_index = node.get("dup_index")
        node["row_id"] = f"{node['span_id']}-{dup_index}" if dup_index else node["span_id"]
        node["parent"] = position[parent[index]] if parent[index] >= 0 else -1
        node["depth"] = depth[index]
        node["end"] = pos + size[index]
        below = children.get(index)
        node["children"] = len(below) if below else 0
        node_flags = flags.get(index)
        node["flags"] = sorted(node_flags) if node_flags else []
        nodes.append(node)
    return nodes


def _best_parent(records: Sequence[dict], candidates: list[int], child_start: int) -> int:
    spans = [i for i in candidates if records[i]["kind"] != "log"] or candidates
    for i in spans:
        start, end = records[i]["start_us"], records[i]["end_us"]
        if start <= child_start and (end is None or child_start <= end):
            return i
    return spans[0]


def _break_cycles(parent: list[int], flags: dict[int, set[str]]) -> None:
    """Cut every cycle of parent links at its earliest record, which becomes a root flagged `cycle`."""
    state = [0] * len(parent)  # 0 unseen, 1 on the current path, 2 settled
    path: list[int] = []
    for start in range(len(parent)):
        if state[start]:
            continue
        path.clear()
        index = start
        while index >= 0 and state[index] == 0:
            state[index] = 1
            path.append(index)
            index = parent[index]
        if index >= 0 and state[index] == 1:
            first = min(path[path.index(index):])
            parent[first] = -1
            flags.setdefault(first, set()).add("cycle")
        for index in path:
            state[index] = 2


# -- the waterfall (pure) -----------------------------------------------------------------------


def time_range(nodes: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """(start_us, end_us) of a trace: earliest start to latest end or start, implausible times left out."""
    good: list[int] = []
    every: list[int] = []
    for node in nodes:
        latest = node.get("created_us")
        latest = latest + FUTURE_SLACK_US if latest is not None else None
        for value in (node["start_us"], node["end_us"]):
            if value is None:
                continue
            every.append(value)
            if value >= PLAUSIBLE_SINCE_US and (latest is None or value <= latest):
                good.append(value)
    chosen = good or every
    return (min(chosen), max(chosen)) if chosen else (0, 0)


def layout_waterfall(nodes: list[dict[str, Any]]) -> dict[str, int]:
    """Place every node's bar on the trace's shared time axis, in percent of the trace's duration.

    Sets `offset` and `width` (0-100, three decimals), `start_offset_us` (from the trace start) and
    `ticks` (span events: [offset, name]) on each node and adds flags: `running` (a pending span: its
    bar runs to the end of the trace), `negative` (end before start: drawn as a point), `skew` (a
    time outside the trace's plausible range: the bar is clamped into it). Returns the range.
    """
    low, high = time_range(nodes)
    scale = 100 / max(high - low, 1)

    def percent(value: int) -> float:
        return round((min(max(value, low), high) - low) * scale, 3)

    for node in nodes:
        added = []
        start, end = node["start_us"], node["end_us"]
        clamped_start = min(max(start, low), high)
        if clamped_start != start:
            added.append("skew")
        if node["kind"] == "pending_span" or end is None:
            added.append("running")
            end = max(high, start)
        elif end < start:
            added.append("negative")
            end = start
        elif end > high:
            added.append("skew")
        offset = round((clamped_start - low) * scale, 3)
        node["offset"] = offset
        node["width"] = max(round((min(end, high) - low) * scale - offset, 3), 0.0)
        node["start_offset_us"] = start - low
        names = node.get("event_names")
        node["ticks"] = [
            [percent(_iso_us(stamp)), name] for name, stamp in zip(names[:EVENT_TICKS], node["event_times"]) if stamp
        ] if names else []
        if added:
            node["flags"] = sorted({*node["flags"], *added})
    return {"start_us": low, "end_us": high, "duration_us": high - low}


def _iso_us(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // _MICROSECOND


def mark_status(nodes: list[dict[str, Any]]) -> None:
    """Add the flag `error` (level error or above, status ERROR or an exception), else `warn`
    (level warn or above), else `ok` (status OK)."""
    for node in nodes:
        level = node.get("level") or 0
        if level >= LEVEL_ERROR or node.get("otel_status_code") == "ERROR" or node.get("is_exception"):
            node["flags"] = sorted({*node["flags"], "error"})
        elif level >= LEVEL_WARN:
            node["flags"] = sorted({*node["flags"], "warn"})
        elif node.get("otel_status_code") == "OK":
            node["flags"] = sorted({*node["flags"], "ok"})


def initial_open(nodes: list[dict[str, Any]], cap: int = INITIALLY_OPEN_ROWS) -> None:
    """Choose which nodes start expanded (`open`): all of them when the trace is small; otherwise
    the roots, then level by level (earlier nodes first) while the rows shown stay within `cap`."""
    for node in nodes:
        node["open"] = False
    if len(nodes) <= cap:
        for node in nodes:
            node["open"] = node["children"] > 0
        return
    level = [pos for pos, node in enumerate(nodes) if node["parent"] < 0]
    shown = len(level)
    first = True
    while level:
        opened = []
        for pos in level:
            node = nodes[pos]
            if node["children"] and (first or shown + node["children"] <= cap):
                node["open"] = True
                shown += node["children"]
                opened.append(pos)
        first = False
        level = [child for pos in opened for child in _child_positions(nodes, pos)]


def _child_positions(nodes: Sequence[dict[str, Any]], pos: int) -> Iterable[int]:
    child = pos + 1
    while child < nodes[pos]["end"]:
        yield child
        child = nodes[child]["end"]


def summarize(nodes: Sequence[dict[str, Any]], time: dict[str, int]) -> dict[str, Any]:
    """Counts and the root's name for the trace's header."""
    roots = [n for n in nodes if n["parent"] < 0]
    root = next((n for n in roots if "orphan" not in n["flags"]), roots[0] if roots else None)
    services: dict[str, int] = {}
    for node in nodes:
        service = node["service_name"] = node["service_name"] or "unknown_service"
        services[service] = services.get(service, 0) + 1
    return {
        "root_message": root["message"] or root["span_name"] if root else None,
        "records": len(nodes),
        "spans": sum(1 for n in nodes if n["kind"] != "log"),
        "logs": sum(1 for n in nodes if n["kind"] == "log"),
        "otlp_logs": sum(1 for n in nodes if n.get("is_otlp_log")),
        "running": sum(1 for n in nodes if "running" in n["flags"]),
        "errors": sum(1 for n in nodes if "error" in n["flags"]),
        "orphans": sum(1 for n in nodes if "orphan" in n["flags"]),
        "depth": max((n["depth"] for n in nodes), default=0) + (1 if nodes else 0),
        "services": sorted(services, key=lambda s: (-services[s], s)),
        **time,
    }


def sum_usage(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """Tokens and cost of each node's subtree (node["usage"]) and of the whole trace.

    Only model-call records carry tokens and cost (collector/genai.py leaves agent runs' aggregated
    usage out), so summing a subtree counts every call once. Nodes are in tree order and a subtree
    is nodes[pos:end], so prefix sums give each subtree's total without recursion.
    """
    prefix_tokens, prefix_cost, calls = [0], [0.0], 0
    for node in nodes:
        tokens = (node.get("input_tokens") or 0) + (node.get("output_tokens") or 0)
        calls += node.get("input_tokens") is not None or node.get("cost_usd") is not None
        prefix_tokens.append(prefix_tokens[-1] + tokens)
        prefix_cost.append(prefix_cost[-1] + (node.get("cost_usd") or 0.0))
    for pos, node in enumerate(nodes):
        tokens = prefix_tokens[node["end"]] - prefix_tokens[pos]
        cost = prefix_cost[node["end"]] - prefix_cost[pos]
        node["usage"] = (tokens, cost) if tokens or cost else None
    return {
        "model_calls": calls,
        "input_tokens": sum(n.get("input_tokens") or 0 for n in nodes),
        "output_tokens": sum(n.get("output_tokens") or 0 for n in nodes),
        "cost_usd": prefix_cost[-1],
    }


def arrange(rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Tree, waterfall, status flags and initial expansion of a trace's rows: (nodes, summary)."""
    nodes = build_tree(rows)
    time = layout_waterfall(nodes)
    mark_status(nodes)
    initial_open(nodes)
    return nodes, {**summarize(nodes, time), **sum_usage(nodes)}


# -- reads --------------------------------------------------------------------------------------


def _numbered(name: str) -> str:
    return f"WITH numbered AS ({sql('trace_numbered')}) {sql(name)}"


def trace_rows(cursor: duckdb.DuckDBPyConnection, trace_id: str, limit: int = MAX_TREE_ROWS) -> list[dict[str, Any]]:
    """The records of one trace with the columns the tree needs, oldest first (at most `limit`)."""
    return dicts(cursor.execute(_numbered("trace_records"), {"trace_id": trace_id, "limit": limit}))


def count_records(cursor: duckdb.DuckDBPyConnection, trace_id: str) -> int:
    return cursor.execute(sql("trace_count"), {"trace_id": trace_id}).fetchone()[0]


def trace_view(cursor: duckdb.DuckDBPyConnection, trace_id: str, limit: int = MAX_TREE_ROWS) -> dict[str, Any] | None:
    """One trace ready to draw: {"trace_id", "nodes", "summary", "total", "truncated", "workflows" (the
    durable workflows it belongs to)}; None if unknown."""
    rows = trace_rows(cursor, trace_id, limit)
    if not rows:
        return None
    total = count_records(cursor, trace_id) if len(rows) >= limit else len(rows)
    nodes, summary = arrange(rows)
    workflows = dicts(cursor.execute(sql("trace_workflows"), {"trace_id": trace_id}))
    return {"trace_id": trace_id, "nodes": nodes, "summary": summary, "total": total, "truncated": total > len(rows),
            "workflows": workflows}


def record(cursor: duckdb.DuckDBPyConnection, trace_id: str, row: str) -> dict[str, Any] | None:
    """Every column of one row of a trace (JSON columns parsed, times as ISO 8601 UTC), or None.

    Links get `stored`: whether the linked span is in the database (one query for all links).
    """
    key = parse_row_id(row)
    if key is None:
        return None
    found = dicts(cursor.execute(_numbered("trace_record"), {"trace_id": trace_id, "span_id": key[0], "dup_index": key[1]}))
    if not found:
        return None
    result = _plain(found[0])
    result["row_id"] = row_id(*key)
    links = result.get("otel_links") or []
    if isinstance(links, list) and links:
        stored = stored_spans(cursor, [(link.get("trace_id"), link.get("span_id")) for link in links if isinstance(link, dict)])
        for link in links:
            if isinstance(link, dict):
                link["stored"] = (link.get("trace_id"), link.get("span_id")) in stored
    return result


def conversation(cursor: duckdb.DuckDBPyConnection, trace_id: str, found: dict[str, Any]) -> dict[str, Any] | None:
    """The LLM conversation of one record (see query/llm_messages.py), reading the log records
    under it only for a model-call span whose messages may have been sent as logs."""
    logs: list[dict[str, Any]] = []
    if llm_messages.wants_logs(found):
        logs = dicts(cursor.execute(sql("trace_span_logs"), {
            "trace_id": trace_id, "span_id": found["span_id"], "limit": llm_messages.MAX_LOG_RECORDS,
        }))
    return llm_messages.conversation(found, logs)


def stored_spans(cursor: duckdb.DuckDBPyConnection, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (trace_id, span_id) pairs have at least one record."""
    pairs = [(t, s) for t, s in pairs if isinstance(t, str) and isinstance(s, str)]
    if not pairs:
        return set()
    found = cursor.execute(sql("stored_spans"), {
        "trace_ids": sorted({t for t, _ in pairs}), "span_ids": sorted({s for _, s in pairs}),
    }).fetchall()
    return set(found) & set(pairs)


def version(cursor: duckdb.DuckDBPyConnection, trace_id: str) -> dict[str, int]:
    """{"records", "running"}: what the trace view polls to tell that a running trace changed."""
    records, running = cursor.execute(sql("trace_version"), {"trace_id": trace_id}).fetchone()
    return {"records": records, "running": running}


def search(cursor: duckdb.DuckDBPyConnection, trace_id: str, text: str) -> list[str]:
    """Row ids of the records of a trace whose names, message, ids, attributes, events or exception
    contain `text` (case-insensitive, literally: no wildcards)."""
    needle = text.strip().lower()
    if not needle:
        return []
    rows = cursor.execute(_numbered("trace_search"), {"trace_id": trace_id, "needle": needle}).fetchall()
    return [row_id(span_id, dup_index) for span_id, dup_index in rows]


def export_records(cursor: duckdb.DuckDBPyConnection, trace_id: str) -> list[dict[str, Any]]:
    """Every column of the finished records of a trace, JSON columns parsed: what query/otlp_export.py takes."""
    return [_parse_json_columns(r) for r in dicts(cursor.execute(sql("trace_export"), {"trace_id": trace_id}))]


def _parse_json_columns(record: dict[str, Any]) -> dict[str, Any]:
    for column in JSON_COLUMNS:
        if isinstance(record.get(column), str):
            record[column] = json.loads(record[column])
    return record


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """JSON columns parsed and timestamps as ISO 8601 text in UTC, ready for a JSON response."""
    record = _parse_json_columns(record)
    for key, value in record.items():
        if isinstance(value, datetime):
            record[key] = value.astimezone(timezone.utc).isoformat()
    return record
