"""Read queries of the Evals pages, over the `eval_experiments` and `eval_cases` views (query/evals.sql).

Bound values only, no user SQL; plain dicts out, with the JSON columns parsed into Python values.
"""

import json
import re

import duckdb

from query.reads import dicts, sql

SPAN_ID = re.compile(r"^[0-9a-f]{16}$")
EXPERIMENT_JSON = ("avg_scores", "avg_metrics", "metadata")
CASE_JSON = ("scores", "inputs", "expected_output", "output", "assertions", "labels", "metrics")


def _parsed(row: dict, keys: tuple[str, ...]) -> dict:
    return {**row, **{key: None if row[key] is None else json.loads(row[key]) for key in keys}}


def experiments(cursor: duckdb.DuckDBPyConnection, limit: int) -> list[dict]:
    """The newest experiment runs, newest first."""
    return [_parsed(row, EXPERIMENT_JSON) for row in dicts(cursor.execute(sql("eval_experiments"), {"limit": limit}))]


def experiment(cursor: duckdb.DuckDBPyConnection, span_id: str) -> dict | None:
    """One experiment run (by its `evaluate` span's id) with its cases; None if unknown."""
    rows = dicts(cursor.execute(sql("eval_experiment_one"), {"span_id": span_id}))
    if not rows:
        return None
    run = _parsed(rows[0], EXPERIMENT_JSON)
    cases = dicts(cursor.execute(sql("eval_experiment_cases"), {"trace_id": run["trace_id"], "span_id": span_id}))
    return {**run, "case_rows": [_parsed(case, CASE_JSON) for case in cases]}


def outcome(case: dict | None) -> str:
    """passed, failed, error, running, unjudged (no assertions) or missing (no such case)."""
    if case is None:
        return "missing"
    if case["error"]:
        return "error"
    if case["running"]:
        return "running"
    if case["passed"] is None:
        return "unjudged"
    return "passed" if case["passed"] else "failed"


def comparison(runs: list[dict]) -> list[dict]:
    """Case names in first-seen order, each with its case per run (None where a run lacks it) and
    whether the outcome differs between the runs."""
    names: dict[str, None] = {}
    for run in runs:
        for case in run["case_rows"]:
            names.setdefault(case["case_name"], None)
    rows = []
    for name in names:
        cases = [next((c for c in run["case_rows"] if c["case_name"] == name), None) for run in runs]
        outcomes = [outcome(case) for case in cases]
        rows.append({"case_name": name, "cases": cases, "outcomes": outcomes, "differs": len(set(outcomes)) > 1})
    return rows
