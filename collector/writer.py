"""The one writer: batches many export requests into one columnar insert and one commit.

Receivers call `await writer.write(...)`; it returns only after the request's rows are committed,
so an acknowledged export survives a kill -9 (DuckDB syncs its WAL on commit). While a commit is
running, new requests queue up and go into the next commit together. The queue is bounded in
rows: past the bound, `write` raises Overloaded and the receiver answers 503 + Retry-After, which
exporters retry. On shutdown the queue is drained, never dropped.

Two commits can run at once, each on its own thread and cursor (`lanes`): DuckDB appends of two
transactions to one table do not conflict, and one commit's insert overlaps the other's waits. A
batch that stores or removes logfire pending spans runs alone, since its anti-join and delete must
see every committed span.

Whole row groups: a commit's first rows, as many as fill whole row groups (ROW_GROUP_ROWS), go to
`bulk_records`, where DuckDB compresses them straight into the file; the rest go to
`stored_records` through the write-ahead log, to be compressed again at the next checkpoint. (One
table cannot take both: DuckDB puts a bulk commit's row groups after the table's last one, so every
commit would leave a part-filled group behind.) So a commit takes whole requests, oldest first,
and once they reach a whole row group, only as many as leave the fewest rows past a whole group
(`take_count`); the rest stay queued for the next commit. Below a row group it takes everything at
once, for the lowest latency, unless another commit is running: then it first waits up to
BULK_WAIT_S for a row group's worth. (bench/ingest.py and docs/performance.md: the figures.)

Retries of an already stored request (same signal, same decompressed body) are recognised by the
body's digest, kept in `ingested_requests`, and answered with the original outcome without
storing anything twice. The digests are checked on the event loop, so a retry that arrives
while its first copy is still being committed waits for that commit's outcome.
"""

import asyncio
import logging
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from itertools import accumulate
from pathlib import Path

import duckdb
import pyarrow as pa

from collector.errors import BadRequest, Overloaded
from collector.rows import Batch
from query.database import ROW_GROUP_ROWS

log = logging.getLogger("spyglass.writer")

REMEMBERED_DIGESTS = 100_000
CHECKPOINT_CHECK_S = 0.25
QUIET_S = 1.0
FORCED_CHECKPOINT_FACTOR = 8
BULK_WAIT_S = 0.1  # how long a commit under load waits for a whole row group's worth of rows


# What a batch can fail with: the database refusing a value, or Arrow refusing to put tables
# together. Values are converted to Arrow in decode_batch (collector/ingest.py), one request at a time.
STORE_ERRORS = (duckdb.Error, pa.ArrowException)


@dataclass(frozen=True)
class Outcome:
    """What happened to one export request."""

    accepted: int
    rejected: int
    error_message: str
    duplicate: bool = False


@dataclass
class _Job:
    signal: str
    digest: str
    batch: Batch
    future: asyncio.Future

    @property
    def rows(self) -> int:
        return self.batch.row_count

    @property
    def record_rows(self) -> int:
        """Rows for the records tables: what whole row groups are counted in."""
        return self.batch.records.num_rows if self.batch.records is not None else 0


