-- Durable workflows (docs/workflows.md, docs/schema.md): what Temporal, DBOS and Prefect send, as one
-- row per step attempt (`workflow_steps`) and one row per workflow (`workflows`). Applied after
-- schema.sql. Every view reads only the engines' own spans and log records (cheap filters on plain
-- columns first, JSON only on what matched), so they stay fast on a large database.

-- A worker process, as a label: the service and its pid (or the start of its instance id).
CREATE OR REPLACE MACRO process_label(service, pid, instance) AS
    coalesce(service, 'unknown_service') || coalesce(' pid ' || pid, ' ' || left(instance, 8), '');

-- Every span an engine sends about a workflow: the workflow runs themselves ('workflow'), the steps
-- whose bodies run ('step': Temporal activities, DBOS steps, Prefect tasks), the engine's other
-- workflow-side spans ('workflow_event': Temporal's StartActivity, CompleteWorkflow, ...) and the
-- client's ('client': Temporal's StartWorkflow, under which the workflow code's own spans hang).
CREATE OR REPLACE VIEW workflow_spans AS
WITH
temporal AS (  -- temporalio's TracingInterceptor: `{Operation}:{name}` with temporalWorkflowID
    SELECT *, split_part(span_name, ':', 1) AS operation, attributes->>'temporalWorkflowID' AS wf_id
    FROM records
    WHERE kind IN ('span', 'pending_span')
      AND (span_name LIKE 'RunActivity:%' OR span_name LIKE 'StartActivity:%' OR span_name LIKE 'RunWorkflow:%'
           OR span_name LIKE 'CompleteWorkflow:%' OR span_name LIKE 'StartChildWorkflow:%'
           OR span_name LIKE 'Handle%:%' OR span_name LIKE 'StartWorkflow:%' OR span_name LIKE 'SignalWorkflow:%'
           OR span_name LIKE 'SignalWithStartWorkflow:%' OR span_name LIKE 'QueryWorkflow:%'
           OR span_name LIKE 'StartWorkflowUpdate:%' OR span_name LIKE 'SignalExternalWorkflow:%'
           OR span_name LIKE 'StartNexusOperation:%' OR span_name LIKE 'RunStartNexusOperationHandler:%')
),
dbos AS (  -- DBOS: scope dbos-tracer, legacy (operationUUID) or semconv (dbos.operation.*) attributes
    SELECT *, coalesce(attributes->>'dbos.operation.workflow_id', attributes->>'operationUUID') AS wf_id,
           coalesce(attributes->>'dbos.operation.type', attributes->>'operationType') AS operation
    FROM records
    WHERE kind IN ('span', 'pending_span') AND otel_scope_name = 'dbos-tracer'
),
prefect AS (  -- Prefect: one span per flow run and per task run
    SELECT *, attributes->>'prefect.run.type' AS operation, attributes->>'prefect.run.id' AS run_id
    FROM records
    WHERE kind IN ('span', 'pending_span') AND otel_scope_name LIKE 'prefect%'
),
prefect_flows AS (
    SELECT DISTINCT trace_id, span_id, run_id FROM prefect WHERE operation = 'flow'
),
prefect_trace_flow AS (  -- a trace with a single flow run: where a task whose parent is not a flow belongs
    SELECT trace_id, any_value(run_id) AS run_id FROM prefect_flows GROUP BY trace_id HAVING count(DISTINCT run_id) = 1
)
SELECT 'temporal' AS engine, wf_id AS workflow_id,
       CASE operation WHEN 'RunActivity' THEN 'step' WHEN 'RunWorkflow' THEN 'workflow'
                      WHEN 'StartWorkflow' THEN 'client' WHEN 'SignalWithStartWorkflow' THEN 'client' ELSE 'workflow_event' END AS role,
       operation,
       CASE WHEN operation = 'RunActivity' THEN substr(span_name, 13) END AS step_name,
       attributes->>'temporalActivityID' AS step_key,
       attributes->>'temporalRunID' AS run_id,
       NULL AS queue_name,
       trace_id, span_id, parent_span_id, span_name, kind, start_timestamp, end_timestamp, duration,
       otel_status_code, otel_status_message, exception_type, exception_message, otel_events,
       service_name, service_instance_id, process_pid,
       process_label(service_name, process_pid, service_instance_id) AS process
FROM temporal WHERE wf_id IS NOT NULL
UNION ALL
SELECT 'dbos', wf_id,
       CASE WHEN operation = 'workflow' THEN 'workflow' WHEN operation IN ('step', 'transaction', 'procedure') THEN 'step'
            ELSE 'workflow_event' END,
       operation,
       CASE WHEN operation IN ('step', 'transaction', 'procedure') THEN span_name END,
       NULL, NULL,
       coalesce(attributes->>'dbos.queue.name', attributes->>'queueName'),
       trace_id, span_id, parent_span_id, span_name, kind, start_timestamp, end_timestamp, duration,
       otel_status_code, otel_status_message, exception_type, exception_message, otel_events,
       service_name, service_instance_id, process_pid,
       process_label(service_name, process_pid, service_instance_id)
FROM dbos WHERE wf_id IS NOT NULL
UNION ALL
SELECT 'prefect', CASE WHEN p.operation = 'flow' THEN p.run_id ELSE coalesce(f.run_id, t.run_id) END,
       CASE WHEN p.operation = 'flow' THEN 'workflow' ELSE 'step' END,
       p.operation,
       -- task run names end in a random suffix: fetch_context-55a
       CASE WHEN p.operation = 'task' THEN regexp_replace(coalesce(p.attributes->>'prefect.run.name', p.span_name), '-[0-9a-z]{3}$', '') END,
       CASE WHEN p.operation = 'task' THEN p.run_id END,
       CASE WHEN p.operation = 'flow' THEN p.run_id ELSE coalesce(f.run_id, t.run_id) END,
       NULL,
       p.trace_id, p.span_id, p.parent_span_id, p.span_name, p.kind, p.start_timestamp, p.end_timestamp, p.duration,
       p.otel_status_code, p.otel_status_message, p.exception_type, p.exception_message, p.otel_events,
       p.service_name, p.service_instance_id, p.process_pid,
       process_label(p.service_name, p.process_pid, p.service_instance_id)
FROM prefect AS p
LEFT JOIN prefect_flows AS f ON f.trace_id = p.trace_id AND f.span_id = p.parent_span_id AND p.operation = 'task'
LEFT JOIN prefect_trace_flow AS t ON t.trace_id = p.trace_id AND p.operation = 'task'
WHERE p.operation IN ('flow', 'task') AND (p.operation = 'flow' OR coalesce(f.run_id, t.run_id) IS NOT NULL);

-- Prefect: the span of the flow run each task ran in: the nearest flow span above the task, through
-- the agent, model and tool spans pydantic-ai puts between them (its model-request tasks are children
-- of `chat` spans). When the chain breaks first (the flow span never arrived: its process was killed
-- with the flow run open), the missing parent's id stands for that run of the flow (`flow_span_lost`).
CREATE OR REPLACE VIEW prefect_task_flow_spans AS
WITH RECURSIVE
tasks AS MATERIALIZED (SELECT DISTINCT trace_id, span_id, parent_span_id, workflow_id FROM workflow_spans
          WHERE engine = 'prefect' AND role = 'step' AND parent_span_id IS NOT NULL),
flows AS MATERIALIZED (SELECT DISTINCT trace_id, span_id FROM workflow_spans WHERE engine = 'prefect' AND role = 'workflow'),
trace_spans AS MATERIALIZED (
    SELECT DISTINCT trace_id, span_id, parent_span_id FROM records
    WHERE kind IN ('span', 'pending_span') AND trace_id IN (SELECT trace_id FROM tasks)
),
up(trace_id, span_id, workflow_id, ancestor_id, depth) AS (
    SELECT trace_id, span_id, workflow_id, parent_span_id, 0 FROM tasks
    UNION ALL
    SELECT u.trace_id, u.span_id, u.workflow_id, s.parent_span_id, u.depth + 1
    FROM up AS u JOIN trace_spans AS s ON s.trace_id = u.trace_id AND s.span_id = u.ancestor_id
    WHERE u.depth < 32 AND s.parent_span_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM flows AS f WHERE f.trace_id = u.trace_id AND f.span_id = u.ancestor_id)
)
SELECT u.trace_id, u.span_id, u.workflow_id, u.flow_span_id,
       NOT EXISTS (SELECT 1 FROM trace_spans AS s WHERE s.trace_id = u.trace_id AND s.span_id = u.flow_span_id) AS flow_span_lost
