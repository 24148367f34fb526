"""A database filled by real clients, for checking the example queries of docs/schema.md.

`fill_database(db)` starts `spyglass serve` on `db`, sends known telemetry with the real
opentelemetry-sdk exporters (traces and logs over OTLP/HTTP protobuf, metrics over OTLP/gRPC) and
with the real logfire SDK in a subprocess (a tagged log, and a span left open by a SIGKILL so that
only its pending span is stored), then stops the server so the file can be read. Span times are
set explicitly, so durations and quantiles are exact; everything is a few seconds old, so the
examples' "last hour" filters match.
"""

import json
import logging
import os
import re
import select
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.conftest import Server, start_server

CHECKOUT = "checkout"
ASSISTANT = "assistant"
LOGFIRE_SERVICE = "docs-logfire"

# Durations (seconds) of the three `load order` spans: p95 = 0.2 + 0.9 * (0.3 - 0.2) = 0.29.
LOAD_ORDER_SECONDS = (0.3, 0.1, 0.2)
# (input tokens, output tokens, cost in USD) of the two `chat gpt-4o` calls of the agent run.
CHAT_CALLS = ((120, 20, 0.0005), (230, 40, 0.0009))
# Histogram values (ms) recorded before the first and before the second metric export.
DURATIONS_MS = ((4.0, 20.0, 300.0), (300.0, 1200.0))
DURATION_BOUNDS_MS = (10.0, 100.0, 1000.0)
# Counter increments before the first and the second export (cumulative points: 2, then 3).
ORDERS_CREATED = (2, 1)

# Run with `python -c`: there is no source file, so logfire's f-string introspection is turned off
# (otherwise it logs a warning record of its own).
LOGFIRE_CLIENT = """
import time
import logfire
logfire.configure(inspect_arguments=False)
logfire.info("order {order_id} shipped", order_id=7, _tags=["shipping"])
with logfire.span("nightly export {day}", day="mon") as span:
    logfire.force_flush()
    context = span.get_span_context()
    print(format(context.trace_id, "032x"), format(context.span_id, "016x"), flush=True)
    time.sleep(600)
"""


@dataclass
class Sent:
    """Ids of what was sent, for precise assertions."""

    request_traces: list[str] = field(default_factory=list)  # the three GET /orders/{id} traces
    failed_trace: str = ""  # the trace whose `charge card` span raised ValueError
    charge_span: str = ""
    agent_trace: str = ""
    chat_spans: list[str] = field(default_factory=list)
    pending_trace: str = ""  # logfire's `nightly export`, killed while open
    pending_span: str = ""


def hex_ids(span) -> tuple[str, str]:
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def fill_database(db: Path) -> Sent:
    """Start a server on `db`, send everything, stop the server (SIGTERM drains the writer)."""
    server = start_server(db)
    try:
        client = start_logfire_client(server, db.parent)
        try:
            sent = send_otel(server)
            sent.pending_trace, sent.pending_span = read_ids(client)
        finally:
            client.kill()  # SIGKILL while `nightly export` is open: only its pending span was sent
            client.wait()
    except BaseException:
        server.stop()
        raise
    # uvicorn re-raises SIGTERM after a clean shutdown, having drained the writer
    assert server.stop() == -signal.SIGTERM, server.output()
    return sent


def read_ids(client: subprocess.Popen, timeout: float = 60) -> tuple[str, str]:
    """The trace and span id the logfire client prints once its span is open and flushed."""
    ready, _, _ = select.select([client.stdout], [], [], timeout)
    line = client.stdout.readline().split() if ready else []
    if len(line) != 2:
        client.kill()
        raise AssertionError(f"the logfire client did not report its span:\n{client.communicate()[1]}")
    return line[0], line[1]


