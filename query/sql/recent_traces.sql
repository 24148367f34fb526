-- The newest traces, one row each: root message, service, start, duration, record count, errors.
WITH latest AS (
    SELECT trace_id, max(created_at) AS last_seen
    FROM records
    GROUP BY trace_id
    ORDER BY last_seen DESC
    LIMIT $limit
)
SELECT
    r.trace_id,
    coalesce(
        arg_min(r.message, r.start_timestamp) FILTER (WHERE r.parent_span_id IS NULL),
        arg_min(r.message, r.start_timestamp)
    ) AS root_message,
    coalesce(
        arg_min(r.service_name, r.start_timestamp) FILTER (WHERE r.parent_span_id IS NULL),
        arg_min(r.service_name, r.start_timestamp)
    ) AS service_name,
    min(r.start_timestamp) AS start_timestamp,
    date_diff('microsecond', min(r.start_timestamp), max(coalesce(r.end_timestamp, r.start_timestamp))) / 1e6 AS duration,
    count(*) AS record_count,
    count(*) FILTER (WHERE r.level >= level_num('error')) AS error_count,
    bool_or(r.kind = 'pending_span' AND r.parent_span_id IS NULL) AS running
FROM records r JOIN latest USING (trace_id)
GROUP BY r.trace_id
ORDER BY max(latest.last_seen) DESC, r.trace_id
