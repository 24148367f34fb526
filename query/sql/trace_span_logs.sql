-- The log records emitted inside one span (pydantic-ai's version 1 messages in logs mode), oldest
-- first. Several can share a microsecond: then the request they came in (created_at), and within
-- a request the order the writer stored them (its whole row groups in bulk_records first, the rest
-- in stored_records, each in rowid order). Logs are never pending, so these two tables hold them all.
SELECT attributes, log_body, kind
FROM (
    SELECT attributes, log_body, kind, start_timestamp, created_at, 0 AS part, rowid AS position
    FROM bulk_records
    WHERE trace_id = $trace_id AND parent_span_id = $span_id AND kind = 'log'
    UNION ALL
    SELECT attributes, log_body, kind, start_timestamp, created_at, 1 AS part, rowid AS position
    FROM stored_records
    WHERE trace_id = $trace_id AND parent_span_id = $span_id AND kind = 'log'
)
ORDER BY start_timestamp, created_at, part, position
LIMIT $limit
