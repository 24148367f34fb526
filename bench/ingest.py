"""Ingest benchmark: drive a real `spyglass serve` with realistic agent traces and measure it.

    .venv/bin/python bench/ingest.py                      # own server, fresh database, 1,000,000 spans
    .venv/bin/python bench/ingest.py --spans 200000 --connections 8
    .venv/bin/python bench/ingest.py --url http://127.0.0.1:4318 --db path/to.duckdb --pid 1234

Prints spans/s accepted, spans/s end to end (visible to a query), send-to-queryable latency (per
request, and from an independent probe), peak server RSS and bytes on disk per span, next to the
targets of the 2-core development machine. This is a benchmark, not a test: it exits 0 whether or
not the targets are met, and 1 only when data went missing (stored != sent) or requests failed.

How it measures (see bench/README.md):
- Request bodies (OTLP/protobuf, 512 spans each, as exporters batch them) are built before the
  clock starts, so the client's work is mostly socket I/O; the client still shares the cores with
  the server, and its CPU time is printed.
- Each connection is one thread with its own keep-alive HTTP connection. A 503 is retried after its
  Retry-After, as exporters do, and the wait counts in that request's latency.
- The server acknowledges an export only after its commit, so ack == queryable. A watcher polls
  GET /api/stats to confirm: the time it first sees every span is the end-to-end time.
- Independent latency probe: every 200 ms one marker (a log record, kind 'log', which the bulk
  traffic never produces) is sent on its own connection; the watcher's polls give the time it
  became visible to a query, without trusting the acknowledgement.
- Peak RSS: psutil, every 100 ms, the server process plus its children.
- Disk: the server is stopped with SIGTERM (it checkpoints), then the .duckdb file (+ .wal) is
  measured and the stored rows are counted with DuckDB in read-only mode.
"""

import argparse
import concurrent.futures
import http.client
import itertools
import json
import math
import multiprocessing
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

try:
    import duckdb
    import psutil
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
except ImportError as error:  # pragma: no cover - a hint for the wrong interpreter
    sys.exit(f"{error}: run with the project's environment, e.g. `make bench` or `.venv/bin/python bench/ingest.py`")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import agent_traces  # noqa: E402  (the trace generator beside this file)

ROOT = Path(__file__).resolve().parent.parent

TARGET_SPANS_PER_S = 50_000
TARGET_P99_S = 1.0
TARGET_BYTES_PER_SPAN = 400


# --- building the request bodies ------------------------------------------------------------------


def _build_chunk(job: tuple[int, int, int, int]) -> list[bytes]:
    seed, spans, batch, start_ns = job
    return agent_traces.export_requests(seed, spans, batch, start_ns)


def build_bodies(seed: int, spans: int, batch: int, workers: int) -> list[bytes]:
    """All request bodies, built in `workers` processes (chunks of 100 requests, each its own seed)."""
    chunk = batch * 100
    start_ns = time.time_ns() - 3600 * 10**9
    jobs = [
        (seed * 1_000_003 + i, min(chunk, spans - offset), batch, start_ns + i * 60 * 10**9)
        for i, offset in enumerate(range(0, spans, chunk))
    ]
    bodies: list[bytes] = []
    if workers <= 1 or len(jobs) == 1:
        for job in jobs:
            bodies.extend(_build_chunk(job))
        return bodies
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        for done, part in enumerate(pool.map(_build_chunk, jobs), 1):
            bodies.extend(part)
            print(f"\r  built {min(done * chunk, spans):,} / {spans:,} spans", end="", flush=True)
    print()
    return bodies


def marker_body(number: int, run_id: str) -> bytes:
    """One log record (logfire.span_type=log, so stored with kind 'log'): the latency probe's marker."""
    now = time.time_ns()
    span = Span(
        trace_id=random.getrandbits(128).to_bytes(16, "big"),
        span_id=random.getrandbits(64).to_bytes(8, "big"),
        name=f"bench probe {number}",
        start_time_unix_nano=now,
        end_time_unix_nano=now,
        attributes=[
            KeyValue(key="logfire.span_type", value=AnyValue(string_value="log")),
            KeyValue(key="logfire.msg", value=AnyValue(string_value=f"bench probe {number} of run {run_id}")),
            KeyValue(key="number", value=AnyValue(int_value=number)),
        ],
    )
    resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="spyglass-bench-probe"))])
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=[span])])])
    return request.SerializeToString()