def start_logfire_client(server: Server, cwd: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOGFIRE_", "OTEL_"))}
    env.update(
        LOGFIRE_TOKEN="docs-token",
        LOGFIRE_BASE_URL=server.url,
        LOGFIRE_SEND_TO_LOGFIRE="true",
        LOGFIRE_CONSOLE="false",
        LOGFIRE_SERVICE_NAME=LOGFIRE_SERVICE,
    )
    return subprocess.Popen(
        [sys.executable, "-c", LOGFIRE_CLIENT], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def send_otel(server: Server) -> Sent:
    """Traces and logs over OTLP/HTTP, metrics over OTLP/gRPC, with the opentelemetry-sdk."""
    sent = Sent()
    checkout = Resource.create({"service.name": CHECKOUT, "service.version": "1.4.2",
                                "deployment.environment.name": "staging"})
    assistant = Resource.create({"service.name": ASSISTANT, "service.version": "0.9.0"})

    logs = LoggerProvider(resource=checkout)
    logs.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{server.url}/v1/logs")))
    logger = logging.getLogger("docs.checkout")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    with warnings.catch_warnings():
        # The SDK's handler is deprecated in favour of opentelemetry-instrumentation-logging (not
        # installed); it is still what most applications use to send stdlib logs over OTLP.
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(level=logging.INFO, logger_provider=logs)
    logger.addHandler(handler)

    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"127.0.0.1:{server.grpc_port}", insecure=True,
                           preferred_temporality={Histogram: AggregationTemporality.DELTA,
                                                  Counter: AggregationTemporality.CUMULATIVE}),
        export_interval_millis=3_600_000,
    )
    meters = MeterProvider(resource=checkout, metric_readers=[reader])
    meter = meters.get_meter("docs.checkout")
    orders_created = meter.create_counter("orders.created", unit="{order}", description="Orders created")
    request_duration = meter.create_histogram("http.server.request.duration", unit="ms",
                                              explicit_bucket_boundaries_advisory=DURATION_BOUNDS_MS)

    tracers = {}
    for resource in (checkout, assistant):
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{server.url}/v1/traces")))
        tracers[resource.attributes["service.name"]] = provider
    try:
        send_checkout(tracers[CHECKOUT].get_tracer("docs.example", "1.0"), sent,
                      Instruments(logger, orders_created, request_duration, meters))
        send_agent_run(tracers[ASSISTANT].get_tracer("docs.example", "1.0"), sent)
    finally:  # shutting down flushes: each exporter has had its answer when this returns
        for provider in tracers.values():
            provider.shutdown()
        logger.removeHandler(handler)
        logs.shutdown()
        meters.shutdown()
    return sent


@dataclass
class Instruments:
    logger: logging.Logger
    orders_created: Counter
    request_duration: Histogram
    meters: MeterProvider


