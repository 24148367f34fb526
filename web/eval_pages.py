"""The Evals pages: the list of pydantic-evals experiment runs, one experiment's cases (inputs,
expected and actual output, assertions, scores, labels, duration, cost, a link to the case's trace)
and a side-by-side comparison of two or more runs, with their JSON twins under /api/evals.

Everything is read from the `eval_experiments` and `eval_cases` views through query/evals.py; values
are formatted here, the templates only print them. An experiment is named in URLs by the span id of
its `evaluate {name}` span.
"""

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from query import evals
from web.api import ApiError
from web.formatting import duration, timestamp
from web.llm_pages import money
from web.pages import PageError, templates

LIST_LIMIT = 500
TEXT_LIMIT = 240  # characters of an input or output shown in a table cell; the rest is in the title
OUTCOME_TEXT = {"passed": "passed", "failed": "failed", "error": "error", "running": "running",
                "unjudged": "no assertions", "missing": "not run"}


def trace_href(request: Request, trace_id: str, span_id: str) -> str:
    return f"{request.url_for('trace', trace_id=trace_id).path}?{urlencode({'span': span_id})}"


def _span_id(value: str, error) -> str:
    span_id = value.strip().lower()
    if not evals.SPAN_ID.match(span_id):
        raise error(f"an experiment is the 16-hex-character span id of its `evaluate` span, got {value!r}")
    return span_id


def value_text(value: Any) -> str:
    """A case's input or output as one line: strings as they are, anything else as compact JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "), default=str)


def _short(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT - 1] + "…"


def number_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value_text(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def percent_text(rate: float | None) -> str:
    return "" if rate is None else f"{100 * rate:.0f}%"


def results(values: dict | None) -> list[dict]:
    """pydantic-evals' evaluator results ({name: {value, reason, ...}}) as rows to print."""
    return [{"name": name, "value": result.get("value"), "value_text": number_text(result.get("value")),
             "reason": result.get("reason") or ""} for name, result in (values or {}).items()]


def experiment_row(request: Request, run: dict) -> dict:
    return {
        **run,
        "href": request.url_for("eval_experiment", experiment_id=run["span_id"]).path,
        "trace_href": trace_href(request, run["trace_id"], run["span_id"]),
        "start_text": timestamp(run["started_at"].astimezone()),
        "duration_text": "running" if run["running"] else duration(run["duration"]),
        "pass_text": percent_text(run["pass_rate"]),
        "scores_text": ", ".join(f"{name} {number_text(value)}" for name, value in (run["avg_scores"] or {}).items()),
        "requests_text": "" if run["avg_model_requests"] is None else f"{run['avg_model_requests']:.1f}",
        "cost_text": money(run["cost_usd"]),
        "cost_per_case_text": money(run["cost_per_case"]),
        "avg_duration_text": "" if run["avg_duration"] is None else duration(run["avg_duration"]),
    }


def case_row(request: Request, case: dict) -> dict:
    inputs, expected, output = (value_text(case[key]) for key in ("inputs", "expected_output", "output"))
    return {
        **case,
        "outcome": evals.outcome(case),
        "outcome_text": OUTCOME_TEXT[evals.outcome(case)],
        "href": trace_href(request, case["trace_id"], case["span_id"]),
        "inputs_text": _short(inputs), "inputs_title": inputs,
        "expected_text": _short(expected), "expected_title": expected,
        "output_text": _short(output), "output_title": output,
        "assertion_rows": results(case["assertions"]),
        "score_rows": results(case["scores"]),
        "label_rows": results(case["labels"]),
        "duration_text": "running" if case["duration"] is None else duration(case["duration"]),
        "cost_text": money(case["cost_usd"]),
    }


def compare_table(runs: list[dict]) -> list[dict]:
    """The comparison's rows: one measure each, one cell per run, the best cell marked."""
    score_names = list(dict.fromkeys(name for run in runs for name in (run["avg_scores"] or {})))

    def row(label: str, values: list, text, best=None, title: str = "") -> dict:
        present = [v for v in values if v is not None]
        target = None if not present or best is None or len(set(present)) == 1 else best(present)
        return {"label": label, "title": title, "cells": [
            {"text": "" if v is None else text(v), "best": v is not None and v == target} for v in values]}

    rows = [
        row("Model", [run["model"] for run in runs], str),
        row("Cases", [run["cases"] for run in runs], str),
        row("Pass rate", [run["pass_rate"] for run in runs], percent_text, max,
            "cases whose assertions all held, without an error"),
        *[row(f"Avg score: {name}", [(run["avg_scores"] or {}).get(name) for run in runs], number_text,
              title="the average over the cases; which way is better depends on the score") for name in score_names],
        row("Model requests / case", [run["avg_model_requests"] for run in runs], lambda v: f"{v:.1f}", min),
        row("Cost / case", [run["cost_per_case"] for run in runs], money, min,
            "every model call under the case span, from llm_calls.cost_usd"),
        row("Total cost", [run["cost_usd"] for run in runs], money, min),
        row("Avg duration", [run["avg_duration"] for run in runs], duration, min),
    ]
    return rows


