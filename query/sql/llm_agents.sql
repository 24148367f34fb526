-- The Agents page: one row per agent over its runs (llm_runs.sql). A run succeeded when it finished
-- without an error; the success rate counts finished runs only.
SELECT agent_name,
       count(*) AS runs,
       count(*) FILTER (WHERE running) AS running,
       count(*) FILTER (WHERE NOT running AND NOT failed) AS succeeded,
       count(*) FILTER (WHERE NOT running AND failed) AS failed,
       count(DISTINCT conversation_id) AS conversations,
       avg(model_requests) AS avg_model_requests,
       sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens,
       sum(cost_usd) AS cost_usd,
       sum(unpriced_calls) AS unpriced_calls,
       avg(duration) AS avg_seconds,
       quantile_cont(duration, 0.5) AS p50_seconds,
       quantile_cont(duration, 0.95) AS p95_seconds
FROM ({runs}) AS spyglass_runs
GROUP BY agent_name
ORDER BY runs DESC, agent_name NULLS LAST
