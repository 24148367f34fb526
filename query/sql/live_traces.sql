-- The live view's page: which traces, newest first, and how many match in all.
-- A trace starts when its root record starts (the earliest root; parent_span_id IS NULL), or, while
-- no root has arrived, when its earliest record starts. first_start (the earliest record of any
-- kind) lets live_trace_rows.sql skip every row group older than the page.
-- Composed, not bound (query/live.py fills the three placeholders below: the match is empty or
-- `WHERE trace_id IN (SELECT trace_id FROM records WHERE <filter>)` with the user's clause in the
-- filter, limit and offset are integers), and the statement runs only through the sandbox.
-- Names carry a spyglass_ prefix so that they cannot shadow a table the user's clause reads.
WITH spyglass_heads AS MATERIALIZED (
    SELECT trace_id,
           coalesce(min(start_timestamp) FILTER (WHERE parent_span_id IS NULL), min(start_timestamp)) AS trace_start,
           min(start_timestamp) AS first_start
    FROM records
    {match}
    GROUP BY trace_id
),
spyglass_page AS (
    SELECT trace_id, trace_start, first_start
    FROM spyglass_heads
    ORDER BY trace_start DESC, trace_id DESC
    LIMIT {limit} OFFSET {offset}
)
SELECT (SELECT count(*) FROM spyglass_heads) AS total, p.trace_id, p.trace_start, p.first_start
FROM (SELECT 1) AS spyglass_one
LEFT JOIN spyglass_page AS p ON true
ORDER BY p.trace_start DESC, p.trace_id DESC
