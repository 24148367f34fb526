"""What every receiver does with an export: check the token, decode, hand the rows to the writer."""

import hashlib
import time

import anyio.to_thread

from collector.decode import decode_request
from collector.errors import Unauthorized
from collector.writer import Outcome, Writer


class Ingestor:
    """Shared by the HTTP and gRPC receivers, so both behave the same way."""

    def __init__(self, writer: Writer, *, max_body_bytes: int, token: str | None = None):
        self.writer = writer
        self.max_body_bytes = max_body_bytes
        self.token = token

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
        decoded, digest = await anyio.to_thread.run_sync(_decode, signal, body, encoding, received_at_us)
        if decoded.row_count == 0:
            return Outcome(0, decoded.rejected, decoded.error_message)
        return await self.writer.write(signal, digest, decoded)


def _decode(signal: str, body: bytes, encoding: str, received_at_us: int):
    decoded = decode_request(signal, body, encoding, received_at_us)
    digest = hashlib.blake2b(signal.encode() + b"\0" + body, digest_size=16).hexdigest()
    return decoded, digest
