"""Spans, logs and metrics from the OpenTelemetry SDK, configured only by OTEL_* environment variables.

Run as a subprocess by tests/e2e/test_exporters.py, so the exporters read the environment exactly
as in a user's program: OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf,
grpc or http/json), OTEL_EXPORTER_OTLP_COMPRESSION, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES.
No exporter or provider gets an argument that the environment could give.

Prints one JSON object on stdout: the ids of everything created (the test's ground truth) and what
each exporter reported.
"""

import json
import logging
import os
import sys
import warnings

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind


def exporter_classes():
    """The exporter package that OTEL_EXPORTER_OTLP_PROTOCOL names, as the SDK's auto-configuration picks it."""
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    elif protocol == "http/json":
        from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.json.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter
    elif protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    else:
        raise SystemExit(f"unknown OTEL_EXPORTER_OTLP_PROTOCOL {protocol!r}")
    return OTLPSpanExporter, OTLPLogExporter, OTLPMetricExporter


def compression_of(exporter) -> str:
    """The compression the exporter took from the environment (gRPC exporters keep a grpc.Compression,
    HTTP exporters a Content-Encoding header), so the test knows the variable was honoured."""
    headers = getattr(getattr(exporter, "_client", None), "_headers", None)
    if headers is not None:
        return headers.get("Content-Encoding", "none")
    compression = getattr(exporter, "_compression", None)  # a grpc.Compression
    return "gzip" if compression is not None and compression.name == "Gzip" else "none"


class RecordingExporter:
    """Wraps a real exporter to remember each export's result (the SDK's processors swallow them)."""

    def __init__(self, exporter, results: list):
        self._exporter = exporter
        self._results = results

    def export(self, batch, *args, **kwargs):
        result = self._exporter.export(batch, *args, **kwargs)
        self._results.append(result.name)
        return result

    def __getattr__(self, name):
        return getattr(self._exporter, name)


def ids(span) -> dict:
    context = span.get_span_context()
    parent = span.parent
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_span_id": format(parent.span_id, "016x") if parent else None,
    }


def main() -> None:
    span_exporter_class, log_exporter_class, metric_exporter_class = exporter_classes()
    results = {"traces": [], "logs": [], "metrics": []}
    span_exporter, log_exporter, metric_exporter = span_exporter_class(), log_exporter_class(), metric_exporter_class()

    tracer_provider = TracerProvider()  # the resource comes from OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES
    tracer_provider.add_span_processor(BatchSpanProcessor(RecordingExporter(span_exporter, results["traces"])))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(RecordingExporter(log_exporter, results["logs"])))
    reader = PeriodicExportingMetricReader(RecordingExporter(metric_exporter, results["metrics"]))
    meter_provider = MeterProvider(metric_readers=[reader])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the SDK's LoggingHandler is deprecated, still shipped
        handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
    log = logging.getLogger("spyglass.e2e.client")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)

    tracer = tracer_provider.get_tracer("spyglass.e2e.tracer", "1.2.3")
    spans = {}
    with tracer.start_as_current_span("e2e link target") as target:
        spans["e2e link target"] = ids(target)
    root_attributes = {
        "http.request.method": "GET",
        "http.route": "/items/{id}",
        "http.response.status_code": 200,
        "e2e.int": 42,
        "e2e.float": 1.5,
        "e2e.bool": True,
        "e2e.strings": ["a", "b"],
    }
    with tracer.start_as_current_span("e2e root", kind=SpanKind.SERVER, attributes=root_attributes) as root:
        spans["e2e root"] = ids(root)
        link = Link(target.get_span_context(), {"e2e.link_reason": "caused by"})
        with tracer.start_as_current_span("e2e child", links=[link]) as child:
            spans["e2e child"] = ids(child)
            log.warning("disk almost full: %d%%", 91)
            try:
                with tracer.start_as_current_span("e2e failing grandchild") as grandchild:
                    spans["e2e failing grandchild"] = ids(grandchild)
                    raise ValueError("boom 42")
            except ValueError:
                pass
            try:
                1 / 0
            except ZeroDivisionError:
                log.exception("division failed")
    log.info("outside any span")

    meter = meter_provider.get_meter("spyglass.e2e.meter", "0.1")
    counter = meter.create_counter("e2e.requests", unit="1", description="requests served")
    counter.add(3, {"route": "/a"})
    counter.add(4, {"route": "/a"})
    counter.add(5, {"route": "/b"})
    histogram = meter.create_histogram("e2e.latency", unit="ms")
    for value in (5, 15, 250):
        histogram.record(value)
    queue = meter.create_up_down_counter("e2e.queue")
    queue.add(10)
    queue.add(-3)
    gauge = meter.create_gauge("e2e.temperature", unit="Cel")
    gauge.set(21.5)
    gauge.set(23.25)

    # shutdown flushes every processor and the metric reader (one final collection and export)
    tracer_provider.shutdown()
    logger_provider.shutdown()
    meter_provider.shutdown()

    json.dump(
        {
            "spans": spans,
            "logs": {
                "disk almost full: 91%": spans["e2e child"],
                "division failed": spans["e2e child"],
                "outside any span": None,
            },
            "results": results,
            "compression": {
                "traces": compression_of(span_exporter),
                "logs": compression_of(log_exporter),
                "metrics": compression_of(metric_exporter),
            },
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
