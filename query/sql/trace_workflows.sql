-- The durable workflows a trace belongs to (query/workflows.sql), for links from the trace view to
-- the workflow pages: top-level first, at most a handful.
SELECT engine, workflow_id,
       any_value(CASE WHEN engine = 'temporal' THEN split_part(span_name, ':', 2)
                      WHEN role = 'workflow' THEN span_name END) AS workflow_name,
       bool_or(role = 'workflow') AS has_run_span
FROM workflow_spans
WHERE trace_id = $trace_id
GROUP BY engine, workflow_id
ORDER BY length(workflow_id), workflow_id
LIMIT 5