# --- the server -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Target:
    """The server being measured: its URL, and its process and database file when known."""

    url: str
    pid: int | None
    db: Path | None
    process: subprocess.Popen | None = None  # set when this script started the server
    log: Path | None = None

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 80


def start_server(db: Path) -> Target:
    port = free_port()
    log = db.with_name("server.log")
    process = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--db", str(db), "--port", str(port), "--grpc-port", "0"],
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    target = Target(f"http://127.0.0.1:{port}", process.pid, db, process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"spyglass exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            get_json(target, "/v1/info", timeout=1)
            return target
        except (OSError, http.client.HTTPException, ValueError):
            time.sleep(0.1)
    process.kill()
    sys.exit(f"spyglass did not start in 60 s:\n{log.read_text(errors='replace')}")


def stop_server(target: Target) -> float:
    """SIGTERM (drain + checkpoint) and wait; returns how long shutdown took."""
    assert target.process is not None
    started = time.perf_counter()
    target.process.send_signal(signal.SIGTERM)
    try:
        target.process.wait(300)
    except subprocess.TimeoutExpired:
        target.process.kill()
        target.process.wait()
        print("  warning: the server did not stop within 300 s of SIGTERM and was killed")
    return time.perf_counter() - started


def get_json(target: Target, path: str, timeout: float = 10) -> dict:
    host, port = target.host_port
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise ValueError(f"GET {path}: {response.status} {body[:200]!r}")
        return json.loads(body)
    finally:
        connection.close()


def open_connection(target: Target, timeout: float = 300) -> http.client.HTTPConnection:
    host, port = target.host_port
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    connection.connect()
    # urllib3 (under the OTel exporters) sets TCP_NODELAY too; without it Nagle + delayed ACK add ~40 ms.
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


# --- sending --------------------------------------------------------------------------------------


@dataclass
class Sent:
    """What happened to one request: latency is from the first send to the 200, retries included."""

    spans: int
    latency: float
    acked_at: float
    retries_503: int
    reconnects: int


@dataclass
class SendResults:
    sent: list[Sent] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def post(connection: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes, str | None]:
    connection.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
    response = connection.getresponse()
    return response.status, response.read(), response.getheader("Retry-After")


def sender(target: Target, bodies: list[bytes], spans_of: list[int], next_index, results: SendResults, stop: threading.Event) -> None:
    connection = open_connection(target)
    local: list[Sent] = []
    try:
        for index in next_index:
            if index >= len(bodies) or stop.is_set():
                break
            body = bodies[index]
            retries = reconnects = 0
            started = time.perf_counter()
            while True:
                try:
                    status, reply, retry_after = post(connection, body)
                except (OSError, http.client.HTTPException) as error:
                    reconnects += 1
                    if reconnects > 5:
                        with results.lock:
                            results.failures.append(f"request {index}: {error!r} after 5 reconnects")
                        break
                    connection.close()
                    time.sleep(0.2)
                    connection = open_connection(target)
                    continue
                if status == 200:
                    now = time.perf_counter()
                    rejected = ExportTraceServiceResponse.FromString(reply).partial_success.rejected_spans
                    if rejected:
                        with results.lock:
                            results.failures.append(f"request {index}: {rejected} spans rejected (partial success)")
                    local.append(Sent(spans_of[index] - rejected, now - started, now, retries, reconnects))
                    break
                if status in (429, 502, 503, 504) and retries < 100:
                    retries += 1
                    time.sleep(float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else 1.0)
                    continue
                with results.lock:
                    results.failures.append(f"request {index}: HTTP {status}: {reply[:300]!r}")
                break
    finally:
        connection.close()
        with results.lock:
            results.sent.extend(local)


@dataclass
class Sample:
    asked_at: float
    answered_at: float
    spans: int
    logs: int


class Watcher(threading.Thread):
    """Polls GET /api/stats: when did the spans, and each probe marker, become visible to a query?"""

    def __init__(self, target: Target, interval: float, base_spans: int, base_logs: int):
        super().__init__(name="watcher", daemon=True)
        self.target, self.interval = target, interval
        self.base_spans, self.base_logs = base_spans, base_logs
        self.samples: list[Sample] = []
        self.errors = 0
        self.stop = threading.Event()
        self.changed = threading.Condition()

    def run(self) -> None:
        while not self.stop.is_set():
            asked = time.perf_counter()
            try:
                stats = get_json(self.target, "/api/stats", timeout=30)
            except (OSError, http.client.HTTPException, ValueError):
                self.errors += 1
                time.sleep(self.interval)
                continue
            kinds = stats.get("records_by_kind", {})
            sample = Sample(asked, time.perf_counter(), kinds.get("span", 0) - self.base_spans, kinds.get("log", 0) - self.base_logs)
            with self.changed:
                self.samples.append(sample)
                self.changed.notify_all()
            self.stop.wait(max(0.0, self.interval - (sample.answered_at - asked)))

    def wait_for(self, predicate, since: float, timeout: float) -> Sample | None:
        """The first sample asked after `since` that satisfies predicate (waiting up to `timeout`)."""
        deadline = time.perf_counter() + timeout
        checked = 0
        with self.changed:
            while True:
                for sample in self.samples[checked:]:
                    if sample.asked_at >= since and predicate(sample):
                        return sample
                checked = len(self.samples)
                remaining = deadline - time.perf_counter()
                if remaining <= 0 or not self.is_alive():
                    return None
                self.changed.wait(min(remaining, 0.5))


class Probe(threading.Thread):
    """Every `period` s, one marker on its own connection; records send->ack and send->visible."""

    def __init__(self, target: Target, watcher: Watcher, period: float, run_id: str):
        super().__init__(name="probe", daemon=True)
        self.target, self.watcher, self.period, self.run_id = target, watcher, period, run_id
        self.ack_latencies: list[float] = []
        self.visible_latencies: list[float] = []
        self.failures: list[str] = []
        self.markers = 0
        self.stop = threading.Event()

    def run(self) -> None:
        connection = open_connection(self.target)
        number = 0
        try:
            while not self.stop.is_set():
                tick = time.perf_counter()
                number += 1
                body = marker_body(number, self.run_id)
                started = time.perf_counter()
                try:
                    status, reply, _ = post(connection, body)
                except (OSError, http.client.HTTPException) as error:
                    self.failures.append(f"marker {number}: {error!r}")
                    connection.close()
                    connection = open_connection(self.target)
                    number -= 1
                    continue
                if status != 200:  # a 503 is retried as a new marker
                    self.failures.append(f"marker {number}: HTTP {status}")
                    number -= 1
                    self.stop.wait(1.0)
                    continue
                self.ack_latencies.append(time.perf_counter() - started)
                target = number
                seen = self.watcher.wait_for(lambda s: s.logs >= target, started, timeout=120)
                if seen is None:
                    self.failures.append(f"marker {number} not visible within 120 s")
                    return
                self.visible_latencies.append(seen.answered_at - started)
                self.stop.wait(max(0.0, self.period - (time.perf_counter() - tick)))
        finally:
            connection.close()
            self.markers = number


class RssSampler(threading.Thread):
    """Peak resident memory of the server process and its children."""

    def __init__(self, pid: int, interval: float = 0.1):
        super().__init__(name="rss", daemon=True)
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.stop = threading.Event()

    def sample(self) -> int:
        total = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, self.sample())
            except psutil.Error:
                return
            self.stop.wait(self.interval)


