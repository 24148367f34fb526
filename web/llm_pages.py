"""The LLMs page (cost, tokens and latency per provider and model) and the Agents page (runs per agent,
grouped into conversations), with their JSON twins /api/llms and /api/agents.

Both read the `llm_calls` view through query/llm.py. The time range is the URL's `since` (as in the
live view: 15m, 24h, 7d, all). The chart is SVG drawn on the server: its geometry is computed here,
the template only prints it.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from query import llm
from query.sandbox import QueryRefused
from web.api import ApiError
from web.formatting import duration, timestamp
from web.live import since_delta
from web.pages import PageError, templates

SINCE_CHOICES = ("15m", "1h", "6h", "24h", "7d", "30d", "all")
DEFAULT_SINCE = "24h"
RUNS_SHOWN = 200

# Chart geometry, in SVG user units (the SVG scales to the page width).
CHART_WIDTH = 880
CHART_HEIGHT = 150
CHART_LEFT = 64  # room for the value labels
CHART_BOTTOM = 20  # room for the time labels
CHART_TOP = 8


def money(value: float | None) -> str:
    """USD with as many decimals as a small amount needs: $12.35, $0.0389, $0.000115."""
    if value is None:
        return ""
    if value == 0:
        return "$0.00"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    decimals = min(8, max(4, 2 - math.floor(math.log10(abs(value)))))
    return f"${value:.{decimals}f}"


def count(value: int | float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def compact(value: float) -> str:
    """1234 -> 1.2k, for chart axes."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:g}"


def bucket_text(step: timedelta) -> str:
    """A chart bucket's width in words: 10 s, 5 min, 3 h, 1 day."""
    seconds = int(step.total_seconds())
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            amount = seconds // size
            return f"{amount} {unit}{'s' if unit == 'day' and amount != 1 else ''}"
    return f"{seconds} s"


def percent(part: int, whole: int) -> str:
    return "" if not whole else f"{100 * part / whole:.0f}%"


@dataclass(frozen=True)
class Range:
    """The page's time range: the `since` choice as written, and the moment it starts (None: all time)."""

    since: str
    start: datetime | None
    now: datetime


def parse_range(request: Request) -> Range:
    """The `since` parameter; raises QueryRefused for one that is not a time range."""
    since = request.query_params.get("since", "").strip() or DEFAULT_SINCE
    now = datetime.now(timezone.utc)
    delta = since_delta(since)
    return Range(since, None if delta is None else now - delta, now)


def cost_cell(row: dict) -> dict[str, str]:
    """The cost as shown: the sum, and what is unknown about it (a model genai-prices has no price for)."""
    unpriced = row.get("unpriced_calls") or 0
    if row["cost_usd"] is None:
        if unpriced:
            return {"text": "unknown model", "unknown": True, "note": "", "title": f"no price known for this model: "
                    f"{unpriced} calls with tokens but no cost reported, and genai-prices has no price for it"}
        return {"text": "", "unknown": False, "note": "", "title": ""}
    note = f"+{unpriced} unpriced" if unpriced else ""
    title = f"{unpriced} calls had no price (unknown model)" if unpriced else ""
    computed = row.get("computed_calls") or 0
    if computed:
        title = (title + "; " if title else "") + f"{computed} calls priced by Spyglass with genai-prices (no cost reported)"
    return {"text": money(row["cost_usd"]), "unknown": False, "note": note, "title": title}


def model_rows(models: list[dict]) -> list[dict]:
    """What each row of the models table shows, formatted here so the template only prints."""
    return [{
        **row,
        "provider_text": row["provider"] or "unknown provider",
        "model_text": row["model"] or "unknown model",
        "calls_text": count(row["calls"]),
        "errors_text": count(row["errors"]) if row["errors"] else "",
        "p50_text": "" if row["p50_seconds"] is None else duration(row["p50_seconds"]),
        "p95_text": "" if row["p95_seconds"] is None else duration(row["p95_seconds"]),
        "input_text": count(row["input_tokens"]),
        "output_text": count(row["output_tokens"]),
        "cached_text": count(row["cache_read_tokens"]),
        "cached_title": f"{row['cache_read_tokens'] or 0:,} input tokens read from the cache, "
                        f"{row['cache_write_tokens'] or 0:,} written to it (both are part of the input tokens)",
        "tool_calls_text": count(row["tool_calls"]),
        "cost": cost_cell(row),
    } for row in models]


