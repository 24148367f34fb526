"""OTLP/gRPC on its own port: the three Export methods, unary, gzip handled by grpcio (OTLP.md 17-18).

Methods take raw bytes so that decoding errors are ours to report as INVALID_ARGUMENT, exactly as
the HTTP receiver reports them as 400.
"""

import random

import grpc
from google.protobuf.duration_pb2 import Duration

from collector.errors import IngestError, Overloaded, TooLarge, Unauthorized
from collector.http_receiver import export_response
from collector.ingest import Ingestor

SERVICES = {
    "opentelemetry.proto.collector.trace.v1.TraceService": "traces",
    "opentelemetry.proto.collector.logs.v1.LogsService": "logs",
    "opentelemetry.proto.collector.metrics.v1.MetricsService": "metrics",
}


def _retry_info(seconds: int) -> bytes:
    """google.rpc.RetryInfo{retry_delay: Duration}, which OTel exporters read from the
    `google.rpc.retryinfo-bin` trailer and then wait exactly that long.

    The delay is drawn from [seconds, seconds + 1): exporters refused together would otherwise all
    come back at the same instant, and with a short queue most of them would be refused again until
    they run out of tries (the Python exporter gives up after 6 tries or 10 s, so the spread stays small).
    """
    delay = seconds + random.random()
    duration = Duration(seconds=int(delay), nanos=int(delay % 1 * 1e9)).SerializeToString()
    return b"\x0a" + bytes([len(duration)]) + duration  # field 1, length-delimited; a Duration is < 128 bytes


def _status_code(error: IngestError) -> grpc.StatusCode:
    if isinstance(error, Overloaded):
        return grpc.StatusCode.UNAVAILABLE
    if isinstance(error, TooLarge):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(error, Unauthorized):
        return grpc.StatusCode.UNAUTHENTICATED
    return grpc.StatusCode.INVALID_ARGUMENT


def _handler(ingestor: Ingestor, signal: str):
    async def export(body: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            metadata = dict(context.invocation_metadata() or ())
            ingestor.check_token(metadata.get("authorization"))
            if len(body) > ingestor.max_body_bytes:
                raise TooLarge(f"request of {len(body)} bytes is over the {ingestor.max_body_bytes} byte limit")
            outcome = await ingestor.export(signal, body, "protobuf")
        except IngestError as error:
            if error.retry_after:
                context.set_trailing_metadata((("google.rpc.retryinfo-bin", _retry_info(error.retry_after)),))
            await context.abort(_status_code(error), str(error))
        return export_response(signal, outcome).SerializeToString()

    return grpc.unary_unary_rpc_method_handler(export)  # no (de)serializers: raw bytes both ways


def create_grpc_server(ingestor: Ingestor, host: str, port: int) -> tuple[grpc.aio.Server, int]:
    """A grpc.aio server bound to host:port (0 picks a free port); returns it with the bound port."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", ingestor.max_body_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ]
    )
    for service, signal in SERVICES.items():
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {"Export": _handler(ingestor, signal)}),)
        )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"could not bind the gRPC port {host}:{port}; pick another with --grpc-port (0 disables gRPC)")
    return server, bound
