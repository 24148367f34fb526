-- The rows of one trace whose text contains $needle (lowercase): names, message, ids, attributes,
-- events, exception. contains() takes the text literally: % and _ are not wildcards here.
SELECT span_id, dup_index
FROM numbered
WHERE contains(lower(concat_ws(chr(10), span_name, message, span_id, service_name, attributes::VARCHAR,
                               otel_events::VARCHAR, exception_type, exception_message, otel_status_message,
                               log_body)), $needle)
ORDER BY start_timestamp, span_id, dup_index
