"""Decode worker processes: a worker that dies costs at most a retryable 503, never the server.

The workers decode what the native fast path does not take (JSON bodies, logs, metrics, unusual
protobuf traces), so these requests are OTLP/JSON.
"""

import json
import os
import signal
import time

import httpx
import psutil

from tests.conftest import read_db, start_server

JSON = {"Content-Type": "application/json"}


def body(name: str) -> bytes:
    now = time.time_ns()
    span = {"traceId": os.urandom(16).hex(), "spanId": os.urandom(8).hex(), "name": name,
            "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1000)}
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


def decode_workers(server) -> list[psutil.Process]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = [c for c in psutil.Process(server.process.pid).children(recursive=True)
                    if "multiprocessing" in " ".join(c.cmdline())]
        workers = [c for c in children if "resource_tracker" not in " ".join(c.cmdline())]
        if len(workers) >= 2:
            return workers
        time.sleep(0.1)
    raise AssertionError("the server did not start its decode workers")


def send_with_retries(url: str, content: bytes) -> list[int]:
    """POST like an exporter: retry 503 after Retry-After; returns every status seen."""
    statuses = []
    for _ in range(10):
        response = httpx.post(f"{url}/v1/traces", content=content, headers=JSON, timeout=30)
        statuses.append(response.status_code)
        if response.status_code != 503:
            break
        time.sleep(float(response.headers["retry-after"]))
    return statuses


def test_a_killed_decode_worker_is_replaced_and_nothing_acknowledged_is_lost(tmp_path):
    server = start_server(tmp_path / "db.duckdb", "--decode-workers", "2")
    try:
        assert send_with_retries(server.url, body("before")) == [200]
        for worker in decode_workers(server):
            worker.send_signal(signal.SIGKILL)  # both: the pool is broken for sure
        outcomes = [send_with_retries(server.url, body(f"after {i}")) for i in range(5)]
        assert all(statuses[-1] == 200 for statuses in outcomes), outcomes
        seen = [code for statuses in outcomes for code in statuses]
        assert set(seen) == {200, 503}, outcomes  # the request that met the broken pool: 503, then retried; never a 500
        assert server.process.poll() is None
    finally:
        server.stop()
    names = sorted(name for (name,) in read_db(server.db, "SELECT span_name FROM records"))
    assert names == ["after 0", "after 1", "after 2", "after 3", "after 4", "before"]
    assert "a decode worker died; starting new ones" in server.output()
