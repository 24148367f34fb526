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
    Example("Retries per workflow", """-- workflow_steps: one row per step attempt of Temporal, DBOS and Prefect workflows
-- (docs/workflows.md); 'retried' attempts failed and were tried again
SELECT engine, workflow_id, step_name, count(*) AS retries, list(error ORDER BY attempt) AS errors
FROM workflow_steps
WHERE status = 'retried'
GROUP BY ALL
ORDER BY retries DESC"""),
    Example("Workflows: crashes, restores and true cost", """-- naive_cost_usd counts every model call sent; true_cost_usd counts calls restored from history once
SELECT engine, workflow_id, workflow_name, status, processes, recoveries, retries, restored_steps,
       round(saved_seconds, 3) AS saved_seconds, round(naive_cost_usd, 6) AS naive_cost_usd,
       round(true_cost_usd, 6) AS true_cost_usd
FROM workflows
WHERE parent_workflow_id IS NULL
ORDER BY started_at DESC
LIMIT 100"""),
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
