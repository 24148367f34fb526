"""Read queries of the LLMs and Agents pages, over the `llm_calls` view (query/schema.sql).

Each function takes a cursor and bound values only (no user SQL) and returns plain dicts, which the
pages render and /api/llms and /api/agents return as they are.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from query.reads import dicts, sql

CHART_BUCKETS = 48
# Bucket widths the chart may use, so that its time axis falls on round times.
BUCKET_STEPS = tuple(timedelta(seconds=s) for s in (
    1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400, 30 * 86400))


@dataclass(frozen=True)
class Timeline:
    """Cost and tokens per time bucket, oldest first; buckets without calls are left out."""

    origin: datetime | None  # start of the first bucket; None when there are no calls
    end: datetime
    bucket: timedelta
    buckets: list[dict]


def models(cursor: duckdb.DuckDBPyConnection, since: datetime | None) -> list[dict]:
    """Per provider and model: calls, errors, latency percentiles, tokens, cost, tool calls."""
    return dicts(cursor.execute(sql("llm_models"), {"since": since}))


def bucket_width(span: timedelta, buckets: int = CHART_BUCKETS) -> timedelta:
    """The smallest round step that covers `span` in at most `buckets` buckets."""
    for step in BUCKET_STEPS:
        if span <= step * buckets:
            return step
    return BUCKET_STEPS[-1] * (span // (BUCKET_STEPS[-1] * buckets) + 1)


def timeline(cursor: duckdb.DuckDBPyConnection, since: datetime | None, now: datetime) -> Timeline:
    """Cost and tokens over time, from `since` (or the first call, for all time) to `now`."""
    origin = since
    if origin is None:
        origin = cursor.execute(sql("llm_first_call"), {"since": None}).fetchone()[0]
        if origin is None:
            return Timeline(None, now, BUCKET_STEPS[0], [])
    bucket = bucket_width(max(now - origin, timedelta(seconds=1)))
    origin = _floor(origin, bucket)
    rows = dicts(cursor.execute(sql("llm_timeline"), {
        "origin": origin, "bucket_us": bucket // timedelta(microseconds=1)}))
    return Timeline(origin, now, bucket, rows)


def _floor(moment: datetime, step: timedelta) -> datetime:
    """`moment` rounded down to a multiple of `step` since the epoch (round times on the axis)."""
    epoch = datetime(1970, 1, 1, tzinfo=moment.tzinfo)
    return epoch + (moment - epoch) // step * step


def _runs_sql(name: str) -> str:
    # llm_runs.sql is trusted text from this package; nothing the user typed is composed here.
    return sql(name).format(runs=sql("llm_runs"))


def agents(cursor: duckdb.DuckDBPyConnection, since: datetime | None) -> list[dict]:
    """Per agent: runs, how many succeeded, failed or still run, model requests per run, tokens, cost, latency."""
    return dicts(cursor.execute(_runs_sql("llm_agents"), {"since": since}))


def agent_runs(cursor: duckdb.DuckDBPyConnection, since: datetime | None, agent: str = "", limit: int = 200) -> list[dict]:
    """The newest runs (of one agent, or of all when `agent` is ''), with their calls' totals."""
    return dicts(cursor.execute(_runs_sql("llm_agent_runs"), {"since": since, "agent": agent, "limit": limit}))


def conversations(runs: list[dict]) -> list[dict]:
    """Runs grouped by `gen_ai.conversation.id`, newest conversation first, runs oldest first within one.

    A run without a conversation id is a conversation of its own.
    """
    groups: dict[str, dict] = {}
    for run in runs:  # newest first
        key = run["conversation_id"] or f"run:{run['trace_id']}:{run['span_id']}"
        group = groups.setdefault(key, {"conversation_id": run["conversation_id"], "agent_name": run["agent_name"],
                                        "last_start": run["start_timestamp"], "runs": []})
        group["runs"].append(run)
    for group in groups.values():
        group["runs"].reverse()
        group["first_start"] = group["runs"][0]["start_timestamp"]
        group["cost_usd"] = _sum(run["cost_usd"] for run in group["runs"])
        group["input_tokens"] = _sum(run["input_tokens"] for run in group["runs"])
        group["output_tokens"] = _sum(run["output_tokens"] for run in group["runs"])
    return list(groups.values())


def _sum(values) -> float | int | None:
    present = [value for value in values if value is not None]
    return sum(present) if present else None