FROM (SELECT trace_id, span_id, any_value(workflow_id) AS workflow_id, arg_max(ancestor_id, depth) AS flow_span_id
      FROM up GROUP BY trace_id, span_id) AS u;

-- DBOS's DEBUG log records `Running step, id: N, name: X` (the body ran) and `Replaying step, id: N,
-- name: X` (the result came from the system database): the strongest evidence there is. Each is a
-- child of the step's span (span_id here is that span's id).
CREATE OR REPLACE VIEW dbos_step_logs AS
SELECT trace_id, parent_span_id AS span_id, start_timestamp,
       CASE WHEN coalesce(message, log_body) LIKE 'Replaying step%' THEN 'restored' ELSE 'executed' END AS evidence,
       TRY_CAST(regexp_extract(coalesce(message, log_body), 'id: (\d+)', 1) AS BIGINT) AS step_position,
       regexp_extract(coalesce(message, log_body), 'name: (.*)$', 1) AS step_name,
       coalesce(attributes->>'dbos.operation.workflow_id', attributes->>'operationUUID') AS workflow_id,
       service_name, service_instance_id, process_pid,
       process_label(service_name, process_pid, service_instance_id) AS process
FROM records
WHERE kind = 'log' AND (coalesce(message, log_body) LIKE 'Running step, id: %' OR coalesce(message, log_body) LIKE 'Replaying step, id: %');

-- One row per attempt of each step, with one status: executed, restored, retried, failed,
-- interrupted or running (docs/workflows.md says which evidence decides each).
CREATE OR REPLACE VIEW workflow_steps AS
WITH
spans AS MATERIALIZED (SELECT * FROM workflow_spans),
steps AS (
    SELECT s.*,
           l.evidence AS log_evidence,
           l.step_position AS log_position,
           -- where the step stands among the steps of its workflow run (its trace), by start time
           row_number() OVER (PARTITION BY s.engine, s.workflow_id, s.trace_id, s.role
                              ORDER BY s.start_timestamp, s.span_id) AS ordinal
    FROM spans AS s
    LEFT JOIN (SELECT trace_id, span_id, any_value(evidence) AS evidence, any_value(step_position) AS step_position
               FROM dbos_step_logs GROUP BY trace_id, span_id) AS l
           ON s.engine = 'dbos' AND l.trace_id = s.trace_id AND l.span_id = s.span_id
    WHERE s.role = 'step'
),
-- the processes that ran a workflow's own code (not only its steps), in the order they joined it
workflow_processes AS (
    SELECT engine, workflow_id, process, any_value(process_pid) AS process_pid, min(start_timestamp) AS joined_at,
           max(coalesce(end_timestamp, start_timestamp)) AS last_seen
    FROM spans WHERE role IN ('workflow', 'workflow_event')
    GROUP BY engine, workflow_id, process
),
failures AS (  -- the attempts before the last, recorded as events of the step's one span (DBOS, Prefect)
    SELECT trace_id, span_id, engine, event_time, error,
           row_number() OVER (PARTITION BY trace_id, span_id ORDER BY event_time) AS attempt
    FROM (
        SELECT trace_id, span_id, engine,
               CAST(event->>'timestamp' AS TIMESTAMPTZ) AS event_time,
               coalesce(event->'attributes'->>'error',
                        (event->'attributes'->>'exception.type') || ': ' || (event->'attributes'->>'exception.message'),
                        event->'attributes'->>'exception.message') AS error,
               event->>'name' AS event_name
        FROM (SELECT trace_id, span_id, engine, unnest(CAST(otel_events AS JSON[])) AS event
              FROM steps WHERE engine IN ('dbos', 'prefect') AND otel_events IS NOT NULL)
    )
    WHERE (engine = 'dbos' AND event_name LIKE 'Step attempt % failed')
       OR (engine = 'prefect' AND event_name = 'exception')
),
failure_counts AS (
    SELECT trace_id, span_id, count(*) AS n, list(event_time ORDER BY event_time) AS failure_times
    FROM failures GROUP BY trace_id, span_id
),
attempted AS (  -- DBOS and Prefect: the final attempt's number (DBOS: one event per failed attempt but
               -- the last, whose error ends the span; Prefect: every failure has its `exception` event)
    SELECT *, CASE WHEN final_attempt = 1 THEN start_timestamp ELSE failure_times[final_attempt - 1] END AS final_started
    FROM (
    SELECT st.*, coalesce(fc.n, 0) AS failed_attempts,
           CASE WHEN st.engine = 'prefect' AND st.otel_status_code = 'ERROR' AND coalesce(fc.n, 0) > 0 THEN fc.n
                ELSE coalesce(fc.n, 0) + 1 END AS final_attempt,
           fc.failure_times,
           -- Temporal: each attempt is its own RunActivity span with the same activity id
           row_number() OVER (PARTITION BY st.engine, st.workflow_id, st.run_id, st.step_key ORDER BY st.start_timestamp, st.span_id) AS temporal_attempt,
           count(*) OVER (PARTITION BY st.engine, st.workflow_id, st.run_id, st.step_key) AS temporal_attempts
    FROM steps AS st
    LEFT JOIN failure_counts AS fc ON fc.trace_id = st.trace_id AND fc.span_id = st.span_id
    )
),
-- DBOS without logs: a step at the same position of an earlier run of the workflow (another trace),
-- with the same name, that finished without error there: this run took its result from the database
dbos_earlier AS (
    SELECT DISTINCT ON (a.trace_id, a.span_id) a.trace_id, a.span_id, b.duration AS original_duration
    FROM attempted AS a
    JOIN attempted AS b
      ON a.engine = 'dbos' AND b.engine = 'dbos' AND b.workflow_id = a.workflow_id AND b.trace_id != a.trace_id
     AND b.ordinal = a.ordinal AND b.step_name = a.step_name
     AND b.start_timestamp < a.start_timestamp AND b.kind = 'span' AND b.otel_status_code != 'ERROR'
     AND coalesce(b.log_evidence, 'executed') = 'executed'
    ORDER BY a.trace_id, a.span_id, b.start_timestamp
),
-- Prefect: a Cached task saved what the same task (by name and order) took when it ran in an
-- earlier run of the flow
prefect_runs AS (
    SELECT a.trace_id, a.span_id, a.workflow_id, a.step_name, a.start_timestamp, a.duration,
           list_contains(CAST(json_extract_string(a.otel_events, '$[*].name') AS VARCHAR[]), 'Cached') AS cached,
           f.flow_span_id,
           row_number() OVER (PARTITION BY a.workflow_id, f.flow_span_id, a.step_name ORDER BY a.start_timestamp, a.span_id) AS nth
    FROM attempted AS a
    JOIN prefect_task_flow_spans AS f ON f.trace_id = a.trace_id AND f.span_id = a.span_id
    WHERE a.engine = 'prefect' AND a.kind = 'span'
),
prefect_earlier AS (
    SELECT DISTINCT ON (c.trace_id, c.span_id) c.trace_id, c.span_id, r.duration AS original_duration
    FROM prefect_runs AS c
    JOIN prefect_runs AS r
      ON c.cached AND NOT r.cached AND r.workflow_id = c.workflow_id AND r.step_name = c.step_name AND r.nth = c.nth
     AND r.flow_span_id != c.flow_span_id AND r.start_timestamp < c.start_timestamp
    ORDER BY c.trace_id, c.span_id, r.start_timestamp DESC
),
-- has a workflow moved on since this span started: a later process ran its code, or it completed
moved_on AS (
    SELECT a.trace_id, a.span_id
    FROM attempted AS a
    WHERE a.kind = 'pending_span' AND (
        EXISTS (SELECT 1 FROM workflow_processes AS p
                WHERE p.engine = a.engine AND p.workflow_id = a.workflow_id AND p.process != a.process
                  AND p.joined_at > a.start_timestamp)
        OR EXISTS (SELECT 1 FROM spans AS s
                   WHERE s.engine = a.engine AND s.workflow_id = a.workflow_id AND s.start_timestamp > a.start_timestamp
                     AND s.process != a.process AND s.role != 'client')
        OR a.temporal_attempt < a.temporal_attempts)
),
final_attempts AS (
    SELECT a.engine, a.workflow_id, a.step_name,
           coalesce(a.log_position, TRY_CAST(a.step_key AS BIGINT), CASE WHEN a.engine = 'dbos' THEN a.ordinal END) AS step_position,
           CASE WHEN a.engine = 'temporal' THEN a.temporal_attempt ELSE a.final_attempt END AS attempt,
           CASE
               WHEN a.kind = 'pending_span' THEN CASE WHEN m.span_id IS NOT NULL THEN 'interrupted' ELSE 'running' END
               WHEN a.engine = 'dbos' AND a.log_evidence = 'restored' THEN 'restored'
               WHEN a.engine = 'prefect' AND list_contains(CAST(json_extract_string(a.otel_events, '$[*].name') AS VARCHAR[]), 'Cached') THEN 'restored'
               WHEN a.engine = 'dbos' AND a.log_evidence IS NULL AND e.span_id IS NOT NULL THEN 'restored'
               WHEN a.otel_status_code = 'ERROR' THEN
                   CASE WHEN a.engine = 'temporal' AND a.temporal_attempt < a.temporal_attempts THEN 'retried' ELSE 'failed' END
               -- Temporal ran the activity again although this attempt's body finished: the server did
               -- not take its result (it timed out, or its worker was lost before reporting)
               WHEN a.engine = 'temporal' AND a.temporal_attempt < a.temporal_attempts THEN 'retried'
               ELSE 'executed'
           END AS status,
           CASE WHEN a.engine = 'dbos' AND a.log_evidence = 'restored' THEN 'dbos_log'
                WHEN a.engine = 'dbos' AND a.log_evidence = 'executed' THEN 'dbos_log'
                WHEN a.engine = 'prefect' AND list_contains(CAST(json_extract_string(a.otel_events, '$[*].name') AS VARCHAR[]), 'Cached') THEN 'prefect_cached'
                WHEN a.engine = 'dbos' AND e.span_id IS NOT NULL THEN 'same_position_earlier_run'
                WHEN a.kind = 'pending_span' THEN 'pending_span'
                ELSE 'span' END AS evidence,
           a.final_started AS started_at,
           CASE WHEN a.end_timestamp IS NOT NULL THEN epoch(a.end_timestamp - a.final_started) END AS duration,
           a.process, a.process_pid, a.trace_id, a.span_id,
           CASE WHEN a.otel_status_code = 'ERROR'
                THEN coalesce(a.exception_type || ': ' || a.exception_message, a.otel_status_message, a.exception_type, 'error')
                WHEN a.engine = 'temporal' AND a.temporal_attempt < a.temporal_attempts AND a.kind = 'span'
                THEN 'finished, but the engine ran it again: its result was not taken (a timeout, or its worker was lost)'
           END AS error,
           coalesce(e.original_duration, pe.original_duration) AS saved_seconds,
           CASE a.engine WHEN 'temporal' THEN a.run_id || '/' || a.step_key WHEN 'prefect' THEN a.step_key ELSE a.step_name || '#' || coalesce(a.log_position, a.ordinal) END AS attempt_key
    FROM attempted AS a
    LEFT JOIN dbos_earlier AS e ON e.trace_id = a.trace_id AND e.span_id = a.span_id
    LEFT JOIN prefect_earlier AS pe ON pe.trace_id = a.trace_id AND pe.span_id = a.span_id
    LEFT JOIN moved_on AS m ON m.trace_id = a.trace_id AND m.span_id = a.span_id
),
earlier_attempts AS (  -- DBOS and Prefect: the failed attempts recorded as events on the step's span
    SELECT a.engine, a.workflow_id, a.step_name,
           coalesce(a.log_position, TRY_CAST(a.step_key AS BIGINT), CASE WHEN a.engine = 'dbos' THEN a.ordinal END),
           f.attempt,
           CASE WHEN f.attempt < a.final_attempt THEN 'retried' ELSE 'failed' END,
           'span_event',
           coalesce(lag(f.event_time) OVER (PARTITION BY f.trace_id, f.span_id ORDER BY f.attempt), a.start_timestamp),
           epoch(f.event_time - coalesce(lag(f.event_time) OVER (PARTITION BY f.trace_id, f.span_id ORDER BY f.attempt), a.start_timestamp)),
           a.process, a.process_pid, a.trace_id, a.span_id, f.error, CAST(NULL AS DOUBLE),
           CASE a.engine WHEN 'temporal' THEN a.run_id || '/' || a.step_key WHEN 'prefect' THEN a.step_key ELSE a.step_name || '#' || coalesce(a.log_position, a.ordinal) END
    FROM failures AS f
    JOIN attempted AS a ON a.trace_id = f.trace_id AND a.span_id = f.span_id
    WHERE f.attempt < a.final_attempt
),
-- DBOS: a `Running step` log whose span never arrived: the body started and its process died
dbos_lost AS (
    SELECT 'dbos', l.workflow_id, l.step_name, l.step_position, 1,
           CASE WHEN EXISTS (SELECT 1 FROM spans AS o WHERE o.engine = 'dbos' AND o.workflow_id = l.workflow_id
                                                       AND o.start_timestamp > l.start_timestamp AND o.trace_id != l.trace_id)
                THEN 'interrupted' ELSE 'running' END,
           'dbos_log', l.start_timestamp, CAST(NULL AS DOUBLE), l.process, l.process_pid, l.trace_id, l.span_id,
           CAST(NULL AS VARCHAR), CAST(NULL AS DOUBLE), l.step_name || '#' || l.step_position
    FROM dbos_step_logs AS l
    WHERE l.evidence = 'executed' AND l.workflow_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM spans AS x WHERE x.trace_id = l.trace_id AND x.span_id = l.span_id)
),
-- Temporal sends nothing for replayed work. When a later process ran a workflow's code, it replayed
-- the history: every step another process had finished before then was restored, not run again.
temporal_restored AS (
    SELECT f.engine, f.workflow_id, f.step_name, f.step_position, CAST(NULL AS BIGINT), 'restored',
           'earlier_worker', p.joined_at, CAST(NULL AS DOUBLE), p.process, p.process_pid, f.trace_id,
           CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), f.duration, f.attempt_key
    FROM final_attempts AS f
    JOIN workflow_processes AS p
      ON p.engine = f.engine AND p.workflow_id = f.workflow_id AND p.process != f.process
     AND p.joined_at >= f.started_at + to_microseconds(CAST(coalesce(f.duration, 0) * 1e6 AS BIGINT))
     AND p.joined_at > (SELECT min(joined_at) FROM workflow_processes AS q WHERE q.engine = p.engine AND q.workflow_id = p.workflow_id)
    WHERE f.engine = 'temporal' AND f.status = 'executed'
)
-- attempts are numbered per step across processes and runs (a step interrupted by a crash and run
-- again by the recovering process is attempt 2); a restored step ran no body: no attempt number
SELECT engine, workflow_id, step_name, step_position,
       CASE WHEN status != 'restored'
            THEN row_number() OVER (PARTITION BY engine, workflow_id, attempt_key, status = 'restored'
                                    ORDER BY started_at, attempt, span_id) END AS attempt,
       status, evidence, started_at, duration, process, process_pid, trace_id, span_id, error, saved_seconds
FROM (
    SELECT * FROM final_attempts
    UNION ALL SELECT * FROM earlier_attempts
    UNION ALL SELECT * FROM dbos_lost
    UNION ALL SELECT * FROM temporal_restored
);

-- Which workflow each span belongs to: the nearest engine span above it (bounded: a bad parent
-- link cannot loop). Seeds are the engines' own spans; everything under them (agent runs, model
-- calls, tools) belongs to the same workflow. A Prefect flow span or DBOS workflow span that never
-- arrived (its process was killed while it was open) is a seed too, by the id its tasks or steps
-- name as parent, so the killed run's agent and model spans have an owner.
CREATE OR REPLACE VIEW workflow_span_owners AS
WITH RECURSIVE
spans AS MATERIALIZED (SELECT * FROM workflow_spans),
trace_spans AS MATERIALIZED (
    SELECT DISTINCT trace_id, span_id, parent_span_id FROM records
    WHERE kind IN ('span', 'pending_span') AND trace_id IN (SELECT trace_id FROM spans)
),
-- from each DBOS step up through the spans that are no engine's (pydantic-ai's `chat` and
-- `invoke_agent` sit between a model-request step and its workflow span)
dbos_step_ancestry(trace_id, span_id, parent_span_id, engine, workflow_id, depth) AS (
    SELECT trace_id, span_id, parent_span_id, engine, workflow_id, 0 FROM spans WHERE engine = 'dbos' AND role = 'step'
    UNION
    SELECT t.trace_id, t.span_id, t.parent_span_id, u.engine, u.workflow_id, u.depth + 1
    FROM dbos_step_ancestry AS u
    JOIN trace_spans AS t ON t.trace_id = u.trace_id AND t.span_id = u.parent_span_id
    WHERE u.depth < 16 AND NOT EXISTS (SELECT 1 FROM spans AS e WHERE e.trace_id = t.trace_id AND e.span_id = t.span_id)
),
seeds AS MATERIALIZED (
    SELECT trace_id, span_id, engine, workflow_id FROM spans
    UNION
    SELECT trace_id, flow_span_id, 'prefect', workflow_id FROM prefect_task_flow_spans WHERE flow_span_lost
    UNION  -- likewise a DBOS workflow span that never arrived: where its steps' ancestry ends
    SELECT DISTINCT u.trace_id, u.parent_span_id, u.engine, u.workflow_id
    FROM dbos_step_ancestry AS u
    WHERE u.parent_span_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM trace_spans AS t WHERE t.trace_id = u.trace_id AND t.span_id = u.parent_span_id)
),
owned(trace_id, span_id, engine, workflow_id, origin_span_id, depth) AS (
    SELECT trace_id, span_id, engine, workflow_id, span_id, 0 FROM seeds
    UNION
    SELECT c.trace_id, c.span_id, o.engine, o.workflow_id, o.origin_span_id, o.depth + 1
    FROM owned AS o
    JOIN trace_spans AS c ON c.trace_id = o.trace_id AND c.parent_span_id = o.span_id
    WHERE o.depth < 32 AND NOT EXISTS (SELECT 1 FROM seeds AS s WHERE s.trace_id = c.trace_id AND s.span_id = c.span_id)
)
SELECT trace_id, span_id, arg_min(engine, depth) AS engine, arg_min(workflow_id, depth) AS workflow_id,
       arg_min(origin_span_id, depth) AS origin_span_id
FROM owned GROUP BY trace_id, span_id;

-- A workflow started by another one's code (a DBOS child workflow: pydantic-ai's DBOSAgent runs
-- each agent run as one) has that one as its parent: the owner of its span's parent span, or for
-- DBOS, whose child ids are `{parent id}-{step id}`, the workflow with that id.
CREATE OR REPLACE VIEW workflow_parents AS
WITH RECURSIVE
spans AS MATERIALIZED (SELECT DISTINCT engine, workflow_id, role, trace_id, span_id, parent_span_id FROM workflow_spans),
runs AS MATERIALIZED (
    SELECT DISTINCT engine, workflow_id, trace_id, parent_span_id FROM spans
    WHERE role = 'workflow' AND parent_span_id IS NOT NULL
),
links AS MATERIALIZED (
    SELECT DISTINCT trace_id, span_id, parent_span_id FROM records
    WHERE kind IN ('span', 'pending_span') AND trace_id IN (SELECT trace_id FROM runs)
),
-- up from each workflow span's parent to the nearest engine span (bounded: links may loop)
up(engine, workflow_id, trace_id, span_id, depth) AS (
    SELECT engine, workflow_id, trace_id, parent_span_id, 1 FROM runs
    UNION
    SELECT u.engine, u.workflow_id, u.trace_id, l.parent_span_id, u.depth + 1
    FROM up AS u JOIN links AS l ON l.trace_id = u.trace_id AND l.span_id = u.span_id
    WHERE u.depth < 32 AND l.parent_span_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM spans AS s WHERE s.trace_id = u.trace_id AND s.span_id = u.span_id)
),
nearest AS (
    SELECT u.engine, u.workflow_id, arg_min(s.workflow_id, u.depth) AS above_id
    FROM up AS u JOIN spans AS s ON s.trace_id = u.trace_id AND s.span_id = u.span_id AND s.engine = u.engine
    GROUP BY u.engine, u.workflow_id
),
by_span AS (SELECT engine, workflow_id, above_id AS parent_workflow_id FROM nearest WHERE above_id != workflow_id),
by_id AS (
    SELECT DISTINCT c.engine, c.workflow_id, p.workflow_id AS parent_workflow_id
    FROM (SELECT DISTINCT engine, workflow_id FROM spans WHERE engine = 'dbos') AS c
    JOIN (SELECT DISTINCT workflow_id FROM spans WHERE engine = 'dbos') AS p
      ON p.workflow_id = regexp_extract(c.workflow_id, '^(.*)-\d+$', 1)
)
SELECT coalesce(s.engine, i.engine) AS engine, coalesce(s.workflow_id, i.workflow_id) AS workflow_id,
       coalesce(s.parent_workflow_id, i.parent_workflow_id) AS parent_workflow_id
FROM by_span AS s FULL JOIN by_id AS i ON i.engine = s.engine AND i.workflow_id = s.workflow_id;

-- One row per workflow (engine, workflow_id): it may span several traces and worker processes.
-- Step counts and costs include the workflow's child workflows'. naive_cost_usd sums every model call sent for it;
-- true_cost_usd counts each real call once, leaving out the calls restored from history (the same
-- response id seen before, as llm_calls.restored; or a call above or under a restored step).
CREATE OR REPLACE VIEW workflows AS
WITH RECURSIVE
spans AS MATERIALIZED (SELECT * FROM workflow_spans),
steps AS MATERIALIZED (SELECT * FROM workflow_steps),
parents AS MATERIALIZED (SELECT * FROM workflow_parents),
family(engine, ancestor_id, workflow_id, depth) AS (  -- every workflow with itself and its descendants
    SELECT DISTINCT engine, workflow_id, workflow_id, 0 FROM spans
    UNION
    SELECT f.engine, f.ancestor_id, p.workflow_id, f.depth + 1
    FROM family AS f JOIN parents AS p ON p.engine = f.engine AND p.parent_workflow_id = f.workflow_id
    WHERE f.depth < 16
),
restored_spans AS (SELECT DISTINCT trace_id, span_id FROM steps WHERE status = 'restored' AND span_id IS NOT NULL),
-- the model calls in the workflows' traces, counted as llm_calls counts them (less a provider SDK's
-- span repeating its parent call's tokens). Read from records, not llm_calls, so that only these
-- traces are scanned.
call_spans AS (
    SELECT m.trace_id, m.span_id, m.start_timestamp, m.cost_usd, m.gen_ai_provider,
           m.attributes->>'gen_ai.response.id' AS response_id
    FROM records AS m
    WHERE m.kind = 'span' AND m.trace_id IN (SELECT trace_id FROM spans)
      AND (m.gen_ai_provider IS NOT NULL OR m.gen_ai_model IS NOT NULL OR m.input_tokens IS NOT NULL OR m.output_tokens IS NOT NULL)
      AND NOT EXISTS (
          SELECT 1 FROM records AS p
          WHERE p.trace_id = m.trace_id AND p.span_id = m.parent_span_id AND p.kind = 'span'
            AND (p.input_tokens IS NOT NULL OR p.output_tokens IS NOT NULL)
            AND p.input_tokens IS NOT DISTINCT FROM m.input_tokens AND p.output_tokens IS NOT DISTINCT FROM m.output_tokens
            AND m.span_name NOT LIKE 'model request attempt%')
),
-- a restored copy: an earlier call had the same response id (as llm_calls.restored), or the call
-- is above or under a restored step span
calls AS (
    SELECT o.engine, o.workflow_id, c.cost_usd,
           (c.response_id IS NOT NULL AND row_number() OVER (PARTITION BY c.response_id, c.gen_ai_provider
                                                             ORDER BY c.start_timestamp, c.span_id) > 1)
           OR EXISTS (SELECT 1 FROM restored_spans AS r WHERE r.trace_id = c.trace_id AND r.span_id = o.origin_span_id)
           OR EXISTS (SELECT 1 FROM spans AS t JOIN restored_spans AS r ON r.trace_id = t.trace_id AND r.span_id = t.span_id
                      WHERE t.trace_id = c.trace_id AND t.parent_span_id = c.span_id) AS restored
    FROM call_spans AS c
    JOIN workflow_span_owners AS o ON o.trace_id = c.trace_id AND o.span_id = c.span_id
),
costs AS (
    SELECT f.engine, f.ancestor_id AS workflow_id, count(*) AS model_calls, count(*) FILTER (WHERE c.restored) AS restored_calls,
           sum(c.cost_usd) AS naive_cost_usd, coalesce(sum(c.cost_usd) FILTER (WHERE NOT c.restored), 0) AS true_cost_usd
    FROM calls AS c JOIN family AS f ON f.engine = c.engine AND f.workflow_id = c.workflow_id
    GROUP BY f.engine, f.ancestor_id
),
has_children AS (SELECT DISTINCT r.trace_id, r.parent_span_id AS span_id FROM records AS r
                 WHERE r.kind IN ('span', 'pending_span') AND r.trace_id IN (SELECT trace_id FROM spans WHERE role = 'workflow')),
-- a run of a workflow: a trace (DBOS: a recovery starts a new one) or a flow span (Prefect: a re-run
-- keeps the trace). A run that only sent back its recorded result (a child workflow span with no
-- steps and no children, as DBOS re-sends on recovery) is not a run.
runs_of AS (
    SELECT engine, workflow_id, count(DISTINCT run_key) AS runs FROM (
        SELECT s.engine, s.workflow_id,
               CASE WHEN s.engine != 'prefect' THEN s.trace_id WHEN s.role = 'workflow' THEN s.span_id
                    ELSE coalesce(pf.flow_span_id, s.parent_span_id) END AS run_key
        FROM spans AS s
        LEFT JOIN prefect_task_flow_spans AS pf ON s.engine = 'prefect' AND s.role = 'step' AND pf.trace_id = s.trace_id AND pf.span_id = s.span_id
        WHERE s.role = 'step'
           OR (s.role = 'workflow' AND EXISTS (SELECT 1 FROM has_children AS h WHERE h.trace_id = s.trace_id AND h.span_id = s.span_id))
    ) GROUP BY engine, workflow_id
),
summary AS (
    SELECT engine, workflow_id,
           coalesce(min(start_timestamp) FILTER (WHERE role != 'client'), min(start_timestamp)) AS started_at,
           max(coalesce(end_timestamp, start_timestamp)) AS last_seen,
           count(DISTINCT process) FILTER (WHERE role != 'client') AS processes,
           count(DISTINCT process) FILTER (WHERE role IN ('workflow', 'workflow_event')) AS code_processes,
           count(DISTINCT trace_id) AS traces,
           arg_min(trace_id, start_timestamp) AS first_trace_id,
           any_value(split_part(span_name, ':', 2)) FILTER (WHERE engine = 'temporal' AND role IN ('workflow', 'workflow_event', 'client')) AS temporal_type,
           arg_max(span_name, start_timestamp) FILTER (WHERE engine != 'temporal' AND role = 'workflow') AS run_name,
           arg_max(kind, start_timestamp) FILTER (WHERE engine != 'temporal' AND role = 'workflow') AS last_run_kind,
           arg_max(otel_status_code, start_timestamp) FILTER (WHERE engine != 'temporal' AND role = 'workflow') AS last_run_status,
           -- a failed workflow's CompleteWorkflow span records the failure as an exception event
           -- (status left unset)
           coalesce(bool_or(operation = 'CompleteWorkflow' AND coalesce(otel_status_code, '') != 'ERROR'
                            AND exception_type IS NULL), false) AS temporal_completed,
           coalesce(bool_or(operation = 'CompleteWorkflow' AND (otel_status_code = 'ERROR' OR exception_type IS NOT NULL)),
                    false) AS temporal_failed
    FROM spans GROUP BY engine, workflow_id
),
step_counts AS (  -- its steps and its child workflows' steps
    SELECT f.engine, f.ancestor_id AS workflow_id,
           count(*) FILTER (WHERE s.status = 'retried') AS retries,
           count(*) FILTER (WHERE s.status = 'restored') AS restored_steps,
           count(*) FILTER (WHERE s.status = 'interrupted') AS interrupted_steps,
           count(*) FILTER (WHERE s.status = 'failed') AS failed_steps,
           sum(s.saved_seconds) FILTER (WHERE s.status = 'restored') AS saved_seconds
    FROM steps AS s JOIN family AS f ON f.engine = s.engine AND f.workflow_id = s.workflow_id
    GROUP BY f.engine, f.ancestor_id
)
SELECT r.engine, r.workflow_id,
       coalesce(r.temporal_type, r.run_name) AS workflow_name,
       p.parent_workflow_id,
       CASE
           WHEN r.engine = 'temporal' THEN CASE WHEN r.temporal_completed THEN 'completed' WHEN r.temporal_failed THEN 'failed' ELSE 'running' END
           WHEN r.last_run_kind = 'span' THEN CASE WHEN r.last_run_status = 'ERROR' THEN 'failed' ELSE 'completed' END
           ELSE 'running'
       END AS status,
       r.started_at,
       CASE WHEN r.engine = 'temporal' AND NOT r.temporal_completed AND NOT r.temporal_failed THEN NULL
            WHEN r.engine != 'temporal' AND r.last_run_kind IS DISTINCT FROM 'span' THEN NULL
            ELSE epoch(r.last_seen - r.started_at) END AS duration,
       r.processes,
       CAST(greatest(CASE WHEN r.engine = 'temporal' THEN r.code_processes ELSE coalesce(ro.runs, 0) END - 1, 0) AS BIGINT) AS recoveries,
       coalesce(sc.retries, 0) AS retries,
       coalesce(sc.restored_steps, 0) AS restored_steps,
       coalesce(sc.interrupted_steps, 0) AS interrupted_steps,
       coalesce(sc.failed_steps, 0) AS failed_steps,
       coalesce(sc.saved_seconds, 0) AS saved_seconds,
       coalesce(c.model_calls, 0) AS model_calls,
       coalesce(c.restored_calls, 0) AS restored_calls,
       c.naive_cost_usd,
       CASE WHEN c.naive_cost_usd IS NOT NULL THEN c.true_cost_usd END AS true_cost_usd,
       r.traces,
       r.first_trace_id AS trace_id
FROM summary AS r
LEFT JOIN parents AS p ON p.engine = r.engine AND p.workflow_id = r.workflow_id
LEFT JOIN runs_of AS ro ON ro.engine = r.engine AND ro.workflow_id = r.workflow_id
LEFT JOIN step_counts AS sc ON sc.engine = r.engine AND sc.workflow_id = r.workflow_id
LEFT JOIN costs AS c ON c.engine = r.engine AND c.workflow_id = r.workflow_id;
