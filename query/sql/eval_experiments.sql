-- The newest experiment runs (rows of the `eval_experiments` view).
SELECT * FROM eval_experiments ORDER BY started_at DESC, span_id LIMIT $limit
