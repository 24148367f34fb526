"""`spyglass demo` against a real server: the examples run offline and Spyglass then shows the game's
crash and recovery, the deep research workflow, and the model comparison."""

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, free_port, start_server
from tests.e2e.workflows.truth import query


def demo(url: str, data_dir) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "web.cli", "demo", "--url", url, "--data-dir", str(data_dir)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("demo") / "spyglass.duckdb")
    yield srv
    srv.stop()


def test_the_demo_fills_every_page(server, tmp_path):
    done = demo(server.url, tmp_path / "state")
    assert done.returncode == 0, done.stdout + done.stderr
    game_id = re.search(r"/workflows/dbos/(demo-game-\d+)", done.stdout).group(1)

    game = query(server.url, f"SELECT * FROM workflows WHERE engine = 'dbos' AND workflow_id = '{game_id}'")
    assert len(game) == 1
    game = game[0]
    assert (game["status"], game["recoveries"], game["processes"]) == ("completed", 1, 2)
    assert game["retries"] >= 1 and game["restored_steps"] >= 1
    assert game["naive_cost_usd"] > game["true_cost_usd"] > 0

    research = query(server.url, "SELECT status, model_calls FROM workflows "
                                 "WHERE engine = 'dbos' AND workflow_name LIKE '%research%' AND parent_workflow_id IS NULL")
    assert len(research) == 1 and research[0]["status"] == "completed" and research[0]["model_calls"] > 0

    experiments = query(server.url, "SELECT count(*) AS n FROM eval_experiments")
    assert experiments[0]["n"] == 3
    live = query(server.url, "SELECT count(DISTINCT trace_id) AS n FROM records WHERE kind = 'span'")
    assert live[0]["n"] >= 4


def test_without_a_server_it_says_how_to_start_one(tmp_path):
    done = demo(f"http://127.0.0.1:{free_port()}", tmp_path / "state")
    assert done.returncode == 2
    assert "no Spyglass answers at" in done.stderr and "make run" in done.stderr
