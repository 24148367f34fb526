-- The traces a workflow (with its child workflows) ran in, oldest first: a DBOS recovery starts a
-- new trace, and each DBOS child workflow recovered on its own may too.
{family}
SELECT trace_id, min(start_timestamp) AS first_seen, count(*) AS engine_spans
FROM workflow_spans
WHERE engine = $engine AND workflow_id IN (SELECT workflow_id FROM family)
GROUP BY trace_id
ORDER BY first_seen, trace_id
