-- Every column of the finished records of one trace (pending spans have no end to export).
SELECT *, epoch_us(start_timestamp) AS start_us, epoch_us(end_timestamp) AS end_us
FROM records
WHERE trace_id = $trace_id AND kind != 'pending_span'
ORDER BY start_timestamp, span_id
