"""The trace view: one trace as a collapsible tree with a waterfall, span details, search, OTLP export.

The page embeds the whole tree once, as compact rows (PAGE_FIELDS), and web/static/trace.js draws
only the rows that are scrolled into view, so a 10,000-span trace opens and scrolls as fast as a
small one. Everything heavy (attributes, events, links, resource) is fetched per span on click.
The same data is served as JSON under /api/trace/{trace_id}.
"""

import json
import re
from datetime import datetime, timezone
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from query import otlp_export, trace
from web.api import ApiError
from web.formatting import duration, timestamp
from web.pages import PageError, templates

_TRACE_ID = re.compile(r"[0-9a-f]{32}")

PAGE_FIELDS = (
    "row_id", "span_id", "parent", "depth", "end", "kind", "level", "label", "name", "service",
    "offset", "width", "duration", "start", "flags", "exception", "ticks", "open", "usage",
)
"""The columns of each row embedded in the page, in order (trace.js reads them by this list)."""

TICKS = 4


def _trace_id(text: str) -> str:
    trace_id = text.strip().lower()
    if not _TRACE_ID.fullmatch(trace_id):
        raise ValueError(f"a trace id is 32 hex characters, got {len(trace_id)} characters: {text[:80]!r}")
    return trace_id


def _seconds_label(microseconds: int) -> str:
    if microseconds < 0:
        return "-" + duration(-microseconds / 1e6)
    return duration(microseconds / 1e6)


def _utc(microseconds: int) -> str:
    moment = datetime.fromtimestamp(microseconds / 1e6, tz=timezone.utc)
    return f"{timestamp(moment)} UTC"


def usage_label(usage: tuple[int, float] | None) -> str:
    """'1.2k tok · $0.0031' for a subtree's model calls; '' when it has none."""
    if not usage:
        return ""
    tokens, cost = usage
    count = f"{tokens / 1000:.1f}k" if tokens >= 1000 else str(tokens)
    return f"{count} tok" + (f" · ${cost:.4f}" if cost else "")


def page_rows(nodes: list[dict[str, Any]], services: list[str]) -> list[list[Any]]:
    """Each node as a compact list of PAGE_FIELDS, labels cut and durations formatted."""
    service_index = {name: i for i, name in enumerate(services)}
    cut = trace.LABEL_CHARS
    rows = []
    for node in nodes:
        label = node["message"] or node["span_name"] or ""
        name = node["span_name"] or ""
        rows.append([
            node["row_id"], node["span_id"], node["parent"], node["depth"], node["end"], node["kind"],
            node["level"], label[:cut], "" if name == label else name[:cut],
            service_index[node["service_name"]], node["offset"], node["width"],
            "running" if "running" in node["flags"] else duration(node["duration"]),
            "+" + _seconds_label(node["start_offset_us"]), node["flags"], node["exception_type"] or "",
            node["ticks"] or 0, 1 if node["open"] else 0, usage_label(node["usage"]),
        ])
    return rows


