-- One workflow's step attempts and its child workflows', in the order they happened; restored rows
-- (no span of their own in Temporal) sit where the recovering process picked the workflow up.
{family}
SELECT s.*
FROM workflow_steps AS s
WHERE s.engine = $engine AND s.workflow_id IN (SELECT workflow_id FROM family)
ORDER BY s.started_at, s.step_position NULLS LAST, s.attempt NULLS FIRST, s.span_id