def totals(models: list[dict]) -> dict[str, Any]:
    def total(key: str):
        values = [row[key] for row in models if row[key] is not None]
        return sum(values) if values else None
    keys = ("calls", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
            "cost_usd", "unpriced_calls", "computed_calls", "tool_calls")
    return {key: total(key) for key in keys}


def total_row(total: dict[str, Any]) -> dict[str, Any]:
    return {
        "calls_text": count(total["calls"]),
        "errors_text": count(total["errors"]) if total["errors"] else "",
        "input_text": count(total["input_tokens"]),
        "output_text": count(total["output_tokens"]),
        "cached_text": count(total["cache_read_tokens"]),
        "tool_calls_text": count(total["tool_calls"]),
        "cost": cost_cell(total),
    }


def chart(timeline: llm.Timeline, series: tuple[tuple[str, str], ...], label) -> dict[str, Any] | None:
    """A bar chart of `series` ((key, css class), stacked) per time bucket: bars, value axis, time axis."""
    if timeline.origin is None:
        return None
    slots = max(1, math.ceil((timeline.end - timeline.origin) / timeline.bucket))
    slot_width = (CHART_WIDTH - CHART_LEFT) / slots
    plot_height = CHART_HEIGHT - CHART_BOTTOM - CHART_TOP
    peak = max((sum(bucket[key] or 0 for key, _ in series) for bucket in timeline.buckets), default=0)
    scale = plot_height / peak if peak > 0 else 0
    bars = []
    for bucket in timeline.buckets:
        slot = (bucket["bucket"] - timeline.origin) // timeline.bucket
        x = CHART_LEFT + slot * slot_width + slot_width * 0.1
        base = CHART_HEIGHT - CHART_BOTTOM
        for key, css in series:
            value = bucket[key] or 0
            height = value * scale
            if height <= 0:
                continue
            bars.append({"x": round(x, 2), "y": round(base - height, 2), "width": round(slot_width * 0.8, 2),
                         "height": round(max(height, 0.5), 2), "class": css,
                         "title": f"{timestamp(bucket['bucket'])}: {label(value)} {key.replace('_', ' ')}"})
            base -= height
    ticks = [{"y": round(CHART_HEIGHT - CHART_BOTTOM - plot_height * f, 2), "label": label(peak * f)}
             for f in (0, 0.5, 1)] if peak > 0 else []
    times = [{"x": round(CHART_LEFT + slot_width * s, 2), "label": _time_label(timeline.origin + timeline.bucket * s, timeline)}
             for s in sorted({0, slots // 2, slots})]
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "left": CHART_LEFT, "bottom": CHART_HEIGHT - CHART_BOTTOM,
            "bars": bars, "ticks": ticks, "times": times}


def _time_label(moment: datetime, timeline: llm.Timeline) -> str:
    local = moment.astimezone()
    if timeline.end - timeline.origin > timedelta(days=2):
        return local.strftime("%m-%d %H:%M")
    return local.strftime("%H:%M:%S" if timeline.bucket < timedelta(minutes=1) else "%H:%M")


def llms_data(request: Request, when: Range) -> dict[str, Any]:
    with request.app.state.database.cursor() as cursor:
        models = llm.models(cursor, when.start)
        timeline = llm.timeline(cursor, when.start, when.now)
    return {"since": when.since, "models": models, "totals": totals(models), "timeline": timeline}


def agents_data(request: Request, when: Range, agent: str) -> dict[str, Any]:
    with request.app.state.database.cursor() as cursor:
        agents = llm.agents(cursor, when.start)
        runs = llm.agent_runs(cursor, when.start, agent, RUNS_SHOWN)
    return {"since": when.since, "agent": agent, "agents": agents, "conversations": llm.conversations(runs)}


def agent_rows(request: Request, when: Range, agents: list[dict]) -> list[dict]:
    rows = []
    for row in agents:
        finished = row["succeeded"] + row["failed"]
        rows.append({
            **row,
            "href": _href(request, "agents", {"since": when.since, "agent": row["agent_name"] or ""}),
            "name_text": row["agent_name"] or "unnamed agent",
            "runs_text": count(row["runs"]),
            "conversations_text": count(row["conversations"]),
            "success_text": percent(row["succeeded"], finished),
            "requests_text": "" if row["avg_model_requests"] is None else f"{row['avg_model_requests']:.1f}",
            "input_text": count(row["input_tokens"]),
            "output_text": count(row["output_tokens"]),
            "cost": cost_cell(row),
            "avg_text": "" if row["avg_seconds"] is None else duration(row["avg_seconds"]),
            "p95_text": "" if row["p95_seconds"] is None else duration(row["p95_seconds"]),
        })
    return rows


def conversation_rows(request: Request, conversations: list[dict]) -> list[dict]:
    out = []
    for group in conversations:
        runs = [{
            **run,
            "href": f"{request.url_for('trace', trace_id=run['trace_id']).path}?{urlencode({'span': run['span_id']})}",
            "start_text": timestamp(run["start_timestamp"].astimezone()),
            "status": "running" if run["running"] else "error" if run["failed"] else "ok",
            "duration_text": "running" if run["running"] else duration(run["duration"]),
            "tokens_text": "" if run["input_tokens"] is None and run["output_tokens"] is None else
            f"{run['input_tokens'] or 0:,} in · {run['output_tokens'] or 0:,} out",
            "cost": cost_cell(run),
        } for run in group["runs"]]
        out.append({**group, "runs": runs, "cost_text": money(group["cost_usd"]),
                    "start_text": timestamp(group["first_start"].astimezone())})
    return out


def _href(request: Request, route: str, query: dict[str, str]) -> str:
    query = {key: value for key, value in query.items() if value and not (key == "since" and value == DEFAULT_SINCE)}
    path = request.url_for(route).path
    return f"{path}?{urlencode(query)}" if query else path


def _json(data: dict[str, Any]) -> dict[str, Any]:
    """The API's shape: the timeline as plain values."""
    timeline = data.get("timeline")
    if isinstance(timeline, llm.Timeline):
        data = {**data, "timeline": {"origin": timeline.origin, "end": timeline.end,
                                     "bucket_seconds": timeline.bucket.total_seconds(), "buckets": timeline.buckets}}
    return data


def since_choices(since: str) -> tuple[str, ...]:
    return SINCE_CHOICES if since in SINCE_CHOICES else (since, *SINCE_CHOICES)


def llm_router() -> APIRouter:
    router = APIRouter()

    def page_range(request: Request) -> Range:
        try:
            return parse_range(request)
        except QueryRefused as refused:
            raise PageError(str(refused), status=400) from None

    def api_range(request: Request) -> Range:
        try:
            return parse_range(request)
        except QueryRefused as refused:
            raise ApiError(str(refused), rule=refused.rule) from None

    @router.get("/llms", response_class=HTMLResponse, name="llms")
    def llms_page(request: Request):
        when = page_range(request)
        data = llms_data(request, when)
        return templates.TemplateResponse(request, "llms.html", {
            "since": when.since,
            "since_choices": since_choices(when.since),
            "rows": model_rows(data["models"]),
            "totals": total_row(data["totals"]) if data["models"] else None,
            "cost_chart": chart(data["timeline"], (("cost_usd", "cost"),), money),
            "token_chart": chart(data["timeline"], (("input_tokens", "input"), ("output_tokens", "output")), compact),
            "bucket_text": bucket_text(data["timeline"].bucket),
        })

    @router.get("/api/llms", name="llms_api")
    def llms_api(request: Request) -> dict:
        """Per provider and model over `since`, with totals and cost and tokens per time bucket."""
        return _json(llms_data(request, api_range(request)))

    @router.get("/agents", response_class=HTMLResponse, name="agents")
    def agents_page(request: Request, agent: str = ""):
        when = page_range(request)
        data = agents_data(request, when, agent)
        return templates.TemplateResponse(request, "agents.html", {
            "since": when.since,
            "since_choices": since_choices(when.since),
            "agent": agent,
            "all_agents_href": _href(request, "agents", {"since": when.since}),
            "rows": agent_rows(request, when, data["agents"]),
            "conversations": conversation_rows(request, data["conversations"]),
            "runs_shown": RUNS_SHOWN,
        })

    @router.get("/api/agents", name="agents_api")
    def agents_api(request: Request, agent: str = "") -> dict:
        """Per agent over `since`, and the newest runs (of `agent`, if given) grouped into conversations."""
        return _json(agents_data(request, api_range(request), agent))

    return router
