"""The writer on a real DuckDB file: batching, retries recognised, back-pressure, drain, isolation, pending spans."""

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from collector.decode import decode_request
from collector.errors import BadRequest, Overloaded
from collector.rows import Batch, Decoded, to_batch
from collector.writer import Writer, _stream, take_count
from query.database import ROW_GROUP_ROWS, open_database


def make_span(trace_id: bytes, span_id: bytes, name: str, parent: bytes = b"", attrs: dict | None = None) -> Span:
    now = time.time_ns()
    span = Span(trace_id=trace_id, span_id=span_id, parent_span_id=parent, name=name,
                start_time_unix_nano=now, end_time_unix_nano=now + 1_000_000)
    for key, value in (attrs or {}).items():
        span.attributes.append(KeyValue(key=key, value=AnyValue(string_value=str(value))))
    return span


def rows_of(*spans: Span) -> Decoded:
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])])
    return decode_request("traces", request.SerializeToString(), "protobuf", time.time_ns() // 1000)


def decoded_of(*spans: Span) -> Batch:
    """The writer's input for these spans, as the decoder (in its worker process) hands it over."""
    return to_batch(rows_of(*spans))


def count(db, sql: str) -> int:
    return db.execute(sql).fetchone()[0]


def run(coro):
    """asyncio.run in a thread of its own: Playwright's session fixture keeps a loop in the main thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "w.duckdb")
    yield database
    database.close()


def test_concurrent_writes_share_commits_and_all_rows_land(db):
    trace = os.urandom(16)

    async def main():
        async with Writer(db) as writer:
            jobs = [writer.write("traces", f"d{i}", decoded_of(make_span(trace, os.urandom(8), f"s{i}")))
                    for i in range(200)]
            outcomes = await asyncio.gather(*jobs)
            return outcomes, writer.committed_batches

    outcomes, batches = run(main())
    assert all(o.accepted == 1 and o.rejected == 0 and not o.duplicate for o in outcomes)
    assert count(db, "SELECT count(*) FROM records") == 200
    assert batches < 200, "200 concurrent requests should have been grouped into fewer commits"


def test_retried_request_is_stored_once_even_after_restart(db):
    span = make_span(os.urandom(16), os.urandom(8), "once")

    async def write_twice():
        async with Writer(db) as writer:
            first = await writer.write("traces", "same-digest", decoded_of(span))
            again = await writer.write("traces", "same-digest", decoded_of(span))
            # both copies queued together: the second answers from the first
            both = await asyncio.gather(
                writer.write("traces", "other-digest", decoded_of(span)),
                writer.write("traces", "other-digest", decoded_of(span)),
            )
            return first, again, both

    first, again, both = run(write_twice())
    assert (first.duplicate, again.duplicate) == (False, True)
    assert sorted(o.duplicate for o in both) == [False, True]
    assert count(db, "SELECT count(*) FROM records WHERE span_name = 'once'") == 2  # two distinct digests

    async def after_restart():
        async with Writer(db) as writer:
            return await writer.write("traces", "same-digest", decoded_of(span))

    assert run(after_restart()).duplicate is True
    assert count(db, "SELECT count(*) FROM records WHERE span_name = 'once'") == 2


def test_two_different_spans_sharing_ids_are_both_kept(db):
    trace, span_id = os.urandom(16), os.urandom(8)

    async def main():
        async with Writer(db) as writer:
            await writer.write("traces", "a", decoded_of(make_span(trace, span_id, "RunWorkflow:W")))
            await writer.write("traces", "b", decoded_of(make_span(trace, span_id, "CompleteWorkflow:W")))

    run(main())
    names = db.execute("SELECT span_name FROM records WHERE span_id = ? ORDER BY span_name", [span_id.hex()]).fetchall()
    assert names == [("CompleteWorkflow:W",), ("RunWorkflow:W",)]


def test_full_queue_refuses_with_retry_after_and_loses_nothing_accepted(db):
    trace = os.urandom(16)

    async def main():
        async with Writer(db, max_queued_rows=3) as writer:
            tasks = [asyncio.ensure_future(writer.write(
                "traces", f"q{i}", decoded_of(*[make_span(trace, os.urandom(8), f"q{i}") for _ in range(2)])))
                for i in range(20)]
            return await asyncio.gather(*tasks, return_exceptions=True)

    results = run(main())
    refused = [r for r in results if isinstance(r, Overloaded)]
    accepted = [r for r in results if not isinstance(r, Exception)]
    assert refused and accepted
    assert all(r.retry_after >= 1 and r.http_status == 503 for r in refused)
    assert count(db, "SELECT count(*) FROM records") == 2 * len(accepted)


def test_shutdown_drains_the_queue_then_refuses(db):
    trace = os.urandom(16)

    async def main():
        writer = Writer(db)
        await writer.__aenter__()
        tasks = [asyncio.ensure_future(writer.write("traces", f"x{i}", decoded_of(make_span(trace, os.urandom(8), "x"))))
                 for i in range(50)]
        await asyncio.sleep(0)  # all 50 are queued
        await writer.__aexit__(None, None, None)
        with pytest.raises(Overloaded):
            await writer.write("traces", "late", decoded_of(make_span(trace, os.urandom(8), "late")))
        return await asyncio.gather(*tasks)

    outcomes = run(main())
    assert len(outcomes) == 50 and all(o.accepted == 1 for o in outcomes)
    assert count(db, "SELECT count(*) FROM records WHERE span_name = 'x'") == 50


def test_a_request_the_database_refuses_does_not_cost_the_others(db):
    trace = os.urandom(16)
    bad = rows_of(make_span(trace, os.urandom(8), "bad"))
    bad.records[0]["trace_id"] = None  # Arrow takes it, DuckDB's NOT NULL refuses it

    async def main():
        async with Writer(db) as writer:
            return await asyncio.gather(
                writer.write("traces", "g1", decoded_of(make_span(trace, os.urandom(8), "good"))),
                writer.write("traces", "b1", to_batch(bad)),
                writer.write("traces", "g2", decoded_of(make_span(trace, os.urandom(8), "good"))),
                return_exceptions=True,
            )

    results = run(main())
    assert isinstance(results[1], BadRequest) and "could not store" in str(results[1])
    assert results[0].accepted == 1 and results[2].accepted == 1
    assert count(db, "SELECT count(*) FROM records WHERE span_name = 'good'") == 2
    assert count(db, "SELECT count(*) FROM records WHERE span_name = 'bad'") == 0


def test_a_value_arrow_cannot_hold_is_refused_for_its_own_request_only():
    worse = rows_of(make_span(os.urandom(16), os.urandom(8), "worse"))
    worse.records[0]["start_timestamp"] = "not a timestamp"
    with pytest.raises(pa.ArrowException):
        to_batch(worse)  # in decode_batch this becomes a 400 for this request, before the writer sees it


def pending_for(trace: bytes, real_id: bytes, real_parent: bytes, name: str) -> Span:
    """A logfire pending span: new id, OTLP parent = the real span, logfire.pending_parent_id = real parent."""
    span = make_span(trace, os.urandom(8), name, parent=real_id,
                     attrs={"logfire.span_type": "pending_span",
                            "logfire.pending_parent_id": (real_parent or bytes(8)).hex()})
    span.end_time_unix_nano = span.start_time_unix_nano
    return span


def test_pending_span_shows_until_its_real_span_arrives(db):
    trace, real_id = os.urandom(16), os.urandom(8)
    pending = pending_for(trace, real_id, b"", "long job")
    real = make_span(trace, real_id, "long job")
    real.start_time_unix_nano = pending.start_time_unix_nano
    orphan_id = os.urandom(8)
    orphan = pending_for(trace, orphan_id, real_id, "crashed child")

    async def main():
        async with Writer(db) as writer:
            await writer.write("traces", "p", decoded_of(pending, orphan))
            running = db.execute(
                "SELECT kind, span_id, parent_span_id, end_timestamp FROM records WHERE span_name = 'long job'"
            ).fetchall()
            await writer.write("traces", "r", decoded_of(real))
            return running

    running = run(main())
    assert running == [("pending_span", real_id.hex(), None, None)]
    assert db.execute("SELECT kind FROM records WHERE span_name = 'long job'").fetchall() == [("span",)]
    assert db.execute("SELECT kind, span_id, parent_span_id FROM records WHERE span_name = 'crashed child'").fetchall() == [
        ("pending_span", orphan_id.hex(), real_id.hex())
    ]


def test_pending_span_arriving_after_its_real_span_is_not_shown(db):
    trace, real_id = os.urandom(16), os.urandom(8)
    pending = pending_for(trace, real_id, b"", "late pending")
    real = make_span(trace, real_id, "late pending")
    real.start_time_unix_nano = pending.start_time_unix_nano

    async def main():
        async with Writer(db) as writer:
            await writer.write("traces", "r", decoded_of(real))
            await writer.write("traces", "p", decoded_of(pending))
            # and both in one batch, pending first
            trace2, real2 = os.urandom(16), os.urandom(8)
            p2 = pending_for(trace2, real2, b"", "same batch")
            r2 = make_span(trace2, real2, "same batch")
            r2.start_time_unix_nano = p2.start_time_unix_nano
            await asyncio.gather(writer.write("traces", "p2", decoded_of(p2)), writer.write("traces", "r2", decoded_of(r2)))

    run(main())
    assert db.execute("SELECT kind FROM records WHERE span_name = 'late pending'").fetchall() == [("span",)]
    assert db.execute("SELECT kind FROM records WHERE span_name = 'same batch'").fetchall() == [("span",)]


def test_wal_is_checkpointed_in_the_background_while_writes_go_on(tmp_path):
    database = open_database(tmp_path / "ckpt.duckdb")
    wal = tmp_path / "ckpt.duckdb.wal"
    trace = os.urandom(16)

    async def main():
        async with Writer(database, checkpoint_wal_bytes=1) as writer:
            await writer.write("traces", "first", decoded_of(make_span(trace, os.urandom(8), "before")))
            assert wal.exists() and wal.stat().st_size > 0  # committed to the WAL, not yet checkpointed
            for _ in range(100):  # the checkpointer looks once a second
                await asyncio.sleep(0.1)
                if not wal.exists() or wal.stat().st_size == 0:
                    break
            checkpointed = not wal.exists() or wal.stat().st_size == 0
            await writer.write("traces", "second", decoded_of(make_span(trace, os.urandom(8), "after")))
            return checkpointed

    try:
        assert run(main()), "the WAL was never checkpointed while the writer ran"
        assert count(database, "SELECT count(*) FROM records WHERE span_name IN ('before', 'after')") == 2
    finally:
        database.close()


def test_pending_and_real_spans_in_concurrent_requests_leave_no_stand_ins(db):
    """Two lanes commit at once, but a batch with pending spans runs alone: whatever order 40
    pending spans and their real spans arrive in, concurrently, only the real spans remain."""
    import random

    pairs = []
    for n in range(40):
        trace, real_id = os.urandom(16), os.urandom(8)
        pending = pending_for(trace, real_id, b"", f"job {n}")
        real = make_span(trace, real_id, f"job {n}")
        real.start_time_unix_nano = pending.start_time_unix_nano
        pairs.append((pending, real))
    requests = [(f"p{n}", pending) for n, (pending, _) in enumerate(pairs)] + [(f"r{n}", real) for n, (_, real) in enumerate(pairs)]
    random.Random(3).shuffle(requests)
    plain = [(f"plain{n}", make_span(os.urandom(16), os.urandom(8), "plain")) for n in range(40)]

    async def main():
        async with Writer(db, max_batch_rows=3) as writer:  # small batches, so that lanes overlap
            await asyncio.gather(*(writer.write("traces", digest, decoded_of(span)) for digest, span in requests + plain))
            return writer.committed_batches

    batches = run(main())
    assert batches > 1
    assert db.execute("SELECT kind, count(*) FROM records WHERE span_name LIKE 'job %' GROUP BY kind").fetchall() == [("span", 40)]
    assert count(db, "SELECT count(*) FROM open_pending_spans") == 0
    assert count(db, "SELECT count(*) FROM records WHERE span_name = 'plain'") == 40


# --- whole row groups: bulk_records ---------------------------------------------------------------


@pytest.mark.parametrize("rows, max_rows, taken", [
    ([], 50_000, 0),
    ([100, 200], 50_000, 2),                   # below a row group: everything, at once
    ([512] * 4, 50_000, 4),                    # exactly one row group
    ([512] * 9, 50_000, 8),                    # the ninth waits for the next commit
    ([512, 512, 512, 1, 512], 50_000, 5),      # 2,049 rows: 1 through the WAL beats 1,537
    ([3000, 100, 1000], 50_000, 3),            # 4,100: 4 rows past two groups
    ([3000, 100], 50_000, 1),                  # 3,000 (952 past) beats 3,100 (1,052 past)
    ([512] * 6, 1024, 2),                      # max_rows first
    ([9000, 5], 1024, 1),                      # at least one job, however large
    ([0, 0, 2048, 0], 50_000, 4),              # empty requests (all spans refused) go along
])
def test_take_count_ends_commits_on_whole_row_groups(rows, max_rows, taken):
    assert ROW_GROUP_ROWS == 2048
    assert take_count(rows, max_rows) == taken


def test_a_commit_reaches_duckdb_as_one_record_batch():
    """Several requests' tables, concatenated, go to DuckDB as one batch: a stream of several is
    spread over DuckDB's threads and appended twice to restore the order (docs/performance.md)."""
    tables = [spans_batch(os.urandom(16), f"r{i}", 5).records for i in range(3)]
    combined = pa.concat_tables(tables)
    assert combined.column("span_name").num_chunks == 3
    batches = list(_stream(combined))
    assert len(batches) == 1
    assert pa.Table.from_batches(batches).equals(combined.combine_chunks())


def spans_batch(trace: bytes, name: str, n: int) -> Batch:
    return decoded_of(*(make_span(trace, os.urandom(8), name) for _ in range(n)))


def row_group_sizes(db, table: str) -> list[int]:
    return [row[0] for row in db.execute(
        f"SELECT max(count) FROM pragma_storage_info('{table}') GROUP BY row_group_id ORDER BY row_group_id"
    ).fetchall()]


def test_a_large_commit_stores_whole_row_groups_in_bulk_records_and_the_rest_in_stored_records(db):
    trace = os.urandom(16)

    async def main():
        async with Writer(db) as writer:
            # queued together: one commit of 3,000 rows = one whole group + 952
            outcomes = await asyncio.gather(*(writer.write("traces", f"big{i}", spans_batch(trace, "big", 1000))
                                              for i in range(3)))
            return outcomes, writer.committed_batches

    outcomes, batches = run(main())
    assert [o.accepted for o in outcomes] == [1000] * 3 and batches == 1
    assert count(db, "SELECT count(*) FROM bulk_records") == 2048
    assert count(db, "SELECT count(*) FROM stored_records") == 952
    assert count(db, "SELECT count(DISTINCT span_id) FROM records WHERE span_name = 'big'") == 3000
    db.execute("CHECKPOINT")
    assert row_group_sizes(db, "bulk_records") == [2048]


def test_under_load_commits_take_whole_row_groups_and_leave_the_rest_queued(db):
    """Many 512-span requests at once: every commit but the last ends on a whole row group, so
    bulk_records holds nothing but full groups, and only what is left at the end goes to the WAL."""
    trace = os.urandom(16)

    async def main():
        async with Writer(db) as writer:
            first = [writer.write("traces", f"a{i}", spans_batch(trace, "load", 512)) for i in range(9)]
            later = []
            for i in range(11):  # more arrive while the first commit runs
                await asyncio.sleep(0.002)
                later.append(writer.write("traces", f"b{i}", spans_batch(trace, "load", 512)))
            return await asyncio.gather(*first, *later)

    outcomes = run(main())
    assert sum(o.accepted for o in outcomes) == 20 * 512
    assert count(db, "SELECT count(*) FROM records WHERE span_name = 'load'") == 20 * 512
    bulk = count(db, "SELECT count(*) FROM bulk_records")
    assert bulk % 2048 == 0 and bulk >= 8 * 512, bulk  # the 9th request of the first burst waited
    db.execute("CHECKPOINT")
    assert set(row_group_sizes(db, "bulk_records")) == {2048}


def test_pending_span_arriving_after_its_real_span_in_bulk_records_is_not_shown(db):
    trace, real_id = os.urandom(16), os.urandom(8)
    pending = pending_for(trace, real_id, b"", "bulk pending")
    real = make_span(trace, real_id, "bulk pending")
    real.start_time_unix_nano = pending.start_time_unix_nano
    others = [make_span(trace, os.urandom(8), "filler") for _ in range(2047)]

    async def main():
        async with Writer(db) as writer:
            await writer.write("traces", "real", decoded_of(real, *others))  # 2,048 rows: all in bulk_records
            await writer.write("traces", "pending", decoded_of(pending))

    run(main())
    assert count(db, "SELECT count(*) FROM bulk_records WHERE span_name = 'bulk pending'") == 1
    assert db.execute("SELECT kind FROM records WHERE span_name = 'bulk pending'").fetchall() == [("span",)]
