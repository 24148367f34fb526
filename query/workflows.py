"""Read queries of the workflow pages, over the `workflows`, `workflow_steps` and `workflow_spans`
views (query/workflows.sql). Bound values only, no user SQL; plain dicts out."""

import duckdb

from query.reads import dicts, sql

ENGINES = ("temporal", "dbos", "prefect")
STATUSES = ("completed", "failed", "running")


def workflow_list(cursor: duckdb.DuckDBPyConnection, engine: str | None, status: str | None, children: bool,
                  limit: int) -> list[dict]:
    """The newest workflows; child workflows (started by another's code) only when `children`."""
    return dicts(cursor.execute(sql("workflow_list"),
                                {"engine": engine, "status": status, "children": children, "limit": limit}))


def workflow(cursor: duckdb.DuckDBPyConnection, engine: str, workflow_id: str) -> dict | None:
    """The workflow's summary, its worker processes, its step attempts and its traces (with its
    child workflows'); None if unknown."""
    keys = {"engine": engine, "workflow_id": workflow_id}
    rows = dicts(cursor.execute(sql("workflow_one"), keys))
    if not rows:
        return None
    family = sql("workflow_family")
    return {
        **rows[0],
        "process_rows": dicts(cursor.execute(sql("workflow_processes").replace("{family}", family), keys)),
        "steps": dicts(cursor.execute(sql("workflow_step_rows").replace("{family}", family), keys)),
        "trace_rows": dicts(cursor.execute(sql("workflow_traces").replace("{family}", family), keys)),
    }
