"""Ready-made queries for the explore page. Each runs on the current schema (tests/web/test_examples.py runs them)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    title: str
    sql: str


EXAMPLES = (
    Example("Recent spans", """SELECT start_timestamp, service_name, span_name, message, duration, trace_id, span_id
FROM records
WHERE kind = 'span'
ORDER BY start_timestamp DESC
LIMIT 100"""),
    Example("Cost by model per day", """-- one row per model call in llm_calls; cost_usd is what the span reported (operation.cost)
-- or Spyglass's genai-prices price (cost_source = 'computed'); NULL for an unknown model
SELECT date_trunc('day', start_timestamp) AS day,
       provider,
       model,
       count(*) AS calls,
       sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens,
       round(sum(cost_usd), 6) AS cost_usd
FROM llm_calls
GROUP BY ALL
ORDER BY day DESC, cost_usd DESC NULLS LAST"""),
    Example("Slowest tools", """SELECT attributes->>'gen_ai.tool.name' AS tool,
       count(*) AS calls,
       round(quantile_cont(duration, 0.5), 4) AS p50_s,
       round(quantile_cont(duration, 0.95), 4) AS p95_s,
       round(max(duration), 4) AS max_s,
       count(*) FILTER (WHERE otel_status_code = 'ERROR') AS errors
FROM records
WHERE kind = 'span' AND attributes->>'gen_ai.operation.name' = 'execute_tool'
GROUP BY ALL
ORDER BY p95_s DESC"""),
    Example("Error rate by service", """SELECT service_name,
       count(*) AS spans,
       count(*) FILTER (WHERE level >= level_num('error') OR is_exception) AS errors,
       round(100.0 * errors / spans, 2) AS error_pct
FROM records
WHERE kind = 'span'
GROUP BY ALL
ORDER BY error_pct DESC"""),
    Example("Retries per workflow", """-- Temporal: each attempt of an activity is its own RunActivity span (same temporalActivityID).
-- DBOS: one span per step, with a 'Step attempt N failed' event per failed attempt.
SELECT workflow_id, step, sum(retries) AS retries
FROM (
    SELECT attributes->>'temporalWorkflowID' AS workflow_id, span_name AS step, count(*) - 1 AS retries
    FROM records
    WHERE kind = 'span' AND span_name LIKE 'RunActivity:%'
    GROUP BY attributes->>'temporalWorkflowID', attributes->>'temporalActivityID', span_name
    UNION ALL
    SELECT coalesce(attributes->>'dbos.operation.workflow_id', attributes->>'operationUUID'), span_name,
           len(list_filter(json_extract_string(otel_events, '$[*].name'), lambda n: n LIKE 'Step attempt % failed'))
    FROM records
    WHERE otel_scope_name = 'dbos-tracer' AND otel_events IS NOT NULL
)
GROUP BY ALL
HAVING sum(retries) > 0
ORDER BY retries DESC"""),
    Example("Exceptions", """SELECT start_timestamp, service_name, exception_type, exception_message, span_name, trace_id, span_id
FROM records
WHERE is_exception
ORDER BY start_timestamp DESC
LIMIT 100"""),
    Example("Spans per service per minute", """SELECT time_bucket(INTERVAL 1 MINUTE, start_timestamp) AS minute, service_name, count(*) AS spans
FROM records
WHERE start_timestamp > now() - INTERVAL 1 HOUR
GROUP BY ALL
ORDER BY minute"""),
)
