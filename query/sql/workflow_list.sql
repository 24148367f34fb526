-- The workflows page: the newest workflows, optionally of one engine ($engine) and status ($status),
-- top-level ones only unless $children (child workflows show on their parent's page), each with how
-- many child workflows it started.
SELECT w.*, (SELECT count(*) FROM workflow_parents AS p
             WHERE p.engine = w.engine AND p.parent_workflow_id = w.workflow_id) AS child_workflows
FROM workflows AS w
WHERE ($engine IS NULL OR w.engine = $engine) AND ($status IS NULL OR w.status = $status)
  AND ($children OR w.parent_workflow_id IS NULL)
ORDER BY w.started_at DESC, w.engine, w.workflow_id
LIMIT $limit
