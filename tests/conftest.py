"""Fixtures shared by all tests: a real `spyglass serve` process on free ports, a DuckDB file in tmp_path."""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """Ask the OS for a free port (never 4317/4318: the machine is shared)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A running `spyglass serve` subprocess."""

    process: subprocess.Popen
    db: Path
    port: int
    grpc_port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict:
        return httpx.get(f"{self.url}/api/stats", timeout=10).json()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")


_STARTED: list[Server] = []


@pytest.fixture(scope="session", autouse=True)
def _no_server_outlives_the_tests():
    """A test that fails halfway must not leave its server running (and holding ports and files)."""
    yield
    for server in _STARTED:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


def start_server(db: Path, *extra: str, env: dict | None = None) -> Server:
    port, grpc_port = free_port(), free_port()
    log = db.with_suffix(f".{port}.log")
    handle = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--db", str(db), "--port", str(port), "--grpc-port", str(grpc_port), *extra],
        cwd=ROOT,
        stdout=handle,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    server = Server(process, db, port, grpc_port, log)
    _STARTED.append(server)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"spyglass exited with {process.returncode}:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/api/stats", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"spyglass did not start in 30 s:\n{server.output()}")


@pytest.fixture
def server(tmp_path):
    srv = start_server(tmp_path / "spyglass.duckdb")
    yield srv
    srv.stop()


def read_db(db: Path, sql: str, params=None) -> list[tuple]:
    """Query a database file that no server holds open any more."""
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "tests" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser). `make test-deps` installs it."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make test-deps` (apt-get install chromium, needs root)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.js_errors = errors
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def export_spans(url: str, build) -> None:
    """Send spans with the real OTel SDK HTTP exporter: `build(tracer)` creates them; flushed before return."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "e2e"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces")))
    build(provider.get_tracer("tests"))
    provider.shutdown()
