-- The log records emitted inside one span (pydantic-ai's version 1 messages in logs mode), oldest
-- first. Several can share a microsecond; rowid keeps them in the order they arrived. Logs are never
-- pending, so stored_records holds them all.
SELECT attributes, log_body, kind
FROM stored_records
WHERE trace_id = $trace_id AND parent_span_id = $span_id AND kind = 'log'
ORDER BY start_timestamp, rowid
LIMIT $limit
