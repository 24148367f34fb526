-- Every record of one trace, with dup_index numbering the rows that share a span_id (Temporal
-- re-uses ids across a worker crash, OTLP.md item 21): (span_id, dup_index) names one row.
-- Used as the CTE `numbered` by the other trace_*.sql queries, so they all number rows alike.
SELECT *,
       row_number() OVER (
           PARTITION BY span_id
           ORDER BY start_timestamp, kind, end_timestamp NULLS LAST, created_at, span_name, md5(attributes::VARCHAR)
       ) - 1 AS dup_index
FROM records
WHERE trace_id = $trace_id
