"""Workflow views benchmark: the workflows list, one workflow page and true cost, on a database holding
many durable workflows among many other spans. Prints figures; not a test.

    .venv/bin/python bench/workflows.py [--spans 1000000] [--copies 200] [--runs 5]

The workflows are the twelve runs captured from real DBOS and Temporal workers in
tests/fixtures/workflows/ (complete, retry and crash, plain OTel and logfire), copied `--copies` times
with new trace and workflow ids; the other spans are bench/queries.py's agent-shaped spans.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.queries import GENERATE  # noqa: E402
from query import workflows  # noqa: E402
from query.database import open_database  # noqa: E402
from tests.query.workflow_records import load  # noqa: E402

RUNS = [f"{engine}_{scenario}_{telemetry}" for engine in ("dbos", "temporal")
        for scenario in ("complete", "retry", "crash") for telemetry in ("otel", "logfire")]

COPY = """
INSERT INTO {table}
SELECT * REPLACE (
    md5(trace_id || '{k}') AS trace_id,
    CAST(replace(CAST(attributes AS VARCHAR), 'research-', 'copy{k}-research-') AS JSON) AS attributes,
    start_timestamp - INTERVAL {k} MINUTE AS start_timestamp,
    end_timestamp - INTERVAL {k} MINUTE AS end_timestamp)
FROM {table} WHERE trace_id IN (SELECT trace_id FROM originals)
"""


def build(path: Path, spans: int, copies: int) -> None:
    connection = load(path, *RUNS)
    connection.execute("CREATE TEMP TABLE originals AS SELECT DISTINCT trace_id FROM records")
    for k in range(1, copies):
        for table in ("stored_records", "open_pending_spans"):
            connection.execute(COPY.format(table=table, k=k))
    for start in range(0, spans, 1_000_000):
        connection.execute(GENERATE, {"start": start, "stop": min(start + 1_000_000, spans)})
    connection.execute("CHECKPOINT")
    connection.close()


def timed(function, runs: int) -> tuple[float, object]:
    seconds, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--copies", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        started = time.perf_counter()
        build(path, args.spans, args.copies)
        connection = open_database(path)
        records, = connection.execute("SELECT count(*) FROM records").fetchone()
        print(f"database: {records:,} records, {args.copies * len(RUNS):,} workflow runs "
              f"(built in {time.perf_counter() - started:.1f} s)")
        cursor = connection.cursor()
        one_id, = cursor.execute("SELECT workflow_id FROM workflow_spans WHERE engine = 'dbos' AND role = 'workflow' "
                                 "AND workflow_id NOT LIKE '%-2%' LIMIT 1").fetchone()
        figures = {
            "SELECT count(*) FROM workflows": lambda: cursor.execute("SELECT count(*) FROM workflows").fetchone()[0],
            "SELECT count(*) FROM workflow_steps": lambda: cursor.execute("SELECT count(*) FROM workflow_steps").fetchone()[0],
            "workflows list (top-level, newest 500)": lambda: len(workflows.workflow_list(cursor, None, None, False, 500)),
            "one workflow page (row, processes, steps)": lambda: len(workflows.workflow(cursor, "dbos", one_id)["steps"]),
            "true vs naive cost, all workflows": lambda: cursor.execute(
                "SELECT sum(true_cost_usd), sum(naive_cost_usd) FROM workflows").fetchone(),
        }
        for name, function in figures.items():
            seconds, result = timed(function, args.runs)
            print(f"{name}: {seconds * 1000:.0f} ms (median of {args.runs}) -> {result}")


if __name__ == "__main__":
    main()
