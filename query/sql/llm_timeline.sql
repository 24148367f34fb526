-- The LLMs page's chart: cost and tokens of the calls since $since, in buckets of $bucket_us
-- microseconds counted from $origin (the start of the chart), oldest first. Empty buckets are absent.
-- Restored copies of calls (llm_calls.restored) are left out, as on the models table.
SELECT time_bucket(to_microseconds($bucket_us), start_timestamp, $origin) AS bucket,
       count(*) AS calls,
       sum(cost_usd) AS cost_usd,
       sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens
FROM llm_calls
WHERE start_timestamp >= $origin AND NOT restored
GROUP BY bucket
ORDER BY bucket