def differing_rows(request: Request, runs: list[dict]) -> list[dict]:
    out = []
    for entry in evals.comparison(runs):
        if not entry["differs"]:
            continue
        cells = []
        for case, outcome in zip(entry["cases"], entry["outcomes"]):
            cells.append({
                "outcome": outcome, "outcome_text": OUTCOME_TEXT[outcome],
                "href": None if case is None else trace_href(request, case["trace_id"], case["span_id"]),
                "scores_text": "" if case is None else ", ".join(
                    f"{r['name']} {r['value_text']}" for r in results(case["scores"])),
                "cost_text": "" if case is None else money(case["cost_usd"]),
            })
        out.append({"case_name": entry["case_name"], "cells": cells})
    return out


def eval_router() -> APIRouter:
    router = APIRouter()

    def page_error(message: str, status: int = 400) -> PageError:
        return PageError(message, status=status)

    def load(request: Request, experiment_id: str, error) -> dict:
        span_id = _span_id(experiment_id, error)
        with request.app.state.database.cursor() as cursor:
            run = evals.experiment(cursor, span_id)
        if run is None:
            raise error(f"no experiment with span id {span_id!r}: its `evaluate` span may not have arrived yet",
                        status=404)
        return run

    def load_compared(request: Request, error) -> list[dict]:
        ids = [value for value in request.query_params.getlist("experiment") if value.strip()]
        ids = list(dict.fromkeys(_span_id(value, error) for value in ids))
        if len(ids) < 2:
            raise error(f"compare needs at least two different experiments (?experiment=<span id>&experiment=<span id>), "
                        f"got {len(ids)}")
        return [load(request, span_id, error) for span_id in ids]

    @router.get("/evals", response_class=HTMLResponse, name="evals")
    def evals_page(request: Request):
        with request.app.state.database.cursor() as cursor:
            runs = evals.experiments(cursor, LIST_LIMIT)
        return templates.TemplateResponse(request, "evals.html", {
            "rows": [experiment_row(request, run) for run in runs], "limit": LIST_LIMIT})

    @router.get("/api/evals", name="evals_api")
    def evals_api(request: Request) -> dict:
        """The newest experiment runs (rows of the `eval_experiments` view)."""
        with request.app.state.database.cursor() as cursor:
            return {"experiments": evals.experiments(cursor, LIST_LIMIT)}

    @router.get("/evals/compare", response_class=HTMLResponse, name="eval_compare")
    def compare_page(request: Request):
        runs = load_compared(request, page_error)
        return templates.TemplateResponse(request, "eval_compare.html", {
            "runs": [experiment_row(request, run) for run in runs],
            "measures": compare_table(runs),
            "differing": differing_rows(request, runs),
            "total_cases": len(evals.comparison(runs)),
        })

    @router.get("/api/evals/compare", name="eval_compare_api")
    def compare_api(request: Request) -> dict:
        """Two or more experiment runs with their cases, and per case name the outcome in each run."""
        runs = load_compared(request, ApiError)
        return {"experiments": runs, "cases": [
            {"case_name": e["case_name"], "outcomes": e["outcomes"], "differs": e["differs"]}
            for e in evals.comparison(runs)]}

    @router.get("/evals/{experiment_id}", response_class=HTMLResponse, name="eval_experiment")
    def experiment_page(request: Request, experiment_id: str):
        run = load(request, experiment_id, page_error)
        return templates.TemplateResponse(request, "eval_experiment.html", {
            "run": experiment_row(request, run), "cases": [case_row(request, case) for case in run["case_rows"]],
            "list_href": request.url_for("evals").path})

    @router.get("/api/evals/{experiment_id}", name="eval_experiment_api")
    def experiment_api(request: Request, experiment_id: str) -> dict:
        """One experiment run (its `eval_experiments` row) with its `eval_cases` rows."""
        return load(request, experiment_id, ApiError)

    return router