class Writer:
    """Use as `async with Writer(connection) as writer:`; the connection is only used by the writer."""

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        *,
        max_queued_rows: int = 200_000,
        max_batch_rows: int = 50_000,
        checkpoint_wal_bytes: int = 64 * 1024 * 1024,
        lanes: int = 2,
    ):
        self._connection = connection
        self._max_queued_rows = max_queued_rows
        self._max_batch_rows = max_batch_rows
        self._queue: deque[_Job] = deque()  # accepted, not yet taken into a commit
        self._arrived = asyncio.Event()  # set when a job is queued or the writer is closing
        self._queued_rows = 0  # rows accepted and not yet answered (the back-pressure bound)
        self._closing = False
        self._task: asyncio.Task | None = None
        self._lanes = lanes
        self._free_lanes = asyncio.Semaphore(lanes)
        self._in_flight: set[asyncio.Task] = set()
        self._thread = ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="spyglass-writer")
        self._lane_cursors = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()
        self._seen: OrderedDict[str, Outcome] = OrderedDict()
        self._committing: dict[str, asyncio.Future] = {}  # digest -> the outcome of its first copy
        self._checkpoint_wal_bytes = checkpoint_wal_bytes
        self._checkpoint_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spyglass-checkpoint")
        self._checkpoint_task: asyncio.Task | None = None
        self._last_batch_at = 0.0
        self._wal_path: Path | None = None
        self._open_pending = 0
        self.committed_batches = 0

    async def __aenter__(self) -> "Writer":
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._load_state)
        self._task = asyncio.create_task(self._run(), name="spyglass-writer")
        self._checkpoint_task = asyncio.create_task(self._checkpoint_in_background(), name="spyglass-checkpoint")
        return self

    async def __aexit__(self, *exc_info) -> None:
        """Refuse new work, commit everything queued, checkpoint."""
        self._closing = True
        self._arrived.set()
        if self._task is not None:
            await self._task
        if self._in_flight:
            await asyncio.wait(self._in_flight)
        self._checkpoint_task.cancel()
        self._checkpoint_thread.shutdown(wait=True)  # lets a running checkpoint finish
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)

    async def _checkpoint_in_background(self) -> None:
        """Fold the WAL into the database file on a thread of its own, so that no commit (and so no
        acknowledgement) waits for it the way it waits for DuckDB's own auto-checkpoint.

        Only what does not fill whole row groups goes through the WAL (see the module docstring),
        so under load it grows by a few percent of the spans. Once it passes
        `checkpoint_wal_bytes` it is checkpointed in the first quiet second, or, under sustained
        load, just after `stored_records` fills a row group: a checkpoint writes the unfinished
        last row group, and the next one writes it again whole. At FORCED_CHECKPOINT_FACTOR times
        the threshold it goes ahead regardless, so the WAL (and the replay after a crash) stays
        bounded.
        """
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(CHECKPOINT_CHECK_S)
            if self._wal_path is None or not self._wal_path.exists():
                continue
            wal_bytes = self._wal_path.stat().st_size
            if wal_bytes < self._checkpoint_wal_bytes:
                continue
            quiet = not self._queue and time.monotonic() - self._last_batch_at >= QUIET_S
            forced = wal_bytes >= FORCED_CHECKPOINT_FACTOR * self._checkpoint_wal_bytes
            try:
                if not (quiet or forced):
                    rows = await loop.run_in_executor(self._checkpoint_thread, self._stored_rows)
                    if rows % ROW_GROUP_ROWS > ROW_GROUP_ROWS // 8:
                        continue  # mid row group: wait for the next one to start
                await loop.run_in_executor(self._checkpoint_thread, self._checkpoint)
            except duckdb.Error as error:
                log.warning("background checkpoint failed, will retry: %s", error)

    def _stored_rows(self) -> int:
        with self._connection.cursor() as cursor:
            return cursor.execute("SELECT count(*) FROM stored_records").fetchall()[0][0]

    def _checkpoint(self) -> None:
        with self._connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    async def write(self, signal: str, digest: str, batch: Batch) -> Outcome:
        """Queue a decoded request and wait until it is committed (or recognised as a retry)."""
        if self._closing:
            raise Overloaded("Spyglass is shutting down; retry in a few seconds", retry_after=5)
        rows = batch.row_count
        if self._queued_rows and self._queued_rows + rows > self._max_queued_rows:
            raise Overloaded(
                f"the writer is behind ({self._queued_rows} rows queued, limit {self._max_queued_rows}); retry in a second"
            )
        self._queued_rows += rows
        job = _Job(signal, digest, batch, asyncio.get_running_loop().create_future())
        self._queue.append(job)
        self._arrived.set()
        # shield: a client that hangs up must not cancel a commit other requests share
        return await asyncio.shield(job.future)

    async def _run(self) -> None:
        while True:
            await self._free_lanes.acquire()  # a lane first: the batch then takes all that queued meanwhile
            taken = await self._take()
            if not taken:
                self._free_lanes.release()
                return  # closing, and the queue is drained
            fresh = self._answer_retries(taken)
            if not fresh:
                self._free_lanes.release()
                continue
            # Pending spans need every committed span in view: such a batch waits for the others.
            alone = self._open_pending > 0 or any(job.batch.pending_spans is not None for job in fresh)
            lanes = self._lanes if alone else 1
            for _ in range(lanes - 1):
                await self._free_lanes.acquire()
            task = asyncio.create_task(self._commit_in_lane(fresh, lanes))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
            if alone:
                await task

    async def _take(self) -> list[_Job]:
        """Wait for queued jobs and take the next batch of them, oldest first (empty: closing, and
        nothing is left). Under load, see the module docstring: whole row groups where possible."""
        while not self._queue and not self._closing:
            self._arrived.clear()
            await self._arrived.wait()
        if self._in_flight:
            deadline = time.monotonic() + BULK_WAIT_S
            while (sum(job.record_rows for job in self._queue) < ROW_GROUP_ROWS and not self._closing
                   and time.monotonic() < deadline):
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), deadline - time.monotonic())
                except TimeoutError:
                    break
        count = take_count([job.record_rows for job in self._queue], self._max_batch_rows)
        return [self._queue.popleft() for _ in range(count)]

    def _answer_retries(self, jobs: list[_Job]) -> list[_Job]:
        """Answer the jobs whose body is stored or being stored; returns the others."""
        fresh = []
        for job in jobs:
            if job.digest in self._seen:
                self._finish(job, replace(self._seen[job.digest], duplicate=True))
            elif job.digest in self._committing:
                self._follow(job, self._committing[job.digest])
            else:
                self._committing[job.digest] = asyncio.get_running_loop().create_future()
                fresh.append(job)
        return fresh

    def _follow(self, job: _Job, first: asyncio.Future) -> None:
        def copy_outcome(done: asyncio.Future) -> None:
            result = done.result()
            self._finish(job, replace(result, duplicate=True) if isinstance(result, Outcome) else result)

        first.add_done_callback(copy_outcome)

    def _finish(self, job: _Job, result: "Outcome | Exception") -> None:
        self._queued_rows -= job.rows
        if job.future.done():
            return
        if isinstance(result, Exception):
            job.future.set_exception(result)
        else:
            job.future.set_result(result)

    async def _commit_in_lane(self, jobs: list[_Job], lanes: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._thread, self._commit, jobs)
        except Exception as error:  # the writer must never die: fail this batch, keep going
            log.exception("writer batch failed")
            results = [BadRequest(f"Spyglass could not store this export: {error}")] * len(jobs)
        finally:
            for _ in range(lanes):
                self._free_lanes.release()
        self.committed_batches += 1
        self._last_batch_at = time.monotonic()
        for job, result in zip(jobs, results):
            if isinstance(result, Outcome):
                self._remember(job.digest, result)
            self._committing.pop(job.digest).set_result(result)
            self._finish(job, result)

    def _remember(self, digest: str, outcome: Outcome) -> None:
        self._seen[digest] = outcome
        if len(self._seen) > REMEMBERED_DIGESTS:
            self._seen.popitem(last=False)

    # --- everything below runs on a writer thread (a lane) ---

    @property
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This lane's own cursor (DuckDB connections are not shared between threads)."""
        cursor = getattr(self._lane_cursors, "cursor", None)
        if cursor is None:
            cursor = self._lane_cursors.cursor = self._connection.cursor()
            with self._cursors_lock:
                self._cursors.append(cursor)
        return cursor

    def _load_state(self) -> None:
        path = self._cursor.execute(
            "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
        ).fetchone()[0]
        self._wal_path = Path(path + ".wal") if path else None
        self._open_pending = self._cursor.execute("SELECT count(*) FROM open_pending_spans").fetchone()[0]
        recent = self._cursor.execute(
            "SELECT digest, accepted, rejected, error_message FROM ingested_requests ORDER BY created_at DESC LIMIT ?",
            [REMEMBERED_DIGESTS],
        ).fetchall()
        for digest, accepted, rejected, message in reversed(recent):
            self._seen[digest] = Outcome(accepted, rejected, message or "")

    def _close(self) -> None:
        self._cursor.execute("CHECKPOINT")
        for cursor in self._cursors:
            cursor.close()

    def _commit(self, jobs: list[_Job]) -> list[Outcome | Exception]:
        """Store the jobs in one transaction; if that fails, store each alone so one bad request
        cannot cost the others their data."""
        try:
            self._store(jobs)
            return [self._outcome(job) for job in jobs]
        except STORE_ERRORS:
            self._rollback()
        results: list[Outcome | Exception] = []
        for job in jobs:
            try:
                self._store([job])
                results.append(self._outcome(job))
            except STORE_ERRORS as error:
                self._rollback()
                log.warning("could not store a %s export: %s", job.signal, error)
                results.append(BadRequest(f"Spyglass could not store this export: {error}"))
        return results

    @staticmethod
    def _outcome(job: _Job) -> Outcome:
        return Outcome(job.rows, job.batch.rejected, job.batch.error_message)

    def _rollback(self) -> None:
        try:
            self._cursor.rollback()
        except duckdb.Error:
            pass  # no transaction was open

    def _store(self, jobs: list[_Job]) -> None:
        if not jobs:
            return
        cursor = self._cursor
        records = _concat([job.batch.records for job in jobs])
        pending = _concat([job.batch.pending_spans for job in jobs])
        metrics = _concat([job.batch.metrics for job in jobs])
        cursor.begin()
        if records is not None:
            # Streams through the relational API: DuckDB scans a table with both cores and pays
            # for the coordination, and a registered view costs ~1 ms of binding per statement.
            whole = records.num_rows - records.num_rows % ROW_GROUP_ROWS
            if whole:
                cursor.from_arrow(_stream(records.slice(0, whole))).insert_into("bulk_records")
            if whole < records.num_rows:
                cursor.from_arrow(_stream(records.slice(whole))).insert_into("stored_records")
        if records is not None and self._open_pending:
            # The real spans have arrived: their pending stand-ins are no longer needed.
            # The start time is part of the match: ids alone can repeat (Temporal after a crash).
            cursor.register("new_records", records)
            cursor.execute(
                "DELETE FROM open_pending_spans WHERE (trace_id, span_id, start_timestamp) IN "
                "(SELECT trace_id, span_id, start_timestamp FROM new_records WHERE kind = 'span')"
            )
            cursor.unregister("new_records")
        if pending is not None:
            self._store_pending(cursor, pending)
        if metrics is not None:
            cursor.from_arrow(_stream(metrics)).insert_into("metrics")
        # One Arrow insert: executemany would plan the statement once per request (~5% of ingest CPU).
        cursor.from_arrow(_ingested_requests(jobs)).insert_into("ingested_requests")
        cursor.commit()
        if pending or self._open_pending:
            self._open_pending = cursor.execute("SELECT count(*) FROM open_pending_spans").fetchone()[0]

    def _store_pending(self, cursor: duckdb.DuckDBPyConnection, pending: pa.Table) -> None:
        """Store pending spans, except those whose real span is already stored (it came first)."""
        cursor.register("new_pending", pending)
        # start_timestamp is part of the joins so DuckDB can skip row groups by their min/max.
        finished = " UNION ALL ".join(
            f"SELECT s.trace_id, s.span_id FROM {table} s JOIN new_pending q"
            " ON s.trace_id = q.trace_id AND s.span_id = q.span_id AND s.start_timestamp = q.start_timestamp"
            " WHERE s.kind = 'span'"
            for table in ("bulk_records", "stored_records")
        )
        cursor.execute(
            f"INSERT INTO open_pending_spans SELECT p.* FROM new_pending p ANTI JOIN ({finished}) finished"
            " ON p.trace_id = finished.trace_id AND p.span_id = finished.span_id"
        )
        cursor.unregister("new_pending")


