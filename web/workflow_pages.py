"""The workflows page (durable workflows of Temporal, DBOS and Prefect, filterable by engine and
status) and the workflow page (one lane per worker process, every step attempt with its status, the
crash point, the recovery, what restoring saved, both costs), with their JSON twins.

Everything is read from the workflow views through query/workflows.py; the timeline's geometry is
computed here (percentages of the workflow's time span), the templates only print it.
"""

from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from query import workflows
from web.api import ApiError
from web.formatting import duration, timestamp
from web.llm_pages import money
from web.pages import PageError, templates

LIST_LIMIT = 500
STEP_STATUSES = ("executed", "restored", "retried", "failed", "interrupted", "running")
MIN_BAR_PERCENT = 0.4  # a step shorter than this still shows as a sliver


def _filter(request: Request, name: str, allowed: tuple[str, ...], error) -> str | None:
    value = request.query_params.get(name, "").strip().lower()
    if not value:
        return None
    if value not in allowed:
        raise error(f"{name} must be one of {', '.join(allowed)} (or left out for all), not {value!r}")
    return value


def workflow_href(request: Request, engine: str, workflow_id: str) -> str:
    return request.url_for("workflow", engine=engine, workflow_id=workflow_id).path


def trace_href(request: Request, trace_id: str | None, span_id: str | None = None) -> str | None:
    if not trace_id:
        return None
    path = request.url_for("trace", trace_id=trace_id).path
    return f"{path}?{urlencode({'span': span_id})}" if span_id else path


def list_rows(request: Request, rows: list[dict]) -> list[dict]:
    return [{
        **row,
        "href": workflow_href(request, row["engine"], row["workflow_id"]),
        "start_text": timestamp(row["started_at"].astimezone()),
        "duration_text": "" if row["duration"] is None else duration(row["duration"]),
        "naive_text": money(row["naive_cost_usd"]),
        "true_text": money(row["true_cost_usd"]),
    } for row in rows]