def server_cpu_seconds(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        process = psutil.Process(pid)
        total = 0.0
        for p in [process, *process.children(recursive=True)]:
            times = p.cpu_times()
            total += times.user + times.system
        return total
    except psutil.Error:
        return None


# --- reporting ------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); values need not be sorted."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mib(n: float | None) -> str:
    return "unknown" if n is None else f"{n / 2**20:,.0f} MiB"


def verdict(ok: bool | None) -> str:
    return {True: "ok", False: "MISSED", None: "unknown"}[ok]


def table(rows: list[tuple[str, str, str, str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  " + "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)))
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def storage_size(db: Path) -> int:
    wal = db.with_name(db.name + ".wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans to send (default 1,000,000)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections, one thread each (default 8)")
    parser.add_argument("--batch", type=int, default=512, help="spans per export request (default 512, the exporters' batch)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the trace generator (default: random; the same seed twice "
                        "into one database is recognised as retries and not stored again)")
    parser.add_argument("--url", help="drive this running server instead of starting one")
    parser.add_argument("--db", type=Path, help="with --url: the server's database file, to report its size (else unknown)")
    parser.add_argument("--pid", type=int, help="with --url: the server's process id, for RSS and CPU (else unknown)")
    parser.add_argument("--poll-ms", type=float, default=100,
                        help="GET /api/stats interval of the watcher (default 100 ms; each poll scans the records table, "
                             "so faster polling takes server CPU)")
    parser.add_argument("--probe-ms", type=float, default=200, help="interval between latency probe markers (default 200 ms)")
    parser.add_argument("--build-workers", type=int, default=os.cpu_count() or 1, help="processes that pre-build the bodies")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database and server log)")
    parser.add_argument("--py-spy", type=Path, metavar="FILE",
                        help="profile the server with py-spy during the timed phase (FILE.svg flame graph, FILE.json "
                             "speedscope, anything else collapsed stacks); needs py-spy installed")
    args = parser.parse_args(argv)
    if args.url and args.py_spy and not args.pid:
        parser.error("--py-spy with --url needs --pid")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    run_id = f"{seed:x}-{os.getpid()}"
    load_before = os.getloadavg()
    print(f"Spyglass ingest benchmark: {args.spans:,} spans, {args.connections} connections, {args.batch} spans/request, seed {seed}")
    print(f"Machine: {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {cpu_model()}, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, Python {platform.python_version()}, DuckDB {duckdb.__version__}")
    print(f"Load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")

    print("Building request bodies (before the clock starts) ...")
    built = time.perf_counter()
    bodies = build_bodies(seed, args.spans, args.batch, args.build_workers)
    spans_of = [args.batch] * len(bodies)
    spans_of[-1] = args.spans - args.batch * (len(bodies) - 1)
    body_bytes = sum(map(len, bodies))
    print(f"  {len(bodies):,} requests, {body_bytes / 2**20:,.0f} MiB of protobuf "
          f"({body_bytes / args.spans:,.0f} bytes/span on the wire) in {time.perf_counter() - built:.1f} s")

    temp_dir: Path | None = None
    if args.url:
        target = Target(args.url.rstrip("/"), args.pid, args.db)
    else:
        temp_dir = Path(tempfile.mkdtemp(prefix="spyglass-bench-"))
        target = start_server(temp_dir / "spyglass.duckdb")
        print(f"Started spyglass serve (pid {target.pid}) on {target.url}, database {target.db}")

    try:
        return run(args, target, bodies, spans_of, body_bytes, run_id, load_before)
    finally:
        if target.process is not None and target.process.poll() is None:
            target.process.kill()
        if temp_dir is not None:
            if args.keep:
                print(f"Kept {temp_dir}")
            else:
                shutil.rmtree(temp_dir, ignore_errors=True)


