-- The records of one trace, compact: what the tree and the waterfall need, nothing heavy.
SELECT span_id, parent_span_id, dup_index, kind, level, span_name, message,
       epoch_us(start_timestamp) AS start_us, epoch_us(end_timestamp) AS end_us, duration,
       otel_status_code, is_exception, exception_type, service_name, input_tokens, output_tokens, cost_usd,
       kind = 'log' AND otel_span_kind IS NULL AS is_otlp_log,
       epoch_us(created_at) AS created_us,
       CASE WHEN otel_events IS NOT NULL THEN json_extract_string(otel_events, '$[*].name') END AS event_names,
       CASE WHEN otel_events IS NOT NULL THEN json_extract_string(otel_events, '$[*].timestamp') END AS event_times
FROM numbered
ORDER BY start_timestamp, span_id, dup_index
LIMIT $limit
