-- How far a trace has got: its record count and how many of them are still running.
SELECT count(*) AS records, count(*) FILTER (WHERE kind = 'pending_span') AS running
FROM records
WHERE trace_id = $trace_id