def _moment(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(timezone.utc)


def _end(step: dict) -> datetime | None:
    if step["duration"] is None:
        return None
    return _moment(step["started_at"]) + timedelta(seconds=step["duration"])


def timeline(view: dict, now: datetime) -> dict[str, Any]:
    """Lanes (one per process, in order of appearance) with positioned step bars, the crash points
    (a process last heard from while the workflow went on in a later one) and the recoveries."""
    processes = view["process_rows"]
    steps = view["steps"]
    moments = [_moment(p["first_seen"]) for p in processes] + [_moment(p["last_seen"]) for p in processes]
    moments += [_moment(s["started_at"]) for s in steps] + [_end(s) for s in steps if _end(s)]
    moments = [m for m in moments if m is not None]
    if not moments:  # started by a client, no worker has picked it up yet
        return {"lanes": [], "start_text": "", "span_text": "no worker yet"}
    start, end = min(moments), max(moments)
    if view["status"] == "running":
        end = max(end, now)
    total = max((end - start).total_seconds(), 1e-6)

    def percent(moment: datetime) -> float:
        return round(100 * (_moment(moment) - start).total_seconds() / total, 3)

    lanes = []
    for index, process in enumerate(processes):
        later = processes[index + 1] if index + 1 < len(processes) else None
        lane_steps = [s for s in steps if s["process"] == process["process"]]
        interrupted = [s for s in lane_steps if s["status"] == "interrupted"]
        crashed = bool(interrupted) or (view["recoveries"] > 0 and later is not None and process["ran_workflow_code"]
                                        and _moment(later["first_seen"]) >= _moment(process["last_seen"]))
        bars = []
        for step in _grouped(lane_steps):
            left = percent(step["started_at"])
            finish = _end(step)
            if finish is None:  # still running, or never finished: up to the recovery or now
                finish = _moment(later["first_seen"]) if later is not None and step["status"] == "interrupted" else end
            width = max(percent(finish) - left, MIN_BAR_PERCENT)
            bars.append({
                "left": left, "width": round(min(width, 100 - left) if left < 100 else MIN_BAR_PERCENT, 3),
                "status": step["status"], "name": step["step_name"] or "",
                "title": f"{step['step_name']} · {step['status']}"
                         + (f" · attempt {step['attempt']}" if step["attempt"] else "")
                         + (f" · {duration(step['duration'])}" if step["duration"] is not None else "")
                         + (f" · {step['error']}" if step["error"] else ""),
            })
        lane = {"process": process["process"], "bars": bars,
                "first_text": timestamp(process["first_seen"].astimezone()),
                "last_text": timestamp(process["last_seen"].astimezone())}
        if crashed:
            lane["crash"] = {"left": percent(process["last_seen"]),
                             "title": f"crash point: last heard from {process['process']} at {lane['last_text']}"
                                      + (f", while {interrupted[0]['step_name']} was running" if interrupted else "")}
        if index > 0 and view["recoveries"] > 0 and process["ran_workflow_code"]:
            lane["recovery"] = {"left": percent(process["first_seen"]),
                                "title": f"recovered by {process['process']} at {lane['first_text']}"}
        lanes.append(lane)
    return {"lanes": lanes, "start_text": timestamp(start.astimezone()), "span_text": duration(total)}


def _grouped(steps: list[dict]) -> list[dict]:
    """Steps without a duration that share a start and status (the steps a Temporal worker restored
    when it replayed the history) as one bar named by their count."""
    out: list[dict] = []
    for step in steps:
        last = out[-1] if out else None
        if (last is not None and step["duration"] is None and last["duration"] is None
                and step["status"] == last["status"] and step["started_at"] == last["started_at"]):
            count = last.get("count", 1) + 1
            out[-1] = {**last, "count": count, "step_name": f"{count} steps", "error": None, "attempt": None}
        else:
            out.append(step)
    return out


def step_rows(request: Request, steps: list[dict]) -> list[dict]:
    return [{
        **step,
        "position_text": "" if step["step_position"] is None else str(step["step_position"]),
        "attempt_text": "" if step["attempt"] is None else str(step["attempt"]),
        "start_text": timestamp(step["started_at"].astimezone()),
        "duration_text": "" if step["duration"] is None else duration(step["duration"]),
        "saved_text": "" if step["saved_seconds"] is None else duration(step["saved_seconds"]),
        "href": trace_href(request, step["trace_id"], step["span_id"]),
    } for step in steps]


def summary(view: dict) -> dict[str, str]:
    naive, true = view["naive_cost_usd"], view["true_cost_usd"]
    return {
        "duration_text": "running" if view["duration"] is None else duration(view["duration"]),
        "saved_time_text": duration(view["saved_seconds"]) if view["saved_seconds"] else "0 s",
        "naive_text": money(naive) or "no priced calls",
        "true_text": money(true) or "no priced calls",
        "saved_cost_text": money(naive - true) if naive is not None and true is not None else "",
    }


def workflow_router() -> APIRouter:
    router = APIRouter()

    def load(request: Request, engine: str, workflow_id: str, error) -> dict:
        if engine not in workflows.ENGINES:
            raise error(f"engine must be one of {', '.join(workflows.ENGINES)}, not {engine!r}")
        with request.app.state.database.cursor() as cursor:
            view = workflows.workflow(cursor, engine, workflow_id)
        if view is None:
            raise error(f"no {engine} workflow with id {workflow_id!r}: its spans may not have arrived yet", status=404)
        return view

    def list_data(request: Request, error) -> dict:
        engine = _filter(request, "engine", workflows.ENGINES, error)
        status = _filter(request, "status", workflows.STATUSES, error)
        children = _filter(request, "children", ("0", "1"), error) == "1"
        with request.app.state.database.cursor() as cursor:
            rows = workflows.workflow_list(cursor, engine, status, children, LIST_LIMIT)
        return {"engine": engine, "status": status, "children": children, "workflows": rows}

    @router.get("/workflows", response_class=HTMLResponse, name="workflows")
    def workflows_page(request: Request):
        data = list_data(request, lambda message: PageError(message, status=400))
        return templates.TemplateResponse(request, "workflows.html", {
            **data, "engines": workflows.ENGINES, "statuses": workflows.STATUSES, "limit": LIST_LIMIT,
            "rows": list_rows(request, data["workflows"]),
        })

    @router.get("/api/workflows", name="workflows_api")
    def workflows_api(request: Request) -> dict:
        """The newest workflows (rows of the `workflows` view), optionally by engine and status."""
        return list_data(request, ApiError)

    @router.get("/workflows/{engine}/{workflow_id:path}", response_class=HTMLResponse, name="workflow")
    def workflow_page(request: Request, engine: str, workflow_id: str):
        view = load(request, engine, workflow_id, lambda message, status=400: PageError(message, status=status))
        return templates.TemplateResponse(request, "workflow.html", {
            "w": view, "summary": summary(view), "timeline": timeline(view, datetime.now(timezone.utc)),
            "steps": step_rows(request, view["steps"]), "statuses": STEP_STATUSES,
            "traces": [{"href": trace_href(request, row["trace_id"]), "trace_id": row["trace_id"],
                        "start_text": timestamp(row["first_seen"].astimezone())} for row in view["trace_rows"]],
            "list_href": f"{request.url_for('workflows').path}?{urlencode({'engine': engine})}",
        })

    @router.get("/api/workflows/{engine}/{workflow_id:path}", name="workflow_api")
    def workflow_api(request: Request, engine: str, workflow_id: str) -> dict:
        """One workflow: its `workflows` row, its processes and its `workflow_steps` rows."""
        return load(request, engine, workflow_id, lambda message, status=400: ApiError(message, status=status))

    return router
