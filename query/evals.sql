-- pydantic-evals experiments and their cases (docs/evals.md, docs/schema.md), views over `records`
-- and `llm_calls` (query/schema.sql). pydantic-evals sends, through the logfire SDK:
--   `evaluate {name}`     one experiment run: name, task_name, dataset_name, n_cases, metadata,
--                         assertion_pass_rate, logfire.experiment.metadata (its own averages)
--   `case: {case_name}`   one case, child of the experiment: case_name, inputs, expected_output,
--                         output, task_duration, metrics, attributes, assertions, scores, labels
--                         (each evaluator result {name, value, reason, source}); ERROR and an
--                         exception when the task raised
--   `execute {task}`, `evaluator: {evaluator_name}`  children of the case
-- Span names are logfire's message templates, so they are the same for every experiment.

-- One row per case span. Model calls are found by walking down from the case span at most 12
-- levels (a bad parent link can neither hang nor loop the walk).
CREATE OR REPLACE VIEW eval_cases AS
WITH RECURSIVE
experiments AS (
    SELECT trace_id, span_id, any_value(attributes->>'name') AS experiment
    FROM records
    WHERE kind IN ('span', 'pending_span') AND span_name = 'evaluate {name}'
    GROUP BY trace_id, span_id
),
cases AS (  -- a span that arrived twice (a retried export) counts once; the finished copy wins
    SELECT *
    FROM records
    WHERE kind IN ('span', 'pending_span') AND span_name = 'case: {case_name}'
    QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY kind = 'span' DESC, start_timestamp) = 1
),
tree AS (
    SELECT DISTINCT trace_id, span_id, parent_span_id
    FROM records
    WHERE kind IN ('span', 'pending_span') AND trace_id IN (SELECT trace_id FROM cases)
),
below(trace_id, case_span_id, span_id, depth) AS (
    SELECT trace_id, span_id, span_id, 0 FROM cases
    UNION
    SELECT b.trace_id, b.case_span_id, t.span_id, b.depth + 1
    FROM below AS b
    JOIN tree AS t ON t.trace_id = b.trace_id AND t.parent_span_id = b.span_id
    WHERE b.depth < 12
),
calls AS (
    SELECT b.trace_id, b.case_span_id,
           count(*) AS model_requests,
           -- every call under the case, `restored` or not: that flag matches response ids across all
           -- traces, and a scripted or caching model repeats ids between unrelated cases
           sum(l.cost_usd) AS cost_usd,
           count(*) FILTER (WHERE l.cost_usd IS NULL) AS unpriced_requests,
           list_sort(list_distinct(list(coalesce(l.provider, '?') || ':' || coalesce(l.model, '?')))) AS models
    FROM (SELECT DISTINCT trace_id, case_span_id, span_id FROM below WHERE depth > 0) AS b
    JOIN llm_calls AS l ON l.trace_id = b.trace_id AND l.span_id = b.span_id
    GROUP BY b.trace_id, b.case_span_id
),
judged AS (
    SELECT c.*,
           CASE WHEN c.otel_status_code = 'ERROR' OR c.level >= level_num('error')
                THEN coalesce(c.exception_type || ': ' || c.exception_message, c.otel_status_message,
                              c.exception_type, 'error') END AS error_text
    FROM cases AS c
)
SELECT
    e.experiment,
    c.attributes->>'case_name' AS case_name,
    CASE WHEN c.error_text IS NOT NULL THEN false
         WHEN c.kind = 'pending_span' THEN NULL
         ELSE list_bool_and(list_transform(json_extract_string(c.attributes->'assertions', '$.*.value'),
                                           lambda v: v = 'true')) END AS passed,
    c.attributes->'scores' AS scores,
    CASE WHEN c.kind = 'span' THEN c.duration END AS duration,
    CASE WHEN c.kind = 'span' THEN coalesce(l.cost_usd, CASE WHEN l.model_requests IS NULL THEN 0.0 END) END AS cost_usd,
    coalesce(l.model_requests, 0) AS model_requests,
    coalesce(l.unpriced_requests, 0) AS unpriced_requests,
    coalesce(l.models, []) AS models,
    c.trace_id,
    c.parent_span_id AS experiment_span_id,
    c.span_id,
    c.start_timestamp AS started_at,
    c.kind = 'pending_span' AS running,
    c.attributes->'inputs' AS inputs,
    c.attributes->'expected_output' AS expected_output,
    c.attributes->'output' AS output,
    c.attributes->'assertions' AS assertions,
    c.attributes->'labels' AS labels,
    c.attributes->'metrics' AS metrics,
    TRY_CAST(c.attributes->>'task_duration' AS DOUBLE) AS task_duration,
    c.attributes->>'task_name' AS task,
    c.attributes->>'logfire.experiment.source_case_name' AS source_case_name,
    c.error_text AS error
