-- One experiment run by the span id of its `evaluate {name}` span (the first, should two traces share it).
SELECT * FROM eval_experiments WHERE span_id = $span_id ORDER BY started_at, trace_id LIMIT 1
