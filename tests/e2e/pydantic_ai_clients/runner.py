"""Running the pydantic-ai clients against a server, and what they sent: shared by tests/e2e/test_llm_*.py."""

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from genai_prices import Usage, calc_price

from tests.conftest import ROOT, Server
from tests.e2e.pydantic_ai_clients import scenario

CLIENT = Path(__file__).with_name("run_agents.py")
PAI1_PYTHON = ROOT / ".venv-pai1" / "bin" / "python"
POLL_SECONDS = 60


@dataclass(frozen=True)
class Client:
    service: str
    exporter: str
    version: str
    python: Path

    @property
    def computes(self) -> set[str]:
        """Models whose cost this client's pydantic-ai cannot price (Spyglass computes it)."""
        return {scenario.RESEARCH.model} if self.version == "1" else set()


CLIENTS = (
    Client("pai-otel-v1", "otel", "1", PAI1_PYTHON),
    Client("pai-otel-v2", "otel", "2", Path(sys.executable)),
    Client("pai-otel-default", "otel", "default", Path(sys.executable)),
    Client("pai-logfire", "logfire", "default", Path(sys.executable)),
)
CALLS = [(agent, run_index, call) for agent in scenario.AGENTS
         for run_index, run in enumerate(agent.runs) for call in run]


def expected_cost(agent: scenario.Agent, call: scenario.Call) -> float | None:
    if call.error or agent is scenario.LOCAL:
        return None
    usage = Usage(input_tokens=call.input_tokens, output_tokens=call.output_tokens,
                  cache_read_tokens=call.cache_read_tokens, cache_write_tokens=call.cache_write_tokens)
    return float(calc_price(usage, agent.model, provider_id=agent.provider).total_price)


def client_env(server: Server, service: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOGFIRE_", "OTEL_"))}
    env.update(LOGFIRE_TOKEN="any-token", LOGFIRE_BASE_URL=server.url, LOGFIRE_SEND_TO_LOGFIRE="true",
               LOGFIRE_CONSOLE="false", LOGFIRE_SERVICE_NAME=service, PYTHONUNBUFFERED="1")
    return env


def run_clients(server: Server, cwd: Path, clients=CLIENTS) -> None:
    """Run the clients side by side; each exits once everything it sent was answered."""
    assert PAI1_PYTHON.exists(), f"{PAI1_PYTHON} is missing: run `make test-deps` (pydantic-ai 1.x for version 1)"
    processes = []
    for client in clients:
        args = [server.url, client.service] if client.exporter == "otel" else [client.service]
        processes.append((client, subprocess.Popen(
            [str(client.python), str(CLIENT), client.exporter, *args, client.version], cwd=cwd,
            env=client_env(server, client.service), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    for client, process in processes:
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0 and out.strip().endswith("done"), f"{client.service} failed:\n{err}"


def query(server: Server, sql: str) -> list[list]:
    response = httpx.post(f"{server.url}/api/query", json={"sql": sql}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["rows"]


def wait_for_calls(server: Server, services: list[str], per_service: int) -> None:
    """The writer stores batches asynchronously: wait until every client's calls are queryable."""
    names = ", ".join(f"'{s}'" for s in services)
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        counts = dict(query(server, f"SELECT service_name, count(*) FROM llm_calls WHERE service_name IN ({names}) GROUP BY ALL"))
        runs = query(server, f"SELECT count(*) FROM records WHERE service_name IN ({names}) AND kind = 'span' "
                             "AND (span_name LIKE 'invoke_agent %' OR span_name = 'agent run')")[0][0]
        if all(counts.get(s) == per_service for s in services) and runs == len(services) * sum(len(a.runs) for a in scenario.AGENTS):
            return
        assert time.monotonic() < deadline, f"calls stored so far: {counts}, runs: {runs}"
        time.sleep(0.2)
