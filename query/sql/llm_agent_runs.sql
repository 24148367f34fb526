-- The Agents page's runs: the newest $limit runs (llm_runs.sql) of agent $agent ('' for every agent).
SELECT trace_id, span_id, agent_name, conversation_id, start_timestamp, duration, running, failed, error,
       model_requests, input_tokens, output_tokens, cost_usd, unpriced_calls
FROM ({runs}) AS spyglass_runs
WHERE $agent = '' OR agent_name = $agent
ORDER BY start_timestamp DESC, trace_id, span_id
LIMIT $limit
