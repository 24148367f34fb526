"""The workflow views (query/workflows.sql) on records captured from real DBOS and Temporal runs, and on
the awkward shapes engines really send: duplicate (trace_id, span_id) pairs, parents that never arrive,
parent links that loop, pending spans that never finish, DBOS without its step logs.

tests/e2e/test_workflows.py runs the engines themselves; these tests pin the rules on fixed data.
"""

from collections import Counter

import pytest

from tests.query.workflow_records import insert, load, truth

ENGINES = ("dbos", "temporal")
SCENARIOS = ("complete", "retry", "crash")
TELEMETRY = ("otel", "logfire")
ALL = [f"{engine}_{scenario}_{telemetry}" for engine in ENGINES for scenario in SCENARIOS for telemetry in TELEMETRY]



@pytest.fixture(scope="module")
def everything(tmp_path_factory):
    """All twelve captured runs in one database: the views must keep them apart."""
    return load(tmp_path_factory.mktemp("wf") / "all.duckdb", *ALL)


def test_every_captured_run_is_one_completed_top_level_workflow(everything):
    rows = everything.execute("""
        SELECT engine, split_part(workflow_id, '-', 2) AS scenario, split_part(workflow_id, '-', 3) AS telemetry,
               status, recoveries, retries, processes
        FROM workflows WHERE parent_workflow_id IS NULL ORDER BY ALL""").fetchall()
    expected = sorted((engine, scenario, telemetry, "completed", int(scenario == "crash"), 2 * (scenario == "retry"),
                       1 + (scenario == "crash"))
                      for engine in ENGINES for scenario in SCENARIOS for telemetry in TELEMETRY)
    assert rows == expected


def test_dbos_agent_runs_are_child_workflows_whose_cost_counts_for_the_parent(everything):
    rows = everything.execute("""
        SELECT w.workflow_name, c.workflow_name, g.workflow_name, w.true_cost_usd, g.true_cost_usd
        FROM workflows AS w
        JOIN workflows AS c ON c.parent_workflow_id = w.workflow_id
        JOIN workflows AS g ON g.parent_workflow_id = c.workflow_id
        WHERE w.engine = 'dbos' AND w.workflow_id LIKE 'research-complete-otel-%'""").fetchall()
    assert len(rows) == 1
    parent, child, grandchild, parent_cost, grandchild_cost = rows[0]
    assert (parent, child, grandchild) == ("research_workflow", "researcher.run_sync", "researcher.run")
    assert parent_cost == grandchild_cost == pytest.approx(2 * 0.00018)


def test_temporal_replay_reusing_span_ids_does_not_disturb_the_steps(tmp_path):
    name = "temporal_crash_logfire"
    connection = load(tmp_path / "x.duckdb", name)
    duplicates = connection.execute("""
        SELECT count(*) FROM (SELECT trace_id, span_id FROM records WHERE kind != 'log'
                              GROUP BY ALL HAVING count(DISTINCT span_name) > 1)""").fetchone()[0]
    assert duplicates > 0  # what the real capture holds: the reason for this test
    statuses = Counter(s for (s,) in connection.execute("SELECT status FROM workflow_steps").fetchall())
    assert statuses == {"executed": 7, "restored": 5, "interrupted": 1}