FROM judged AS c
LEFT JOIN experiments AS e ON e.trace_id = c.trace_id AND e.span_id = c.parent_span_id
LEFT JOIN calls AS l ON l.trace_id = c.trace_id AND l.case_span_id = c.span_id;

-- One row per experiment run (an `evaluate {name}` span), totals over its rows of `eval_cases`.
CREATE OR REPLACE VIEW eval_experiments AS
WITH
experiments AS (
    SELECT *
    FROM records
    WHERE kind IN ('span', 'pending_span') AND span_name = 'evaluate {name}'
    QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY kind = 'span' DESC, start_timestamp) = 1
),
totals AS (
    SELECT trace_id, experiment_span_id,
           count(*) AS cases,
           count(*) FILTER (WHERE passed) AS passed,
           count(*) FILTER (WHERE NOT passed) AS failed,
           count(*) FILTER (WHERE error IS NOT NULL) AS errors,
           avg(CASE WHEN passed THEN 1.0 WHEN NOT passed THEN 0.0 END) AS pass_rate,
           avg(model_requests) AS avg_model_requests,
           sum(cost_usd) AS cost_usd,
           CAST(sum(unpriced_requests) AS BIGINT) AS unpriced_requests,
           avg(duration) AS avg_duration,
           list_sort(list_distinct(flatten(list(models)))) AS models
    FROM eval_cases
    GROUP BY trace_id, experiment_span_id
),
score_values AS (
    SELECT c.trace_id, c.experiment_span_id, s.key AS name, avg(TRY_CAST(s.value->>'value' AS DOUBLE)) AS average
    FROM eval_cases AS c, json_each(c.scores) AS s
    GROUP BY ALL
),
scores AS (
    SELECT trace_id, experiment_span_id, json_group_object(name, average) AS avg_scores
    FROM score_values
    GROUP BY ALL
),
metric_values AS (
    SELECT c.trace_id, c.experiment_span_id, m.key AS name, avg(TRY_CAST(json_extract_string(m.value, '$') AS DOUBLE)) AS average
    FROM eval_cases AS c, json_each(c.metrics) AS m
    GROUP BY ALL
),
metrics AS (
    SELECT trace_id, experiment_span_id, json_group_object(name, average) AS avg_metrics
    FROM metric_values
    GROUP BY ALL
)
SELECT
    x.span_id,
    x.trace_id,
    x.attributes->>'name' AS name,
    x.attributes->>'dataset_name' AS dataset,
    x.attributes->>'task_name' AS task,
    -- the experiment's metadata says the model when the caller put it there; otherwise the models called
    coalesce(x.attributes->'metadata'->>'model', nullif(array_to_string(t.models, ', '), '')) AS model,
    x.start_timestamp AS started_at,
    CASE WHEN x.kind = 'span' THEN x.duration END AS duration,
    x.kind = 'pending_span' AS running,
    TRY_CAST(x.attributes->>'n_cases' AS BIGINT) AS n_cases,
    coalesce(t.cases, 0) AS cases,
    coalesce(t.passed, 0) AS passed,
    coalesce(t.failed, 0) AS failed,
    coalesce(t.errors, 0) AS errors,
    t.pass_rate,
    TRY_CAST(x.attributes->>'assertion_pass_rate' AS DOUBLE) AS assertion_pass_rate,
    s.avg_scores,
    m.avg_metrics,
    t.avg_model_requests,
    t.cost_usd,
    t.cost_usd / nullif(t.cases, 0) AS cost_per_case,
    coalesce(t.unpriced_requests, 0) AS unpriced_requests,
    t.avg_duration,
    x.attributes->'metadata' AS metadata
FROM experiments AS x
LEFT JOIN totals AS t ON t.trace_id = x.trace_id AND t.experiment_span_id = x.span_id
LEFT JOIN scores AS s ON s.trace_id = x.trace_id AND s.experiment_span_id = x.span_id
LEFT JOIN metrics AS m ON m.trace_id = x.trace_id AND m.experiment_span_id = x.span_id;
