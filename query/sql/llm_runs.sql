-- Agent runs that started since $since (NULL: ever), each with the model calls it made itself
-- (llm_calls.agent_span_id, so a sub-agent's calls count for the sub-agent's run). A run is a
-- pydantic-ai agent run span, finished or still running (a logfire pending span), named
-- `invoke_agent {agent}` (`agent run` before instrumentation version 3). Not a query of its own:
-- query/llm.py puts it into llm_agents.sql and llm_agent_runs.sql as {runs}.
WITH runs AS (
    SELECT trace_id, span_id, start_timestamp, duration,
           kind = 'pending_span' OR duration IS NULL AS running,
           CASE WHEN span_name LIKE 'invoke_agent %' THEN substr(span_name, 14)
                ELSE coalesce(attributes->>'gen_ai.agent.name', attributes->>'agent_name') END AS agent_name,
           attributes->>'gen_ai.conversation.id' AS conversation_id,
           otel_status_code = 'ERROR' OR level >= level_num('error') AS failed,
           CASE WHEN otel_status_code = 'ERROR' OR level >= level_num('error')
                THEN coalesce(exception_type || ': ' || exception_message, otel_status_message, exception_type, 'error') END AS error
    FROM records
    WHERE kind IN ('span', 'pending_span') AND (span_name LIKE 'invoke_agent %' OR span_name = 'agent run')
      AND start_timestamp >= coalesce($since, '-infinity'::TIMESTAMPTZ)
),
calls AS (
    SELECT trace_id, agent_span_id, count(*) AS model_requests, sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd,
           count(*) FILTER (WHERE cost_usd IS NULL AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL)) AS unpriced_calls
    FROM llm_calls
    WHERE agent_span_id IS NOT NULL AND start_timestamp >= coalesce($since, '-infinity'::TIMESTAMPTZ)
      AND NOT restored  -- a copy re-sent by a durable engine replaying the run is not a request
    GROUP BY trace_id, agent_span_id
)
SELECT r.*, coalesce(c.model_requests, 0) AS model_requests, c.input_tokens, c.output_tokens, c.cost_usd,
       coalesce(c.unpriced_calls, 0) AS unpriced_calls
FROM runs AS r
LEFT JOIN calls AS c ON c.trace_id = r.trace_id AND c.agent_span_id = r.span_id
