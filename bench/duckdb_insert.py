"""What DuckDB alone costs to store agent spans, without HTTP or decoding: the floor under bench/ingest.py.

    .venv/bin/python bench/duckdb_insert.py                       # 2 lanes, 2,048 rows per commit, a stream
    .venv/bin/python bench/duckdb_insert.py --lanes 1 --source table
    .venv/bin/python bench/duckdb_insert.py --row-group-size 2048  # optimistic writes (see docs/performance.md)

Decodes the benchmark's agent traces (bench/agent_traces.py) with the native fast path first,
then inserts them into a fresh database file with the Spyglass schema the way the writer does
(one transaction per commit, `lanes` threads with a cursor each), and prints the CPU and wall time
per span of insert + commit, of the final checkpoint, the WAL and file bytes per span. The timing
loop covers only DuckDB.
"""

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.agent_traces import export_requests  # noqa: E402
from collector.ingest import decode_batch  # noqa: E402
from query.database import stored_records_ddl  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--lanes", type=int, default=2, help="concurrent transactions, one thread each (the writer's lanes)")
    parser.add_argument("--commit-rows", type=int, default=2048, help="rows per commit (a multiple of 512)")
    parser.add_argument("--source", choices=("stream", "table"), default="stream",
                        help="hand DuckDB a RecordBatchReader (as the writer does) or a Table")
    parser.add_argument("--row-group-size", type=int, default=0, help="ATTACH ... (ROW_GROUP_SIZE n); 0: DuckDB's default")
    args = parser.parse_args()

    print(f"Decoding {args.spans:,} agent spans ...", flush=True)
    tables = [decode_batch("traces", body, "protobuf", 0)[0].records for body in export_requests(7, args.spans)]
    per_commit = max(1, args.commit_rows // 512)
    batches = [pa.concat_tables(tables[i:i + per_commit]) for i in range(0, len(tables), per_commit)]
    rows = sum(t.num_rows for t in tables)

    with tempfile.TemporaryDirectory(prefix="spyglass-duckdb-bench-") as temp:
        path = Path(temp) / "bench.duckdb"
        connection = duckdb.connect()
        options = f" (ROW_GROUP_SIZE {args.row_group_size})" if args.row_group_size else ""
        connection.execute(f"ATTACH '{path}' AS bench{options}")
        connection.execute("USE bench")
        connection.execute(stored_records_ddl())
        connection.execute("SET checkpoint_threshold = '100GB'")
        lock = threading.Lock()

        def lane() -> None:
            cursor = connection.cursor()
            cursor.execute("USE bench")
            while True:
                with lock:
                    if not batches:
                        return
                    table = batches.pop(0)
                source = pa.RecordBatchReader.from_batches(table.schema, table.to_batches()) if args.source == "stream" else table
                cursor.begin()
                cursor.register("new_records", source)
                cursor.execute("INSERT INTO stored_records SELECT * FROM new_records")
                cursor.unregister("new_records")
                cursor.commit()

        wall, cpu = time.perf_counter(), time.process_time()
        threads = [threading.Thread(target=lane) for _ in range(args.lanes)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        wal = path.with_name(path.name + ".wal")
        wal_bytes = wal.stat().st_size if wal.exists() else 0
        checkpoint_wall, checkpoint_cpu = time.perf_counter(), time.process_time()
        connection.execute("CHECKPOINT")
        checkpoint_wall, checkpoint_cpu = time.perf_counter() - checkpoint_wall, time.process_time() - checkpoint_cpu
        file_bytes = path.stat().st_size
        connection.close()

    us = 1e6 / rows
    print(f"{rows:,} spans, {args.lanes} lane(s), {args.commit_rows} rows per commit, {args.source}, "
          f"row group size {args.row_group_size or 'default'}; load average {os.getloadavg()[0]:.2f}")
    print(f"  insert + commit: {cpu * us:.1f} us CPU per span, {wall * us:.1f} us wall ({rows / wall:,.0f} spans/s)")
    print(f"  checkpoint:      {checkpoint_cpu * us:.1f} us CPU per span, {checkpoint_wall * us:.1f} us wall")
    print(f"  WAL {wal_bytes / rows:,.0f} bytes per span before the checkpoint; file {file_bytes / rows:,.0f} bytes per span")
    return 0


if __name__ == "__main__":
    sys.exit(main())
