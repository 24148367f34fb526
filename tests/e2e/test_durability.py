"""What was acknowledged survives: kill -9 mid-ingest, restart, retries; SIGTERM drains."""

import os
import signal
import threading
import time

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.conftest import read_db, start_server

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def batch(batch_no: int, spans: int = 50) -> tuple[bytes, list[str]]:
    """One export request of `spans` spans in one trace; returns the body and the span ids."""
    trace_id = os.urandom(16)
    now = time.time_ns()
    items, ids = [], []
    for i in range(spans):
        span_id = os.urandom(8)
        ids.append(span_id.hex())
        items.append(Span(
            trace_id=trace_id, span_id=span_id, name=f"batch {batch_no} span {i}",
            start_time_unix_nano=now, end_time_unix_nano=now + 1000,
            attributes=[KeyValue(key="payload", value=AnyValue(string_value="x" * 500))],
        ))
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="durability"))]),
        scope_spans=[ScopeSpans(spans=items)],
    )])
    return request.SerializeToString(), ids


def send_until_killed(url: str, bodies: list[bytes], acknowledged: list[int], stop: threading.Event) -> None:
    with httpx.Client(timeout=10) as client:
        for index, body in enumerate(bodies):
            if stop.is_set():
                return
            try:
                response = client.post(f"{url}/v1/traces", content=body, headers=PROTOBUF)
            except httpx.HTTPError:
                return  # the server died under us: this one was never acknowledged
            if response.status_code == 200:
                acknowledged.append(index)


@pytest.mark.parametrize("requests, spans, acks_before_kill", [
    (400, 50, 40),  # small commits: through the write-ahead log
    (48, 1024, 12),  # two requests fill a row group: commits written straight into the file (bulk_records)
], ids=["wal", "whole-row-groups"])
def test_acknowledged_spans_survive_kill_9_exactly_once(tmp_path, requests, spans, acks_before_kill):
    db = tmp_path / "spyglass.duckdb"
    batches = [batch(n, spans) for n in range(requests)]
    bodies = [body for body, _ in batches]
    server = start_server(db)
    acknowledged: list[int] = []
    stop = threading.Event()
    acks_per_sender: list[list[int]] = [[] for _ in range(4)]
    senders = [threading.Thread(target=send_until_killed, args=(server.url, bodies[k::4], acks_per_sender[k], stop))
               for k in range(4)]
    for sender in senders:
        sender.start()
    deadline = time.monotonic() + 30
    while sum(map(len, acks_per_sender)) < acks_before_kill and time.monotonic() < deadline:
        time.sleep(0.01)
    server.process.kill()  # SIGKILL while requests are in flight
    server.process.wait()
    stop.set()
    for sender in senders:
        sender.join()
    for k, acks in enumerate(acks_per_sender):
        acknowledged.extend(k + 4 * i for i in acks)
    assert len(acknowledged) >= acks_before_kill, "the test must kill the server mid-ingest, after some acknowledgements"
    assert len(acknowledged) < len(bodies), "the kill must come before everything was sent"
    if spans >= 1024:  # the acknowledged whole row groups are found again from the WAL's pointers to them
        assert read_db(db, "SELECT count(*) FROM bulk_records")[0][0] >= 2048

    # Restart on the same file. Exporters retry what they did not see acknowledged, and may also
    # retry batches that were committed but whose 200 was lost: send both kinds again.
    server = start_server(db)
    unacknowledged = [i for i in range(len(bodies)) if i not in set(acknowledged)]
    resend = unacknowledged + acknowledged[:20]
    with httpx.Client(timeout=10) as client:
        for index in resend:
            assert client.post(f"{server.url}/v1/traces", content=bodies[index], headers=PROTOBUF).status_code == 200
    assert server.stop() == -signal.SIGTERM  # uvicorn re-raises the signal after a clean shutdown

    stored = dict(read_db(db, "SELECT span_id, count(*) FROM records GROUP BY span_id"))
    expected = {span_id for _, ids in batches for span_id in ids}
    assert set(stored) == expected, "every span sent (acknowledged before the kill or re-sent after) is stored"
    assert set(stored.values()) == {1}, "no span is stored twice, retried or not"


def test_sigterm_drains_everything_acknowledged(tmp_path):
    db = tmp_path / "spyglass.duckdb"
    server = start_server(db)
    batches = [batch(n, spans=20) for n in range(100)]
    acknowledged: list[int] = []
    stop = threading.Event()
    sender = threading.Thread(target=send_until_killed, args=(server.url, [b for b, _ in batches], acknowledged, stop))
    sender.start()
    while len(acknowledged) < 10:
        time.sleep(0.01)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(30) == -signal.SIGTERM
    assert "Traceback" not in server.output()
    stop.set()
    sender.join()
    stored = {row[0] for row in read_db(db, "SELECT span_id FROM records")}
    for index in acknowledged:
        assert set(batches[index][1]) <= stored