def test_parent_links_that_loop_or_never_arrive_end(tmp_path):
    connection = load(tmp_path / "x.duckdb", "dbos_crash_otel")
    trace = "f" * 32
    base = {"kind": "span", "level": 9, "message": None, "otel_events": None, "otel_status_code": "OK",
            "otel_status_message": None, "service_name": "loop", "service_instance_id": None, "process_pid": 1,
            "cost_usd": None, "trace_id": trace, "duration": 0.001,
            "start_timestamp": "2026-01-01T00:00:00+00:00", "end_timestamp": "2026-01-01T00:00:00.001+00:00"}
    workflow = {"operationType": "workflow", "operationUUID": "looping"}
    step = {"operationType": "step", "operationUUID": "looping"}
    insert(connection, [
        {**base, "span_id": "a" * 16, "parent_span_id": "b" * 16, "span_name": "wf", "otel_scope_name": "dbos-tracer", "attributes": workflow},
        {**base, "span_id": "b" * 16, "parent_span_id": "c" * 16, "span_name": "inner", "otel_scope_name": "x", "attributes": {}},
        {**base, "span_id": "c" * 16, "parent_span_id": "a" * 16, "span_name": "step", "otel_scope_name": "dbos-tracer", "attributes": step},
        {**base, "span_id": "d" * 16, "parent_span_id": "e" * 16, "span_name": "orphan", "otel_scope_name": "dbos-tracer", "attributes": step},
        {**base, "span_id": "e" * 16, "parent_span_id": "d" * 16, "span_name": "x", "otel_scope_name": "x", "attributes": {}},
    ])
    rows = connection.execute("SELECT workflow_id, status, processes FROM workflows WHERE workflow_id = 'looping'").fetchall()
    assert rows == [("looping", "completed", 1)]
    steps = connection.execute("SELECT step_name, status FROM workflow_steps WHERE workflow_id = 'looping' ORDER BY 1").fetchall()
    assert steps == [("orphan", "executed"), ("step", "executed")]


def test_dbos_without_its_step_logs_infers_restored_steps_from_positions(tmp_path):
    connection = load(tmp_path / "x.duckdb", "dbos_crash_otel")
    connection.execute("DELETE FROM stored_records WHERE kind = 'log'")
    rows = connection.execute("""
        SELECT step_name, status, evidence, attempt FROM workflow_steps
        WHERE workflow_id NOT LIKE '%-2-1' ORDER BY started_at""").fetchall()
    # the step in flight when the process died is invisible without its log (its span never arrived)
    assert rows == [
        ("fetch_context", "executed", "span", 1),
        ("flaky_step", "executed", "span", 1),
        ("fetch_context", "restored", "same_position_earlier_run", None),
        ("flaky_step", "restored", "same_position_earlier_run", None),
        ("slow_step", "executed", "span", 1),
        ("finish", "executed", "span", 1),
    ]


def test_a_pending_step_with_nothing_after_it_is_running(tmp_path):
    connection = load(tmp_path / "x.duckdb", "temporal_crash_logfire")
    # the database as it was before the second worker sent anything: only the first worker's records
    first = connection.execute("SELECT min(process_pid) FROM records WHERE process_pid IS NOT NULL").fetchone()[0]
    connection.execute("DELETE FROM stored_records WHERE process_pid != ?", [first])
    connection.execute("DELETE FROM open_pending_spans WHERE process_pid != ?", [first])
    assert connection.execute("SELECT status FROM workflows").fetchall() == [("running",)]
    last = connection.execute("SELECT step_name, status FROM workflow_steps ORDER BY started_at DESC LIMIT 1").fetchall()
    assert last == [("slow_step", "running")]


def test_prefect_cached_tasks_saved_what_the_same_task_took_before(tmp_path):
    connection = load(tmp_path / "x.duckdb", "prefect_crash_otel")
    rows = connection.execute("""
        SELECT step_name, status, duration, saved_seconds FROM workflow_steps ORDER BY started_at""").fetchall()
    executed = [(name, duration) for name, status, duration, _ in rows if status == "executed"]
    restored = [(name, saved) for name, status, _, saved in rows if status == "restored"]
    # the second run's Cached tasks, in order, against the first run's executions of the same tasks
    assert [name for name, _ in restored] == [name for name, _ in executed[:len(restored)]]
    assert [saved for _, saved in restored] == pytest.approx([duration for _, duration in executed[:len(restored)]], abs=1e-5)
    saved = connection.execute("SELECT saved_seconds FROM workflows").fetchone()[0]
    assert saved == pytest.approx(sum(duration for _, duration in executed[:len(restored)]), abs=1e-4)