def take_count(rows: list[int], max_rows: int) -> int:
    """How many of the queued jobs (their record rows, oldest first) the next commit takes.

    At least one, at most what fits in `max_rows`. Below a whole row group, all of them. From one
    up, the longest run of jobs that leaves the fewest rows beyond its last whole row group (those
    go through the write-ahead log); the jobs after it wait for the next commit.
    """
    ends: list[int] = []  # rows taken after each job
    for end in accumulate(rows):
        if ends and end > max_rows:
            break
        ends.append(end)
    if not ends or ends[-1] < ROW_GROUP_ROWS:
        return len(ends)
    candidates = [(end % ROW_GROUP_ROWS, -count) for count, end in enumerate(ends, 1) if end >= ROW_GROUP_ROWS]
    return -min(candidates)[1]


def _ingested_requests(jobs: list[_Job]) -> pa.Table:
    now = datetime.now(timezone.utc)
    return pa.table({
        "digest": [job.digest for job in jobs],
        "signal": [job.signal for job in jobs],
        "accepted": pa.array([job.rows for job in jobs], pa.int64()),
        "rejected": pa.array([job.batch.rejected for job in jobs], pa.int64()),
        "error_message": pa.array([job.batch.error_message or None for job in jobs], pa.string()),
        "created_at": pa.array([now] * len(jobs), pa.timestamp("us", tz="UTC")),
    })


def _concat(tables: list[pa.Table | None]) -> pa.Table | None:
    present = [table for table in tables if table is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else pa.concat_tables(present)


def _stream(table: pa.Table) -> pa.RecordBatchReader:
    """The table as a stream of one record batch. DuckDB hands the batches of a stream to its
    threads, and putting their rows back in order appends every row a second time: a commit of four
    requests cost ~25% more CPU than the same rows as one batch (docs/performance.md)."""
    table = table.combine_chunks()
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
