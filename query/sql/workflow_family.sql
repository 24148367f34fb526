-- A workflow and its descendants (child workflows: pydantic-ai's DBOSAgent runs each agent run as
-- one), bounded in depth. Not a query of its own: query/workflows.py puts it in front of
-- workflow_step_rows.sql and workflow_processes.sql as {family}.
WITH RECURSIVE
parents AS MATERIALIZED (SELECT * FROM workflow_parents WHERE engine = $engine),
family(workflow_id, depth) AS (
    SELECT CAST($workflow_id AS VARCHAR), 0
    UNION
    SELECT p.workflow_id, f.depth + 1
    FROM family AS f JOIN parents AS p ON p.parent_workflow_id = f.workflow_id
    WHERE f.depth < 16
)
