"""Why an export was refused. Receivers map each to an HTTP status and a gRPC code in one place."""


class IngestError(Exception):
    """An export that Spyglass refuses; the message says what was wrong and what to do."""

    http_status = 400
    retry_after: int | None = None


class BadRequest(IngestError):
    """The body cannot be read as an OTLP export (HTTP 400, gRPC INVALID_ARGUMENT). Not retried."""


class Unauthorized(IngestError):
    """A token is configured and the request did not carry it (HTTP 401, gRPC UNAUTHENTICATED)."""

    http_status = 401


class UnsupportedMediaType(IngestError):
    """Unknown Content-Type or Content-Encoding (HTTP 415)."""

    http_status = 415


class TooLarge(IngestError):
    """The body is larger than the limit after decompression (HTTP 413, gRPC RESOURCE_EXHAUSTED)."""

    http_status = 413


class Overloaded(IngestError):
    """The writer's queue is full or it is shutting down (HTTP 503 + Retry-After, gRPC UNAVAILABLE).

    Exporters retry these after Retry-After seconds, so nothing is lost.
    """

    http_status = 503

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after
