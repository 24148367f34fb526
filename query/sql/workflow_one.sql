-- One workflow's row of the `workflows` view.
SELECT * FROM workflows WHERE engine = $engine AND workflow_id = $workflow_id
