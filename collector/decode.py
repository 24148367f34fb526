"""Bytes of one export request -> Decoded rows. The single entry point used by every receiver."""

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.errors import BadRequest
from collector.logs import decode_logs
from collector.metrics import decode_metrics
from collector.otlp_json import parse_json_request
from collector.rows import Decoded
from collector.spans import decode_traces

SIGNALS = {
    "traces": (ExportTraceServiceRequest, decode_traces),
    "logs": (ExportLogsServiceRequest, decode_logs),
    "metrics": (ExportMetricsServiceRequest, decode_metrics),
}


def decode_request(signal: str, body: bytes, encoding: str, received_at_us: int) -> Decoded:
    """Decode an export body ('protobuf' or 'json' encoding) into rows.

    Raises BadRequest when the body as a whole is unreadable; single bad records are only
    counted in Decoded.rejected so the rest of the batch is kept.
    """
    message_type, decode = SIGNALS[signal]
    message: Message = message_type()
    errors: list[str] = []
    if encoding == "json":
        errors = parse_json_request(body, message, signal)
    else:
        try:
            message.ParseFromString(body)
        except DecodeError as error:
            # upb refuses the whole message for invalid UTF-8 or nesting past ~100 levels (OTLP.md 23-24).
            raise BadRequest(f"request body is not a valid OTLP protobuf {signal} export: {error}") from None
    try:
        decoded = decode(message, received_at_us)
    except (ValueError, RecursionError) as error:
        # A resource or scope the decoders cannot read (e.g. an AnyValue kind they do not know)
        # spoils every record under it: refuse the request with 400 rather than fail with 500.
        raise BadRequest(f"request body is not a readable OTLP {signal} export: {error}") from None
    for error in errors:
        decoded.reject(error)
    return decoded
