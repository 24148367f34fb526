-- One row per trace of a live-view page: its root, duration or running, record count, errors and
-- model-call totals. $trace_ids are the page's traces (live_traces.sql); $first_start is the
-- earliest record of any of them, so the scan reads only row groups from then on.
WITH page_records AS MATERIALIZED (
    SELECT trace_id, span_id, parent_span_id, kind, start_timestamp, end_timestamp, duration, message,
           span_name, service_name, level, is_exception, otel_status_code, input_tokens, output_tokens, cost_usd
    FROM records
    WHERE start_timestamp >= $first_start AND trace_id IN (SELECT unnest($trace_ids))
),
roots AS (  -- the trace's root: a span (running or not) before a root-level log, then the earliest
    SELECT trace_id, message, span_name, service_name, kind, duration, end_timestamp
    FROM page_records
    WHERE parent_span_id IS NULL
    QUALIFY row_number() OVER (PARTITION BY trace_id ORDER BY kind = 'log', start_timestamp, span_id) = 1
),
firsts AS (  -- what stands in for the root while it has not arrived
    SELECT trace_id, message, span_name, service_name
    FROM page_records
    QUALIFY row_number() OVER (PARTITION BY trace_id ORDER BY start_timestamp, span_id) = 1
),
totals AS (
    SELECT trace_id,
           count(*) AS record_count,
           count(*) FILTER (WHERE level >= level_num('error') OR is_exception OR otel_status_code = 'ERROR') AS error_count,
           min(start_timestamp) AS first_start,
           max(coalesce(end_timestamp, start_timestamp)) AS last_end,
           -- only model-call spans carry these (docs/schema.md), so the sums count each call once
           sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens,
           sum(cost_usd) AS cost_usd
    FROM page_records
    GROUP BY trace_id
)
SELECT
    t.trace_id,
    coalesce(r.message, r.span_name, f.message, f.span_name) AS root_message,
    coalesce(r.service_name, f.service_name) AS service_name,
    r.trace_id IS NULL AS root_missing,
    r.trace_id IS NOT NULL AND (r.kind = 'pending_span' OR r.end_timestamp IS NULL) AS running,
    CASE WHEN r.trace_id IS NOT NULL THEN r.duration
         ELSE date_diff('microsecond', t.first_start, t.last_end) / 1e6 END AS duration,
    t.record_count,
    t.error_count,
    t.input_tokens,
    t.output_tokens,
    t.cost_usd
FROM totals AS t
LEFT JOIN roots AS r USING (trace_id)
LEFT JOIN firsts AS f USING (trace_id)
