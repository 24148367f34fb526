"""OTLP/HTTP: POST /v1/traces, /v1/logs, /v1/metrics (protobuf or JSON, optionally gzip).

Follows ../shared/OTLP.md items 1-16: the response uses the request's encoding, partial success for
invalid records, 400 with a google.rpc.Status for a malformed body, 413 past the size limit
(measured after decompression, while streaming), 415 for unknown types and encodings, 503 with
Retry-After when the writer is behind. The Ingestor is taken from `request.app.state.ingestor`.
"""

import json
import random
import zlib

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from collector.errors import BadRequest, IngestError, TooLarge, UnsupportedMediaType
from collector.ingest import Ingestor
from collector.writer import Outcome

PROTOBUF_TYPES = ("application/x-protobuf", "application/protobuf")
JSON_TYPE = "application/json"

# google.rpc.Code for each HTTP status we answer with
RPC_CODES = {400: 3, 401: 16, 413: 8, 415: 3, 503: 14}


def export_response(signal: str, outcome: Outcome):
    """The Export*ServiceResponse for an outcome (shared with the gRPC receiver)."""
    if signal == "traces":
        response = ExportTraceServiceResponse()
        if outcome.rejected:
            response.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=outcome.rejected, error_message=outcome.error_message)
            )
    elif signal == "logs":
        response = ExportLogsServiceResponse()
        if outcome.rejected:
            response.partial_success.CopyFrom(
                ExportLogsPartialSuccess(rejected_log_records=outcome.rejected, error_message=outcome.error_message)
            )
    else:
        response = ExportMetricsServiceResponse()
        if outcome.rejected:
            response.partial_success.CopyFrom(
                ExportMetricsPartialSuccess(rejected_data_points=outcome.rejected, error_message=outcome.error_message)
            )
    return response


def encode_rpc_status(code: int, message: str) -> bytes:
    """A google.rpc.Status message (fields 1: code, 2: message), encoded by hand to avoid a dependency."""
    text = message.encode("utf-8")
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def request_encoding(content_type: str | None) -> str:
    """'protobuf' or 'json' from a Content-Type header (parameters such as charset are ignored)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in PROTOBUF_TYPES:
        return "protobuf"
    if media_type == JSON_TYPE:
        return "json"
    raise UnsupportedMediaType(
        f"unsupported Content-Type {media_type or '(none)'!r}: send application/x-protobuf or application/json"
    )


async def read_body(request: Request, max_bytes: int) -> bytes:
    """Read the body, gunzipping as it streams, and stop as soon as it passes `max_bytes`."""
    content_encoding = request.headers.get("content-encoding", "").strip().lower()
    if content_encoding not in ("", "identity", "gzip"):
        raise UnsupportedMediaType(f"unsupported Content-Encoding {content_encoding!r}: send gzip or no encoding")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"request body of {declared} bytes is over the {max_bytes} byte limit; send smaller batches")
    gunzip = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if content_encoding == "gzip" else None
    # The pieces are joined once at the end: growing one buffer chunk by chunk copied a large body
    # several times over (1 ms of CPU per 1.8 MB export, docs/performance.md).
    pieces: list[bytes] = []
    received = size = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise TooLarge(f"request body is over the {max_bytes} byte limit; send smaller batches")
            if gunzip is None:
                pieces.append(chunk)
                continue
            data = chunk
            while data and not gunzip.eof:
                piece = gunzip.decompress(data, max_bytes + 1 - size)
                pieces.append(piece)
                size += len(piece)
                if size > max_bytes:
                    raise TooLarge(
                        f"request body is over the {max_bytes} byte limit after decompression; send smaller batches"
                    )
                data = gunzip.unconsumed_tail
        if gunzip is not None and received and not gunzip.eof:
            raise BadRequest("gzip body is truncated: the compressed stream ended early")
    except zlib.error as error:
        raise BadRequest(f"body is not valid gzip: {error}") from None
    return b"".join(pieces)


def error_response(error: IngestError, encoding: str | None) -> Response:
    """An error as google.rpc.Status in the request's encoding (JSON when that is unknown)."""
    # Spread the retries: exporters wait exactly Retry-After, so one fixed value brings every
    # refused client back at the same moment into the same full queue.
    headers = {"Retry-After": str(error.retry_after + random.randint(0, 2))} if error.retry_after else None
    code = RPC_CODES.get(error.http_status, 3)
    if encoding == "protobuf":
        return Response(
            encode_rpc_status(code, str(error)),
            status_code=error.http_status,
            media_type="application/x-protobuf",
            headers=headers,
        )
    return JSONResponse({"code": code, "message": str(error)}, status_code=error.http_status, headers=headers)


def otlp_router() -> APIRouter:
    router = APIRouter()

    async def receive(request: Request, signal: str) -> Response:
        ingestor: Ingestor = request.app.state.ingestor
        encoding = None
        try:
            # the encoding first, so that even a 401 answers in the request's encoding (OTLP.md item 8)
            encoding = request_encoding(request.headers.get("content-type"))
            ingestor.check_token(request.headers.get("authorization"))
            body = await read_body(request, ingestor.max_body_bytes)
            outcome = await ingestor.export(signal, body, encoding)
        except IngestError as error:
            return error_response(error, encoding)
        response = export_response(signal, outcome)
        # a retry of a request already stored: answered as the first time, and said so for tools
        headers = {"X-Spyglass-Duplicate": "true"} if outcome.duplicate else None
        if encoding == "json":
            return Response(
                json.dumps(json_format.MessageToDict(response)), media_type=JSON_TYPE, status_code=200, headers=headers
            )
        return Response(response.SerializeToString(), media_type="application/x-protobuf", status_code=200,
                        headers=headers)

    @router.post("/v1/traces", include_in_schema=False)
    async def traces(request: Request) -> Response:
        return await receive(request, "traces")

    @router.post("/v1/logs", include_in_schema=False)
    async def logs(request: Request) -> Response:
        return await receive(request, "logs")

    @router.post("/v1/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        return await receive(request, "metrics")

    @router.get("/v1/info")
    async def info(request: Request) -> Response:
        """What the logfire SDK asks for at start-up; a wrong token makes the SDK warn right away."""
        try:
            request.app.state.ingestor.check_token(request.headers.get("authorization"))
        except IngestError as error:
            return JSONResponse({"detail": str(error)}, status_code=error.http_status)
        return JSONResponse({"project_name": "spyglass", "project_url": str(request.base_url)})

    return router
