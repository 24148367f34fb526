-- All records of one trace, oldest first.
SELECT span_id, parent_span_id, kind, level, span_name, message, start_timestamp, end_timestamp, duration,
       otel_status_code, is_exception, exception_type, exception_message, service_name, attributes
FROM records
WHERE trace_id = $trace_id
ORDER BY start_timestamp, span_id
LIMIT $limit
