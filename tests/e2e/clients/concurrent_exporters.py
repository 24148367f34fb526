"""Many real OTLP span exporters exporting at the same moment, configured only by OTEL_* variables.

Usage: concurrent_exporters.py THREADS SPANS_PER_THREAD

Each thread has its own TracerProvider + BatchSpanProcessor + OTLPSpanExporter (the package that
OTEL_EXPORTER_OTLP_PROTOCOL names: http/protobuf or grpc), makes one trace of SPANS_PER_THREAD
spans, waits for the others at a barrier, then shuts its provider down so every thread's batch is
exported at once. Against `spyglass serve --max-queued-rows 1` most of them are answered
503/UNAVAILABLE at first; the exporters retry after the server's Retry-After / RetryInfo.

Prints JSON: the trace id of each thread, each export's result, and how many retries the
exporters logged ("Transient error ... retrying").
"""

import json
import logging
import os
import sys
import threading

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def span_exporter_class():
    if os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return OTLPSpanExporter


class RetryCounter(logging.Handler):
    """Counts the exporters' 'Transient error ... retrying' warnings."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.retries = 0
        self.messages: list[str] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        with self._lock:
            self.messages.append(message)
            if "retrying" in message:
                self.retries += 1


class RecordingExporter:
    """Wraps a real exporter to remember each export's result (the processor swallows it)."""

    def __init__(self, exporter, results: list):
        self._exporter = exporter
        self._results = results

    def export(self, batch, *args, **kwargs):
        result = self._exporter.export(batch, *args, **kwargs)
        self._results.append(result.name)
        return result

    def __getattr__(self, name):
        return getattr(self._exporter, name)


def main() -> None:
    threads, spans_per_thread = int(sys.argv[1]), int(sys.argv[2])
    counter = RetryCounter()
    logging.getLogger("opentelemetry.exporter").addHandler(counter)
    exporter_class = span_exporter_class()
    barrier = threading.Barrier(threads)
    trace_ids: list[str | None] = [None] * threads
    results: list[list[str]] = [[] for _ in range(threads)]

    def run(index: int) -> None:
        provider = TracerProvider()
        provider.add_span_processor(
            BatchSpanProcessor(
                RecordingExporter(exporter_class(), results[index]), max_export_batch_size=spans_per_thread
            )
        )
        tracer = provider.get_tracer("spyglass.e2e.concurrent")
        with tracer.start_as_current_span(f"thread {index} root") as root:
            trace_ids[index] = format(root.get_span_context().trace_id, "032x")
            for child in range(spans_per_thread - 1):
                with tracer.start_as_current_span(f"thread {index} child {child}"):
                    pass
        barrier.wait()
        provider.shutdown()

    workers = [threading.Thread(target=run, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    json.dump(
        {"trace_ids": trace_ids, "results": results, "retries": counter.retries, "log": counter.messages[:20]},
        sys.stdout,
    )


if __name__ == "__main__":
    main()
