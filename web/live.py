"""The live view (home page): newest traces first, updating while spans arrive.

Filters live in the URL (`where`, `service`, `errors=1`, `since`, `page`), so a view can be
shared and a reload keeps it. The first page updates itself by polling GET /live/rows with the
same parameters every two seconds (web/static/live.js; docs/ui.md says why polling and not
server-sent events). A refused filter is shown next to the filter box, on a normal page.
"""

import math
import re
import zlib
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from query import live
from query.sandbox import QueryRefused
from web.pages import templates

PAGE_SIZE = 50
POLL_SECONDS = 2
SINCE_CHOICES = ("5m", "15m", "1h", "6h", "24h", "7d", "30d", "all")
_SINCE = re.compile(r"^(\d{1,6})([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class LiveParams:
    """The live view's URL parameters, as given (so they can be written back into links)."""

    where: str = ""
    service: str = ""
    errors: bool = False
    since: str = "all"
    page: int = 1

    def query(self, page: int | None = None) -> dict[str, str]:
        """The non-default parameters, for a URL; `page` replaces the current page."""
        page = self.page if page is None else page
        values = {"where": self.where.strip(), "service": self.service, "errors": "1" if self.errors else "",
                  "since": "" if self.since == "all" else self.since, "page": "" if page == 1 else str(page)}
        return {key: value for key, value in values.items() if value}


def parse_params(params) -> LiveParams:
    page = params.get("page", "1")
    return LiveParams(
        where=params.get("where", ""),
        service=params.get("service", ""),
        errors=params.get("errors", "") in ("1", "true", "on"),
        since=params.get("since", "").strip() or "all",
        page=int(page) if page.isdigit() and 0 < int(page) < 1_000_000 else 1,
    )


def since_delta(since: str) -> timedelta | None:
    """'15m' -> 15 minutes, 'all' -> None. Raises QueryRefused for anything else."""
    if since == "all":
        return None
    match = _SINCE.match(since)
    if not match:
        raise QueryRefused("invalid time range", f"since must be a number and a unit (s, m, h, d or w) such as "
                           f"15m, 1h or 7d, or all; got {since!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def load_page(request: Request, params: LiveParams) -> tuple[live.TracePage | None, str | None]:
    """The page of traces for the parameters, or the refusal's message."""
    try:
        trace_filter = live.TraceFilter(params.where, params.service, params.errors, since_delta(params.since))
        page = live.trace_page(request.app.state.database, trace_filter, request.app.state.settings.query_limits,
                               PAGE_SIZE, (params.page - 1) * PAGE_SIZE)
    except QueryRefused as refused:
        return None, str(refused)
    return page, None


def _href(request: Request, route: str, query: dict[str, str]) -> str:
    path = request.url_for(route).path
    return f"{path}?{urlencode(query)}" if query else path


def _compact(number: int) -> str:
    if number < 1000:
        return str(number)
    if number < 1_000_000:
        return f"{number / 1000:.1f}k"
    return f"{number / 1_000_000:.1f}M"


def _money(value: float) -> str:
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def trace_rows(request: Request, traces: list[dict]) -> list[dict]:
    """What a row shows, computed here so the template only prints: link, colours, widths, totals."""
    longest = max((t["duration"] or 0 for t in traces), default=0)
    rows = []
    for trace in traces:
        duration = trace["duration"]
        rows.append({
            **trace,
            "href": request.url_for("trace", trace_id=trace["trace_id"]).path,
            "service_hue": zlib.crc32((trace["service_name"] or "").encode()) % 360,
            # square-root scale: differences stay visible, one slow trace does not flatten the rest
            "bar_percent": 0 if not duration or duration <= 0 or not longest
            else max(2, round(100 * math.sqrt(duration / longest))),
            "status": "error" if trace["error_count"] else "running" if trace["running"] else "ok",
            "tokens": None if trace["input_tokens"] is None and trace["output_tokens"] is None else
            f"{_compact(trace['input_tokens'] or 0)} in · {_compact(trace['output_tokens'] or 0)} out",
            "tokens_title": f"{trace['input_tokens'] or 0:,} input tokens, {trace['output_tokens'] or 0:,} output tokens",
            "cost": None if trace["cost_usd"] is None else _money(trace["cost_usd"]),
        })
    return rows


def results_context(request: Request, params: LiveParams, page: live.TracePage | None) -> dict:
    """Everything _live_results.html needs: rows, the visible total and the pager."""
    if page is None:
        return {"rows": [], "total": None}
    first = page.offset + 1
    last = page.offset + len(page.traces)
    rows = trace_rows(request, page.traces)
    return {
        "rows": rows,
        # LLM columns only once some trace on the page has model calls
        "show_tokens": any(row["tokens"] for row in rows),
        "show_cost": any(row["cost"] for row in rows),
        "total": page.total,
        "total_text": f"{page.total:,}",
        "unfiltered": params.query(1) == {},
        "first": first,
        "last": last,
        "page_number": params.page,
        "newer_href": _href(request, "home", params.query(params.page - 1)) if params.page > 1 else None,
        "older_href": _href(request, "home", params.query(params.page + 1)) if last < page.total else None,
        "first_href": _href(request, "home", params.query(1)) if params.page > 1 else None,
    }


def live_router() -> APIRouter:
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse, name="home")
    def home(request: Request):
        params = parse_params(request.query_params)
        with request.app.state.database.cursor() as cursor:
            # the version before the page: a write in between makes the first poll fetch again
            version = live.data_version(cursor)
            services = live.services(cursor)
        page, error = load_page(request, params)
        if params.service and params.service not in services:
            services = [params.service, *services]
        since_choices = SINCE_CHOICES if params.since in SINCE_CHOICES else (params.since, *SINCE_CHOICES)
        return templates.TemplateResponse(request, "home.html", {
            "params": params,
            "error": error,
            "services": services,
            "since_choices": since_choices,
            # Only the first page follows new traces; older pages stay put while you read them.
            "live": error is None and params.page == 1,
            "rows_href": _href(request, "live_rows", params.query(1)),
            "clear_where_href": _href(request, "home", {k: v for k, v in params.query(1).items() if k != "where"}),
            "version": version,
            "poll_ms": POLL_SECONDS * 1000,
            **results_context(request, params, page),
        })

    @router.get("/live/rows", response_class=HTMLResponse, name="live_rows")
    def rows(request: Request, v: str = ""):
        """The results part of the live view for the same parameters (what live.js polls).

        Answers 204 while nothing was stored since version `v`, unless the view has a time range
        (whose window moves even when no data arrives).
        """
        params = parse_params(request.query_params)
        with request.app.state.database.cursor() as cursor:
            version = live.data_version(cursor)
        headers = {"X-Spyglass-Version": version, "Cache-Control": "no-store"}
        if v == version and params.since == "all":
            return Response(status_code=204, headers=headers)
        page, error = load_page(request, params)
        return templates.TemplateResponse(
            request, "_live_results.html", {"poll_error": error, **results_context(request, params, page)},
            headers={**headers, "X-Spyglass-Total": "" if page is None else str(page.total)},
        )

    return router
