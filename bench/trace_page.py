"""Trace page benchmark: server time of /trace/{id} with 1,000,000 spans stored. Prints figures; not a test.

    .venv/bin/python bench/trace_page.py [--spans 1000000] [--runs 15]

Builds (or reuses) a database of agent-shaped spans with bench/queries.py's generator, adds one
trace of 10,000 spans (a tree 4 levels deep with a long chain), starts a real `spyglass serve` on
it and times GET /trace/{id} for an ordinary 20-span trace and for the 10,000-span trace.
Targets: the 10k-span trace page under 500 ms.
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server import start_server  # noqa: E402

from bench.queries import build  # noqa: E402
from query.database import open_database  # noqa: E402

BIG_TRACE = "b" * 32
# 10,000 spans: root -> 100 steps -> 9 calls each -> 10 leaves each (some with errors), plus a chain.
BIG_TRACE_SQL = f"""
INSERT INTO stored_records BY NAME
SELECT TIMESTAMPTZ '2026-11-20 12:00:00+00' + to_microseconds(i * 900) AS start_timestamp,
       TIMESTAMPTZ '2026-11-20 12:00:00+00' + to_microseconds(i * 900 + 600) AS end_timestamp,
       0.0006 AS duration,
       '{BIG_TRACE}' AS trace_id,
       printf('%016x', i + 1) AS span_id,
       CASE WHEN i = 0 THEN NULL
            WHEN i <= 100 THEN printf('%016x', 1)
            WHEN i <= 1000 THEN printf('%016x', 2 + (i - 101) // 9)
            ELSE printf('%016x', 102 + (i - 1001) // 10) END AS parent_span_id,
       'span' AS kind,
       CASE WHEN i % 997 = 0 THEN 17 ELSE 9 END AS level,
       'span ' || i AS span_name, 'span ' || i AS message,
       json_object('i', i, 'gen_ai.operation.name', 'chat') AS attributes,
       CASE WHEN i % 997 = 0 THEN 'ERROR' ELSE 'UNSET' END AS otel_status_code,
       'internal' AS otel_span_kind, 'bench' AS otel_scope_name, '{{}}' AS otel_resource_attributes,
       'big-service' AS service_name, false AS is_exception,
       TIMESTAMPTZ '2026-11-20 12:00:00+00' AS created_at
FROM range(10000) t(i)
"""


def timed_get(url: str, runs: int) -> tuple[list[float], int]:
    samples, size = [], 0
    for attempt in range(runs + 1):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as response:
            size = len(response.read())
        if attempt:  # the first request warms DuckDB's buffers
            samples.append((time.perf_counter() - started) * 1000)
    return samples, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "spyglass-bench-pages.duckdb")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    build(args.db, args.spans)
    connection = open_database(args.db)
    if not connection.execute("SELECT count(*) FROM stored_records WHERE trace_id = ?", [BIG_TRACE]).fetchone()[0]:
        connection.execute(BIG_TRACE_SQL)
        connection.execute("CHECKPOINT")
    small_trace = connection.execute(
        "SELECT trace_id FROM stored_records WHERE trace_id <> ? LIMIT 1 OFFSET ?", [BIG_TRACE, args.spans // 2]
    ).fetchone()[0]
    total = connection.execute("SELECT count(*) FROM stored_records").fetchone()[0]
    connection.close()

    server, url = start_server(args.db)
    try:
        print(f"{total:,} records stored; machine: {os.cpu_count()} cores, {platform.machine()}, "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"{'page':44} {'median ms':>10} {'p95 ms':>8} {'bytes':>10}  target")
        for label, path, target in (
            ("trace page, 20-span trace", f"/trace/{small_trace}", None),
            ("trace page, 10,000-span trace", f"/trace/{BIG_TRACE}", 500),
            ("trace JSON, 10,000-span trace", f"/api/trace/{BIG_TRACE}", None),
        ):
            samples, size = timed_get(url + path, args.runs)
            p95 = sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]
            verdict = "" if target is None else ("ok" if p95 < target else f"MISSED ({target} ms)")
            print(f"{label:44} {statistics.median(samples):10.0f} {p95:8.0f} {size:10,}  {verdict}")
    finally:
        server.terminate()
        server.wait(60)


if __name__ == "__main__":
    main()