def run(args, target: Target, bodies: list[bytes], spans_of: list[int], body_bytes: int, run_id: str, load_before) -> int:
    stats = get_json(target, "/api/stats")
    base_spans = stats.get("records_by_kind", {}).get("span", 0)
    base_logs = stats.get("records_by_kind", {}).get("log", 0)
    size_before = storage_size(target.db) if target.db and target.db.exists() and target.process is None else 0

    rss = RssSampler(target.pid) if target.pid else None
    if rss:
        rss.start()
    profiler = None
    if args.py_spy:
        profiler = start_py_spy(args.py_spy, target.pid)
    watcher = Watcher(target, args.poll_ms / 1000, base_spans, base_logs)
    probe = Probe(target, watcher, args.probe_ms / 1000, run_id)
    results = SendResults()
    stop = threading.Event()
    next_index = itertools.count()  # next() on itertools.count is atomic under the GIL

    print(f"Sending {len(bodies):,} requests ...")
    cpu_client = os.times()
    cpu_server = server_cpu_seconds(target.pid)
    started = time.perf_counter()
    watcher.start()
    probe.start()
    threads = [
        threading.Thread(target=sender, args=(target, bodies, spans_of, next_index, results, stop), name=f"sender-{i}")
        for i in range(args.connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent_done = time.perf_counter()
    acked_spans = sum(s.spans for s in results.sent)
    everything = watcher.wait_for(lambda s: s.spans >= acked_spans, started, timeout=120)
    probe.stop.set()
    probe.join(150)
    watcher.stop.set()
    watcher.join(60)
    ended = time.perf_counter()
    cpu_client_used = sum(os.times()[:2]) - sum(cpu_client[:2])
    cpu_server_end = server_cpu_seconds(target.pid)
    cpu_server_used = None if cpu_server is None or cpu_server_end is None else cpu_server_end - cpu_server
    load_after = os.getloadavg()
    if profiler is not None:
        stop_py_spy(profiler, args.py_spy)
    if rss:
        rss.stop.set()
        rss.join()
        peak_rss = max(rss.peak, 0) or None
    else:
        peak_rss = None

    last_ack = max((s.acked_at for s in results.sent), default=sent_done)
    accepted_rate = acked_spans / (last_ack - started)
    e2e_seconds = (everything.answered_at - started) if everything else None
    e2e_rate = acked_spans / e2e_seconds if e2e_seconds else None
    latencies = [s.latency for s in results.sent]
    acks = sorted(s.acked_at for s in results.sent)
    longest_stall = max((b - a for a, b in zip([started, *acks], acks)), default=0.0)
    retries_503 = sum(s.retries_503 for s in results.sent)
    reconnects = sum(s.reconnects for s in results.sent)

    # --- stop, measure the disk, count what was stored ---
    shutdown_s = stored = distinct = markers_stored = None
    disk = None
    disk_note = ""
    if target.process is not None:
        print("Stopping the server with SIGTERM (drain + checkpoint) ...")
        shutdown_s = stop_server(target)
        disk = storage_size(target.db)
        with duckdb.connect(str(target.db), read_only=True) as con:
            stored, distinct = con.execute(
                "SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM records WHERE kind = 'span'"
            ).fetchall()[0]
            markers_stored = con.execute("SELECT count(*) FROM records WHERE kind = 'log'").fetchall()[0][0]
            bulk = con.execute("SELECT count(*) FROM bulk_records").fetchall()[0][0]
            print(f"  {bulk:,} of {stored + markers_stored:,} records were stored in whole row groups (bulk_records)")
    elif target.db and target.db.exists():
        disk = storage_size(target.db) - size_before
        disk_note = " (server still running: growth of .duckdb + .wal, not checkpointed)"
        final = get_json(target, "/api/stats").get("records_by_kind", {})
        stored = final.get("span", 0) - base_spans
    else:
        final = get_json(target, "/api/stats").get("records_by_kind", {})
        stored = final.get("span", 0) - base_spans
    markers_sent = probe.markers

    # --- report ---
    wall = ended - started
    p99_request = percentile(latencies, 99)
    p99_probe = percentile(probe.visible_latencies, 99)
    bytes_per_span = disk / stored if disk is not None and stored else None
    print()
    print(f"Results ({args.spans:,} spans, {len(bodies):,} requests of {args.batch}, {args.connections} connections, "
          f"{body_bytes / 2**20:,.0f} MiB of protobuf, {body_bytes / (last_ack - started) / 2**20:,.1f} MiB/s)")
    rows = [
        ("figure", "measured", "target", ""),
        ("spans/s accepted (acknowledged 200s)", f"{accepted_rate:,.0f}", "", ""),
        ("spans/s end to end (visible in /api/stats)", f"{e2e_rate:,.0f}" if e2e_rate else "never all visible",
         f">= {TARGET_SPANS_PER_S:,}", verdict(e2e_rate >= TARGET_SPANS_PER_S if e2e_rate else False)),
        ("p50 send->queryable, per request (ack after commit)", f"{percentile(latencies, 50) * 1000:,.0f} ms", "", ""),
        ("p99 send->queryable, per request (ack after commit)", f"{p99_request * 1000:,.0f} ms", f"< {TARGET_P99_S * 1000:,.0f} ms",
         verdict(p99_request < TARGET_P99_S)),
        ("max send->queryable, per request", f"{max(latencies, default=float('nan')) * 1000:,.0f} ms", "", ""),
        (f"p50 send->visible, probe ({len(probe.visible_latencies)} markers)",
         f"{percentile(probe.visible_latencies, 50) * 1000:,.0f} ms", "", ""),
        (f"p99 send->visible, probe ({len(probe.visible_latencies)} markers)", f"{p99_probe * 1000:,.0f} ms",
         f"< {TARGET_P99_S * 1000:,.0f} ms", verdict(p99_probe < TARGET_P99_S if probe.visible_latencies else None)),
        ("p99 send->ack, probe", f"{percentile(probe.ack_latencies, 99) * 1000:,.0f} ms", "", ""),
        ("503 responses (retried after Retry-After)", f"{retries_503:,}", "", ""),
        ("peak RSS of the server (incl. children)", mib(peak_rss), "", ""),
        ("bytes on disk per span" + disk_note, f"{bytes_per_span:,.0f}" if bytes_per_span else "unknown",
         f"<= {TARGET_BYTES_PER_SPAN}", verdict(bytes_per_span <= TARGET_BYTES_PER_SPAN if bytes_per_span else None)),
        ("database size", mib(disk), "", ""),
    ]
    print(table(rows))
    print()
    print(f"Longest time with no acknowledgement on any connection: {longest_stall:.1f} s")
    print(f"Wall time sending {last_ack - started:.1f} s, all visible after "
          f"{'%.1f s' % e2e_seconds if e2e_seconds else 'never'}; shutdown (drain + checkpoint) "
          f"{'%.1f s' % shutdown_s if shutdown_s is not None else 'not done (--url)'}")
    server_cpu = "unknown (no --pid)" if cpu_server_used is None else (
        f"{cpu_server_used:,.1f} s = {cpu_server_used / wall:.2f} of {os.cpu_count()} cores, "
        f"{cpu_server_used / max(acked_spans, 1) * 1e6:,.0f} us per span")
    print(f"Server CPU: {server_cpu}; client CPU (same machine): {cpu_client_used:,.1f} s = {cpu_client_used / wall:.2f} cores")
    print(f"Stats polls: {len(watcher.samples):,} every {args.poll_ms:.0f} ms ({watcher.errors} failed); "
          f"reconnects: {reconnects}; load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    print("Note: the client runs on the same cores as the server; bodies were pre-built, so its CPU is mostly socket I/O "
          "and the stats/probe polling.")

    problems = list(results.failures) + list(probe.failures)
    if stored is not None and stored != acked_spans:
        problems.append(f"stored {stored:,} spans but {acked_spans:,} were acknowledged")
    if acked_spans != args.spans:
        problems.append(f"only {acked_spans:,} of {args.spans:,} spans were acknowledged")
    if distinct is not None and distinct != stored:
        problems.append(f"{stored - distinct:,} stored spans are duplicates (same trace_id, span_id)")
    if markers_stored is not None and markers_stored != markers_sent:
        problems.append(f"stored {markers_stored} probe markers, sent {markers_sent}")
    if stored is not None:
        where = "counted read-only in the stopped database" if target.process is not None else "counted through /api/stats"
        print(f"Check: {stored:,} spans stored ({where}), {acked_spans:,} acknowledged, {args.spans:,} sent"
              + (f", {distinct:,} distinct ids, {markers_stored} of {markers_sent} probe markers" if distinct is not None else ""))
    for problem in problems[:20]:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


def start_py_spy(output: Path, pid: int) -> subprocess.Popen:
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(binary).exists() and not shutil.which(binary):
        sys.exit("--py-spy: py-spy is not installed (pip install py-spy)")
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(output.suffix, "raw")
    command = [binary, "record", "--pid", str(pid), "--rate", "200", "--format", fmt, "--output", str(output),
               "--threads", "--nonblocking", "--subprocesses"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let it attach before the clock starts
    return process


def stop_py_spy(process: subprocess.Popen, output: Path) -> None:
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    print(f"py-spy profile written to {output}" if output.exists() else f"py-spy wrote nothing: {err.decode(errors='replace')[-500:]}")


if __name__ == "__main__":
    sys.exit(main())
