"""The workflows list, the workflow page and their JSON twins on a real server, over records captured
from real DBOS and Temporal runs: filters, one workflow's steps, and clear errors for bad input."""

from html import unescape

import httpx
import pytest

from tests.conftest import start_server
from tests.query.workflow_records import insert, load

RUNS = ("dbos_crash_otel", "temporal_crash_logfire", "temporal_retry_otel")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("pages") / "spyglass.duckdb"
    connection = load(db, *RUNS)
    # a workflow a client started that no worker has picked up yet: only the client's span
    insert(connection, [{
        "trace_id": "c" * 32, "span_id": "c" * 16, "parent_span_id": None, "span_name": "StartWorkflow:waiting",
        "kind": "span", "level": 9, "message": None, "start_timestamp": "2026-01-01T00:00:00+00:00",
        "end_timestamp": "2026-01-01T00:00:00+00:00", "duration": 0.0, "otel_scope_name": "temporalio",
        "attributes": {"temporalWorkflowID": "no-worker-yet"}, "otel_events": None, "otel_status_code": "UNSET",
        "otel_status_message": None, "service_name": "client", "service_instance_id": None, "process_pid": 1,
        "cost_usd": None}])
    connection.close()
    srv = start_server(db)
    yield srv
    srv.stop()


def ids(server, engine: str, children: str = "0") -> list[str]:
    response = httpx.get(f"{server.url}/api/workflows", params={"engine": engine, "children": children})
    return [row["workflow_id"] for row in response.json()["workflows"]]


def test_the_list_filters_by_engine_and_status(server):
    temporal = [w for w in ids(server, "temporal") if w != "no-worker-yet"]
    assert len(temporal) == 2 and all(w.startswith(("research-crash-logfire", "research-retry-otel")) for w in temporal)
    assert len(ids(server, "dbos")) == 1  # top-level workflows only, unless asked
    dbos = ids(server, "dbos", children="1")
    assert len(dbos) == 3  # the workflow and its two child workflows (the agent run)
    page = httpx.get(f"{server.url}/workflows", params={"engine": "temporal", "status": "completed"})
    assert page.status_code == 200
    assert all(w in page.text for w in temporal) and not any(w in page.text for w in dbos)
    running = httpx.get(f"{server.url}/api/workflows", params={"status": "running"}).json()
    assert [row["workflow_id"] for row in running["workflows"]] == ["no-worker-yet"]


def test_one_workflow_as_json_has_its_steps_and_processes(server):
    workflow_id = next(w for w in ids(server, "dbos") if w.count("-") == 3)
    body = httpx.get(f"{server.url}/api/workflows/dbos/{workflow_id}").json()
    assert body["status"] == "completed" and body["recoveries"] == 1
    assert len(body["process_rows"]) == 2
    statuses = sorted(step["status"] for step in body["steps"])
    assert statuses.count("restored") == 2 and statuses.count("interrupted") == 1
    assert {step["workflow_id"] for step in body["steps"]} == {workflow_id, f"{workflow_id}-2-1"}


@pytest.mark.parametrize("path, status, says", [
    ("/workflows?engine=airflow", 400, "engine must be one of temporal, dbos, prefect"),
    ("/workflows?status=done", 400, "status must be one of completed, failed, running"),
    ("/workflows?children=yes", 400, "children must be one of 0, 1"),
    ("/workflows/airflow/x", 400, "engine must be one of"),
    ("/workflows/dbos/no-such-workflow", 404, "no dbos workflow with id 'no-such-workflow'"),
])
def test_bad_page_requests_say_what_was_wrong(server, path, status, says):
    response = httpx.get(server.url + path)
    assert response.status_code == status and says in unescape(response.text)


@pytest.mark.parametrize("path, status, says", [
    ("/api/workflows?engine=airflow", 400, "engine must be one of temporal, dbos, prefect"),
    ("/api/workflows/temporal/no-such-workflow", 404, "no temporal workflow with id 'no-such-workflow'"),
])
def test_bad_api_requests_get_a_json_error(server, path, status, says):
    response = httpx.get(server.url + path)
    assert response.status_code == status and says in response.json()["error"]


def test_a_workflow_no_worker_has_picked_up_yet_is_running_with_no_lanes(server):
    listing = httpx.get(f"{server.url}/workflows")
    assert listing.status_code == 200 and "no-worker-yet" in listing.text
    page = httpx.get(f"{server.url}/workflows/temporal/no-worker-yet")
    assert page.status_code == 200 and 'id="workflow-status">running<' in page.text and "no worker yet" in page.text
    body = httpx.get(f"{server.url}/api/workflows/temporal/no-worker-yet").json()
    assert (body["status"], body["processes"], body["steps"]) == ("running", 0, [])