def ruler(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Time labels for the waterfall's axis, at equal steps (one label when the trace takes no time)."""
    if summary["duration_us"] <= 0:
        return [{"offset": 0.0, "label": _seconds_label(0)}]
    return [
        {"offset": 100 * step / TICKS, "label": _seconds_label(summary["duration_us"] * step // TICKS)}
        for step in range(TICKS + 1)
    ]


def _script_json(payload: Any) -> str:
    """JSON that is safe inside <script type="application/json">: no `<`, `>` or `&` can end it."""
    text = orjson.dumps(payload).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    try:
        body = orjson.dumps(payload)
    except TypeError:  # an integer past 64 bits, parsed from JSON text in an attribute
        body = json.dumps(payload, ensure_ascii=False, default=str).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _api_node(node: dict[str, Any]) -> dict[str, Any]:
    skip = ("event_names", "event_times", "created_us")
    return {k: v for k, v in node.items() if k not in skip}


def trace_router() -> APIRouter:
    router = APIRouter()

    def load(request: Request, trace_id: str) -> dict[str, Any] | None:
        with request.app.state.database.cursor() as cursor:
            return trace.trace_view(cursor, trace_id)

    def api_trace_id(text: str) -> str:
        try:
            return _trace_id(text)
        except ValueError as error:
            raise ApiError(str(error)) from None

    @router.get("/trace/{trace_id}", response_class=HTMLResponse, name="trace")
    def trace_page(request: Request, trace_id: str, span: str = ""):
        try:
            trace_id = _trace_id(trace_id)
        except ValueError as error:
            raise PageError(str(error), status=400) from None
        view = load(request, trace_id)
        if view is None:
            raise PageError(f"no records with trace_id {trace_id!r}: it may not have arrived yet")
        summary = view["summary"]
        payload = {
            "trace_id": trace_id,
            "fields": PAGE_FIELDS,
            "services": summary["services"],
            "rows": page_rows(view["nodes"], summary["services"]),
            "selected": span.strip().lower(),
            "urls": {
                "live": str(request.url_for("home")),
                "trace": str(request.url_for("trace", trace_id=trace_id)).rsplit("/", 1)[0] + "/",
                "span": str(request.url_for("trace_api", trace_id=trace_id)) + "/span/",
                "search": str(request.url_for("trace_search", trace_id=trace_id)),
                "version": str(request.url_for("trace_version", trace_id=trace_id)),
            },
        }
        return templates.TemplateResponse(request, "trace.html", {
            "trace_id": trace_id,
            "summary": summary,
            "total": view["total"],
            "truncated": view["truncated"],
            "started": _utc(summary["start_us"]),
            "took": _seconds_label(summary["duration_us"]),
            "ruler": ruler(summary),
            "workflows": [{**w, "href": request.url_for("workflow", engine=w["engine"], workflow_id=w["workflow_id"]).path}
                          for w in view["workflows"]],
            "data": _script_json(payload),
        })

    @router.get("/api/trace/{trace_id}", name="trace_api")
    def trace_api(request: Request, trace_id: str) -> Response:
        """The trace as a tree: nodes in depth-first order with parent, depth, flags and bar positions."""
        trace_id = api_trace_id(trace_id)
        view = load(request, trace_id)
        if view is None:
            raise ApiError(f"no records with trace_id {trace_id!r}", status=404)
        view["nodes"] = [_api_node(node) for node in view["nodes"]]
        return _json(view)

    @router.get("/api/trace/{trace_id}/span/{row}", name="trace_span")
    def trace_span(request: Request, trace_id: str, row: str) -> Response:
        """Every column of one record; `row` is its span id, with `-n` for the n-th other row sharing it.
        `conversation`: its LLM messages, tool call or agent run (query/llm_messages.py), or null."""
        trace_id = api_trace_id(trace_id)
        if trace.parse_row_id(row) is None:
            raise ApiError(f"a row id is a 16-hex-character span id, optionally followed by -n; got {row[:80]!r}")
        with request.app.state.database.cursor() as cursor:
            found = trace.record(cursor, trace_id, row)
            if found is not None:
                found["conversation"] = trace.conversation(cursor, trace_id, found)
        if found is None:
            raise ApiError(f"no record {row!r} in trace {trace_id!r}", status=404)
        found["duration_label"] = "running" if found["end_us"] is None else duration(found["duration"])
        for event in found.get("otel_events") or []:
            if isinstance(event, dict) and isinstance(event.get("timestamp"), str):
                event["offset_label"] = "+" + _seconds_label(otlp_export.iso_to_ns(event["timestamp"]) // 1000 - found["start_us"])
        return _json(found)

    @router.get("/api/trace/{trace_id}/version", name="trace_version")
    def trace_version(request: Request, trace_id: str) -> Response:
        """Record and running counts, polled by the page while the trace has running spans."""
        trace_id = api_trace_id(trace_id)
        with request.app.state.database.cursor() as cursor:
            return _json(trace.version(cursor, trace_id))

    @router.get("/api/trace/{trace_id}/search", name="trace_search")
    def trace_search(request: Request, trace_id: str, q: str = "") -> Response:
        """Row ids of the records whose names, message, ids, attributes, events or exception contain q."""
        trace_id = api_trace_id(trace_id)
        with request.app.state.database.cursor() as cursor:
            return _json({"query": q, "row_ids": trace.search(cursor, trace_id, q[:1000])})

    def export(request: Request, trace_id: str, build, suffix: str) -> Response:
        trace_id = api_trace_id(trace_id)
        with request.app.state.database.cursor() as cursor:
            records = trace.export_records(cursor, trace_id)
        if not records:
            raise ApiError(f"no finished records with trace_id {trace_id!r}", status=404)
        disposition = f'attachment; filename="trace-{trace_id}{suffix}"'
        return _json(build(records), headers={"Content-Disposition": disposition})

    @router.get("/api/trace/{trace_id}/otlp.json", name="trace_otlp")
    def trace_otlp(request: Request, trace_id: str) -> Response:
        """The trace's spans as an OTLP/JSON ExportTraceServiceRequest (POST it to any /v1/traces)."""
        return export(request, trace_id, otlp_export.traces_request, ".otlp.json")

    @router.get("/api/trace/{trace_id}/otlp-logs.json", name="trace_otlp_logs")
    def trace_otlp_logs(request: Request, trace_id: str) -> Response:
        """The trace's OTLP log records as an ExportLogsServiceRequest (POST it to any /v1/logs)."""
        return export(request, trace_id, otlp_export.logs_request, ".otlp-logs.json")

    return router