def send_checkout(tracer, sent: Sent, instruments: Instruments) -> None:
    """Three GET /orders/{id} requests (load order -> SELECT orders), the first with a failing
    `charge card` span and logs at info, warn and error (with an exception) inside its spans."""
    logger = instruments.logger
    base = time.time_ns() - 20 * 10**9
    seconds = 10**9
    for index, load_seconds in enumerate(LOAD_ORDER_SECONDS):
        start = base + index * 2 * seconds
        root = tracer.start_span("GET /orders/{id}", kind=SpanKind.SERVER, start_time=start, attributes={
            "http.request.method": "GET", "http.route": "/orders/{id}", "url.path": f"/orders/{40 + index}",
            "http.response.status_code": 200,
        })
        sent.request_traces.append(hex_ids(root)[0])
        with trace.use_span(root, end_on_exit=False):
            load = tracer.start_span("load order", start_time=start + seconds // 10)
            with trace.use_span(load, end_on_exit=False):
                query = tracer.start_span("SELECT orders", kind=SpanKind.CLIENT, start_time=start + seconds // 10,
                                          attributes={"db.system.name": "postgresql"})
                query.end(end_time=start + seconds // 10 + round(load_seconds * seconds) // 2)
                logger.info("loaded order %d", 40 + index)
            load.end(end_time=start + seconds // 10 + round(load_seconds * seconds))
            for value in DURATIONS_MS[index] if index < len(DURATIONS_MS) else ():
                instruments.request_duration.record(value, {"http.route": "/orders/{id}"})  # in a span: exemplars
            if index == 0:
                charge = tracer.start_span("charge card", start_time=start + seconds // 2)
                try:
                    with trace.use_span(charge, end_on_exit=False, record_exception=True, set_status_on_exception=True):
                        logger.warning("payment provider slow")
                        raise ValueError("card declined")
                except ValueError:
                    pass
                charge.end(end_time=start + 9 * seconds // 10)
                sent.failed_trace, sent.charge_span = hex_ids(charge)
                try:
                    {}["coupon"]
                except KeyError:
                    logger.exception("coupon lookup failed")
            if index < len(ORDERS_CREATED):
                instruments.orders_created.add(ORDERS_CREATED[index], {"channel": "web"})
                instruments.meters.force_flush()  # one metric export each time: two delta histogram points
        root.set_status(Status(StatusCode.OK))
        root.end(end_time=start + seconds)


def send_agent_run(tracer, sent: Sent) -> None:
    """Spans shaped like pydantic-ai's (REFERENCE-SPANS.md): an agent run, two model calls, a tool call."""
    start = time.time_ns() - 10 * 10**9
    ms = 10**6
    total_in = sum(call[0] for call in CHAT_CALLS)
    total_out = sum(call[1] for call in CHAT_CALLS)
    agent = tracer.start_span("invoke_agent support_agent", start_time=start, attributes={
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support_agent",
        "gen_ai.aggregated_usage.input_tokens": total_in, "gen_ai.aggregated_usage.output_tokens": total_out,
        "final_result": "It is sunny in Paris.",
        "logfire.msg": "support_agent run",
    })
    sent.agent_trace = hex_ids(agent)[0]
    messages = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}])
    schema = json.dumps({"type": "object", "properties": {"gen_ai.input.messages": {"type": "array"}}})
    with trace.use_span(agent, end_on_exit=False):
        for index, (tokens_in, tokens_out, cost) in enumerate(CHAT_CALLS):
            chat_start = start + index * 400 * ms
            chat = tracer.start_span("chat gpt-4o", kind=SpanKind.CLIENT, start_time=chat_start, attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": tokens_in, "gen_ai.usage.output_tokens": tokens_out,
                "operation.cost": cost, "gen_ai.input.messages": messages, "logfire.json_schema": schema,
            })
            chat.end(end_time=chat_start + 300 * ms)
            sent.chat_spans.append(hex_ids(chat)[1])
            if index == 0:
                tool = tracer.start_span("execute_tool get_weather", start_time=chat_start + 310 * ms, attributes={
                    "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
                    "gen_ai.tool.call.id": "call_1",
                })
                tool.end(end_time=chat_start + 350 * ms)
    agent.end(end_time=start + 800 * ms)


SQL_BLOCK = re.compile(r"^```sql\n(.*?)^```", re.S | re.M)
HEADING = re.compile(r"^#{2,4} (.+)$", re.M)


@dataclass(frozen=True)
class SqlBlock:
    heading: str  # the nearest heading above the block
    index: int  # 0 for the first block under that heading, 1 for the next, ...
    sql: str

    @property
    def id(self) -> str:
        return f"{self.heading} #{self.index}"


def sql_blocks(markdown: str) -> list[SqlBlock]:
    """Every ```sql block of a markdown text, named by the heading it sits under."""
    headings = [(m.start(), m.group(1).strip()) for m in HEADING.finditer(markdown)]
    blocks: list[SqlBlock] = []
    for match in SQL_BLOCK.finditer(markdown):
        heading = next((text for pos, text in reversed(headings) if pos < match.start()), "")
        index = sum(1 for block in blocks if block.heading == heading)
        blocks.append(SqlBlock(heading, index, match.group(1)))
    return blocks
