-- The worker processes a workflow (with its child workflows) ran in, one lane each on the workflow
-- page, in the order they first appeared: when each was first and last heard from, and whether it
-- ran the workflow's own code (not only steps). Client spans (Temporal's StartWorkflow) are not a
-- worker's. A process that stopped while the workflow went on elsewhere crashed there. Prefect runs a
-- flow run's tasks in the flow run's own process, and a killed process never sends its open flow span:
-- its task spans are the evidence that it ran the flow's code.
{family}
SELECT process, any_value(process_pid) AS process_pid, any_value(service_name) AS service_name,
       min(start_timestamp) AS first_seen,
       max(coalesce(end_timestamp, start_timestamp)) AS last_seen,
       bool_or((role IN ('workflow', 'workflow_event') OR (engine = 'prefect' AND role = 'step')) AND workflow_id = $workflow_id)
           AS ran_workflow_code,
       count(DISTINCT trace_id) AS traces
FROM workflow_spans
WHERE engine = $engine AND workflow_id IN (SELECT workflow_id FROM family) AND role != 'client'
GROUP BY process
ORDER BY first_seen, process
