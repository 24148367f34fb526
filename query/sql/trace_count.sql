-- How many records one trace has (the tree may show only the first ones).
SELECT count(*) FROM records WHERE trace_id = $trace_id
