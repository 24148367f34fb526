-- The LLMs page: one row per provider and model over the calls since $since (a TIMESTAMPTZ, or
-- NULL for all time). Errors are calls with an error; unpriced calls have tokens but no cost
-- (a model genai-prices does not know); cached tokens are part of the input tokens. Restored copies
-- of calls (re-sent by a durable engine, llm_calls.restored) are not calls: they are left out.
SELECT provider, model,
       count(*) AS calls,
       count(error) AS errors,
       quantile_cont(duration, 0.5) AS p50_seconds,
       quantile_cont(duration, 0.95) AS p95_seconds,
       sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens,
       sum(cache_read_tokens) AS cache_read_tokens,
       sum(cache_write_tokens) AS cache_write_tokens,
       sum(cost_usd) AS cost_usd,
       count(*) FILTER (WHERE cost_usd IS NULL AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL)) AS unpriced_calls,
       count(*) FILTER (WHERE cost_source = 'computed') AS computed_calls,
       sum(tool_calls) AS tool_calls
FROM llm_calls
WHERE start_timestamp >= coalesce($since, '-infinity'::TIMESTAMPTZ) AND NOT restored
GROUP BY provider, model
ORDER BY cost_usd DESC NULLS LAST, calls DESC, provider NULLS LAST, model NULLS LAST
