"""What every receiver does with an export: check the token, decode, hand the rows to the writer.

Protobuf trace exports first try the native fast path (collector/fast_traces.py), which releases
the GIL and so runs in a thread of this process. Everything else (JSON, logs, metrics, and the
spans the fast path leaves to Python) is decoded by pure Python code that holds the GIL: with
`decode_workers` > 0 in worker processes, which hand back Arrow tables (cheap to pickle), so
decoding uses the other cores while this process serves HTTP and the writer commits.
"""

import asyncio
import hashlib
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import anyio.to_thread
import pyarrow as pa

from collector.decode import decode_request
from collector.errors import BadRequest, Overloaded, Unauthorized
from collector.fast_traces import decode_traces_fast, digest
from collector.rows import Batch, to_batch
from collector.writer import Outcome, Writer

log = logging.getLogger("spyglass.ingest")


def decode_batch(signal: str, body: bytes, encoding: str, received_at_us: int) -> tuple[Batch, str]:
    """Bytes of one request -> (Arrow batch, digest of the body). Raises BadRequest."""
    decoded = decode_request(signal, body, encoding, received_at_us)
    try:
        batch = to_batch(decoded)
    except (pa.ArrowException, OverflowError, ValueError, TypeError) as error:
        raise BadRequest(f"a value in this export cannot be stored: {error}") from None
    return batch, request_digest(signal, body)


def request_digest(signal: str, body: bytes) -> str:
    """What recognises a retried request: the signal and the decompressed body. XXH64 with two
    seeds from the native module (0.3 us per span); BLAKE2b-128 where it is not built (2.6 us)."""
    if digest is not None:
        return f"{signal}:{digest(body)}"
    hasher = hashlib.blake2b(signal.encode() + b"\0", digest_size=16)
    hasher.update(body)
    return hasher.hexdigest()


def decode_fast_traces(body: bytes, received_at_us: int) -> tuple[Batch, str] | None:
    """A protobuf trace export through the native fast path, or None when it needs the Python decoder."""
    batch = decode_traces_fast(body, received_at_us)
    return None if batch is None else (batch, request_digest("traces", body))


class DecodePool:
    """Worker processes for decode_batch; replaced if a worker dies (that request gets a 503)."""

    def __init__(self, workers: int):
        self._workers = workers
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: this process runs threads (uvicorn, grpc, DuckDB) that fork would copy mid-flight
        executor = ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("spawn"))
        for _ in range(self._workers):
            executor.submit(int)  # start the workers now rather than on the first export
        return executor

    async def run(self, *args) -> tuple[Batch, str]:
        executor = self._executor
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, decode_batch, *args)
        except BrokenProcessPool:
            log.error("a decode worker died; starting new ones")
            if self._executor is executor:
                self._executor = self._start()
            raise Overloaded("a Spyglass decode worker died while decoding this export; retry it") from None

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class Ingestor:
    """Shared by the HTTP and gRPC receivers, so both behave the same way."""

    def __init__(self, writer: Writer, *, max_body_bytes: int, token: str | None = None,
                 decode_pool: DecodePool | None = None):
        self.writer = writer
        self.max_body_bytes = max_body_bytes
        self.token = token
        self.decode_pool = decode_pool

    def check_token(self, authorization: str | None) -> None:
        """Accept `Authorization: <token>` (what the logfire SDK sends) or `Bearer <token>`."""
        if not self.token:
            return
        presented = (authorization or "").strip()
        if presented.lower().startswith("bearer "):
            presented = presented[7:].strip()
        if presented != self.token:
            raise Unauthorized("missing or wrong token: send the header 'Authorization: <token>' set with --token")

    async def export(self, signal: str, body: bytes, encoding: str) -> Outcome:
        """Store one export request; returns after its rows are committed."""
        received_at_us = time.time_ns() // 1000
        decoded = None
        if signal == "traces" and encoding == "protobuf":  # no thread hop for what only Python decodes
            decoded = await anyio.to_thread.run_sync(decode_fast_traces, body, received_at_us)
        if decoded is not None:
            batch, digest = decoded
        elif self.decode_pool is not None:
            batch, digest = await self.decode_pool.run(signal, body, encoding, received_at_us)
        else:
            batch, digest = await anyio.to_thread.run_sync(decode_batch, signal, body, encoding, received_at_us)
        if batch.row_count == 0:
            return Outcome(0, batch.rejected, batch.error_message)
        return await self.writer.write(signal, digest, batch)
