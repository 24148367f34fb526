-- The workflows page: the newest workflows, optionally of one engine ($engine) and status ($status).
SELECT *
FROM workflows
WHERE ($engine IS NULL OR engine = $engine) AND ($status IS NULL OR status = $status)
ORDER BY started_at DESC, engine, workflow_id
LIMIT $limit
