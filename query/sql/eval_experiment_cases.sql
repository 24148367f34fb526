-- The cases of one experiment run, in dataset order as far as names allow.
SELECT * FROM eval_cases
WHERE trace_id = $trace_id AND experiment_span_id = $span_id
ORDER BY case_name, started_at, span_id
