"""Query benchmark: SQL over 10,000,000 stored spans (issue: SQL on spans). Prints figures; not a test.

    .venv/bin/python bench/queries.py [--spans 10000000] [--db PATH] [--runs 5]

Builds a database of agent-shaped spans directly with DuckDB (an ingest of 10M spans over HTTP
is bench/ingest.py's job), then times the issue's two queries through the same sandbox that
/api/query uses, in process and over HTTP against a real `spyglass serve` on that file.
Targets: under 1 s each.
"""

import argparse
import json
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

from query.database import open_database  # noqa: E402
from query.sandbox import Limits, harden_database, run_query  # noqa: E402

QUERIES = {
    "count and p95 duration by service_name, span_name": """
        SELECT service_name, span_name, count(*) AS spans, quantile_cont(duration, 0.95) AS p95_duration
        FROM records GROUP BY service_name, span_name ORDER BY spans DESC""",
    "cost by model per day": """
        SELECT date_trunc('day', start_timestamp) AS day, gen_ai_model, count(*) AS calls,
               sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd
        FROM records WHERE gen_ai_model IS NOT NULL GROUP BY ALL ORDER BY day, cost_usd DESC""",
}

# 20 spans per trace: invoke_agent, then chat / execute_tool pairs. About 30 days of data.
GENERATE = """
INSERT INTO stored_records BY NAME
SELECT
    ts AS start_timestamp,
    ts + to_microseconds(CAST(dur * 1e6 AS BIGINT)) AS end_timestamp,
    dur AS duration,
    md5(CAST(i // 20 AS VARCHAR)) AS trace_id,
    substr(md5(CAST(i AS VARCHAR)), 1, 16) AS span_id,
    CASE WHEN i % 20 = 0 THEN NULL ELSE substr(md5(CAST(i - i % 20 AS VARCHAR)), 1, 16) END AS parent_span_id,
    'span' AS kind,
    CASE WHEN hash(i) % 100 = 0 THEN 17 ELSE 9 END AS level,
    name AS span_name,
    name AS message,
    json_object('gen_ai.operation.name', op, 'gen_ai.request.model', model,
                'gen_ai.input.messages', CASE WHEN op = 'chat' THEN repeat('user asks about potatoes ', 20 + i % 40) END)
        AS attributes,
    CASE WHEN hash(i) % 100 = 0 THEN 'ERROR' ELSE 'UNSET' END AS otel_status_code,
    CASE WHEN op = 'chat' THEN 'client' ELSE 'internal' END AS otel_span_kind,
    'pydantic-ai' AS otel_scope_name,
    '{}' AS otel_resource_attributes,
    'service-' || CAST((i // 20) % 8 AS VARCHAR) AS service_name,
    false AS is_exception,
    CASE WHEN op = 'chat' THEN 'openai' END AS gen_ai_provider,
    model AS gen_ai_model,
    CASE WHEN op = 'chat' THEN 200 + hash(i) % 3000 END AS input_tokens,
    CASE WHEN op = 'chat' THEN 20 + hash(i + 1) % 500 END AS output_tokens,
    CASE WHEN op = 'chat' THEN (200 + hash(i) % 3000) * 2.5e-6 + (20 + hash(i + 1) % 500) * 1e-5 END AS cost_usd,
    CASE WHEN op = 'chat' THEN 'reported' END AS cost_source,
    ts AS created_at
FROM (
    SELECT i,
           TIMESTAMPTZ '2026-10-01 00:00:00+00' + to_microseconds(i * 260000) AS ts,
           CASE WHEN i % 20 = 0 THEN 'invoke_agent' WHEN i % 2 = 1 THEN 'chat' ELSE 'execute_tool' END AS op,
           CASE WHEN i % 2 = 1 THEN ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5', 'gemini-2.5-flash'][1 + (i // 20) % 4] END
               AS model,
           CASE WHEN i % 20 = 0 THEN 'invoke_agent support_agent'
                WHEN i % 2 = 1 THEN 'chat ' || ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5', 'gemini-2.5-flash'][1 + (i // 20) % 4]
                ELSE 'execute_tool ' || ['search', 'lookup_order', 'refund', 'weather'][1 + i % 4] END AS name,
           CASE WHEN i % 2 = 1 THEN 0.3 + (hash(i) % 4000) / 1000.0 ELSE (hash(i) % 500) / 1000.0 END AS dur
    FROM range($start, $stop) t(i)
)
"""


def build(db: Path, spans: int) -> None:
    connection = open_database(db)
    have = connection.execute("SELECT count(*) FROM stored_records").fetchone()[0]
    if have >= spans:
        print(f"using {db}: {have:,} spans already stored")
        connection.close()
        return
    started = time.perf_counter()
    step = 1_000_000
    for start in range(have, spans, step):
        connection.execute(GENERATE, {"start": start, "stop": min(start + step, spans)})
        print(f"  generated {min(start + step, spans):,} spans", flush=True)
    connection.execute("CHECKPOINT")
    connection.close()
    print(f"built {spans:,} spans in {time.perf_counter() - started:.0f} s; file {db.stat().st_size / 1e9:.2f} GB")


def time_in_process(db: Path, runs: int) -> dict[str, list[float]]:
    connection = open_database(db)
    harden_database(connection, Limits(time_limit_s=60, row_limit=10_000, memory_limit="8GB"))
    timings = {}
    for name, sql in QUERIES.items():
        run_query(connection, sql, Limits(60, 10_000, "8GB"))  # warm the buffer pool once
        timings[name] = [run_query(connection, sql, Limits(60, 10_000, "8GB")).elapsed_ms for _ in range(runs)]
    connection.close()
    return timings


def time_over_http(db: Path, runs: int) -> dict[str, list[float]]:
    server, url = start_server(db, "--query-timeout", "60")
    try:
        timings = {}
        for name, sql in QUERIES.items():
            samples = []
            for attempt in range(runs + 1):
                request = urllib.request.Request(f"{url}/api/query", data=json.dumps({"sql": sql}).encode(),
                                                 headers={"Content-Type": "application/json"})
                started = time.perf_counter()
                with urllib.request.urlopen(request, timeout=120) as response:
                    response.read()
                if attempt:  # the first run warms the cache
                    samples.append((time.perf_counter() - started) * 1000)
            timings[name] = samples
        return timings
    finally:
        server.terminate()
        server.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=10_000_000)
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "spyglass-bench-queries.duckdb")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    build(args.db, args.spans)
    print(f"\nmachine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"{'query':55} {'where':11} {'median ms':>10} {'max ms':>8}  target")
    for where, timings in (("in process", time_in_process(args.db, args.runs)), ("over HTTP", time_over_http(args.db, args.runs))):
        for name, samples in timings.items():
            ok = "ok" if max(samples) < 1000 else "MISSED (1000 ms)"
            print(f"{name:55} {where:11} {statistics.median(samples):10.0f} {max(samples):8.0f}  {ok}")


if __name__ == "__main__":
    main()
