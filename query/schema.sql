-- Spyglass storage. Column names follow Logfire's `records` and `metrics` tables so that Logfire
-- users' queries run unchanged; docs/schema.md documents every column.
-- collector/rows.py declares the same columns in the same order for the writer's Arrow batches.

-- Finished spans and log records, append-only, in two tables of the same columns:
-- `bulk_records` (declared by query/database.py right after this one) takes the whole row groups of
-- a busy writer's commits, compressed straight into the file; `stored_records` takes the rest, through
-- the write-ahead log (collector/writer.py). The large text columns use zstd: agent
-- traces carry kilobytes of message JSON per span, which zstd stores in about a tenth of the space
-- of the default string compression (bench/ingest.py; docs/performance.md).
CREATE TABLE IF NOT EXISTS stored_records (
    start_timestamp TIMESTAMPTZ NOT NULL,
    end_timestamp TIMESTAMPTZ,
    duration DOUBLE,
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    parent_span_id VARCHAR,
    kind VARCHAR NOT NULL,
    level UTINYINT,
    span_name VARCHAR,
    message VARCHAR,
    log_body VARCHAR USING COMPRESSION zstd,
    attributes JSON USING COMPRESSION zstd,
    attributes_json_schema VARCHAR,
    tags VARCHAR[],
    otel_status_code VARCHAR,
    otel_status_message VARCHAR,
    otel_span_kind VARCHAR,
    otel_events JSON USING COMPRESSION zstd,
    otel_links JSON USING COMPRESSION zstd,
    otel_scope_name VARCHAR,
    otel_scope_version VARCHAR,
    otel_scope_attributes JSON,
    otel_resource_attributes JSON,
    service_namespace VARCHAR,
    service_name VARCHAR,
    service_version VARCHAR,
    service_instance_id VARCHAR,
    process_pid BIGINT,
    telemetry_sdk_name VARCHAR,
    telemetry_sdk_language VARCHAR,
    telemetry_sdk_version VARCHAR,
    deployment_environment VARCHAR,
    is_exception BOOLEAN,
    exception_type VARCHAR,
    exception_message VARCHAR,
    exception_stacktrace VARCHAR USING COMPRESSION zstd,
    http_method VARCHAR,
    http_route VARCHAR,
    http_response_status_code BIGINT,
    url_full VARCHAR,
    url_path VARCHAR,
    url_query VARCHAR,
    gen_ai_provider VARCHAR,
    gen_ai_model VARCHAR,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cache_read_tokens BIGINT,
    cache_write_tokens BIGINT,
    cost_usd DOUBLE,
    cost_source VARCHAR,
    created_at TIMESTAMPTZ NOT NULL
);

-- logfire pending spans whose real span has not arrived yet, re-keyed to the real span's ids.
-- The writer deletes a row here in the same transaction that stores its real span.
CREATE TABLE IF NOT EXISTS open_pending_spans AS SELECT * FROM stored_records LIMIT 0;

-- What users query: finished spans and logs, plus spans still running (or never finished).
CREATE OR REPLACE VIEW records AS
    SELECT * FROM bulk_records
    UNION ALL
    SELECT * FROM stored_records
    UNION ALL
    SELECT * FROM open_pending_spans;

CREATE TABLE IF NOT EXISTS metrics (
    recorded_timestamp TIMESTAMPTZ NOT NULL,
    start_timestamp TIMESTAMPTZ,
    metric_name VARCHAR NOT NULL,
    metric_type VARCHAR NOT NULL,
    unit VARCHAR,
    metric_description VARCHAR,
    aggregation_temporality VARCHAR,
    is_monotonic BOOLEAN,
    scalar_value DOUBLE,
    histogram_count BIGINT,
    histogram_sum DOUBLE,
    histogram_min DOUBLE,
    histogram_max DOUBLE,
    histogram_bucket_counts BIGINT[],
    histogram_explicit_bounds DOUBLE[],
    exp_histogram_scale BIGINT,
    exp_histogram_zero_count BIGINT,
    exp_histogram_zero_threshold DOUBLE,
    exp_histogram_positive_bucket_counts BIGINT[],
    exp_histogram_positive_bucket_counts_offset BIGINT,
    exp_histogram_negative_bucket_counts BIGINT[],
    exp_histogram_negative_bucket_counts_offset BIGINT,
    exemplars JSON USING COMPRESSION zstd,
    attributes JSON USING COMPRESSION zstd,
    otel_scope_name VARCHAR,
    otel_scope_version VARCHAR,
    otel_scope_attributes JSON,
    otel_resource_attributes JSON,
    service_namespace VARCHAR,
    service_name VARCHAR,
    service_version VARCHAR,
    service_instance_id VARCHAR,
    process_pid BIGINT,
    telemetry_sdk_name VARCHAR,
    telemetry_sdk_language VARCHAR,
    telemetry_sdk_version VARCHAR,
    deployment_environment VARCHAR,
    created_at TIMESTAMPTZ NOT NULL
);

-- One row per stored export request: lets the writer recognise an exporter's retry of a batch it
-- already committed (even across a restart) and answer it without storing the rows twice.
CREATE TABLE IF NOT EXISTS ingested_requests (
    digest VARCHAR NOT NULL,
    signal VARCHAR NOT NULL,
    accepted BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    error_message VARCHAR,
    created_at TIMESTAMPTZ NOT NULL
);

-- Queries saved from the explore page, shared by everyone using this Spyglass.
CREATE TABLE IF NOT EXISTS saved_queries (
    name VARCHAR PRIMARY KEY,
    sql VARCHAR NOT NULL,
    saved_at TIMESTAMPTZ NOT NULL
);

-- level holds Logfire's numbers (= OTel severity numbers): trace 1, debug 5, info 9, notice 10,
-- warn 13, error 17, fatal 21. level_num('warn') gives the number, level_name(level) the name:
--   WHERE level >= level_num('warn')
CREATE OR REPLACE MACRO level_num(name) AS
    CASE lower(name)
        WHEN 'trace' THEN 1 WHEN 'debug' THEN 5 WHEN 'info' THEN 9 WHEN 'notice' THEN 10
        WHEN 'warn' THEN 13 WHEN 'warning' THEN 13 WHEN 'error' THEN 17 WHEN 'fatal' THEN 21 END;
CREATE OR REPLACE MACRO level_name(number) AS
    CASE WHEN number >= 21 THEN 'fatal' WHEN number >= 17 THEN 'error' WHEN number >= 13 THEN 'warn'
         WHEN number >= 10 THEN 'notice' WHEN number >= 9 THEN 'info' WHEN number >= 5 THEN 'debug'
         WHEN number >= 1 THEN 'trace' END;

-- One row per model call (docs/schema.md): the finished spans that have model-call columns (see
-- collector/genai.py), less a span that repeats its parent call's tokens (a provider SDK's own span
-- under a framework's, e.g. `anthropic.messages.create` under pydantic-ai's `chat`), with the
-- finish reason, how many tools the model asked for, the error, and the agent run the call belongs
-- to: the nearest of its four closest ancestors that is a pydantic-ai agent run, and whether it is
-- a restored copy of an earlier call (same response id, re-sent by a durable engine). JSON is read only
-- from the calls and the agent runs, never from every record: attributes holding messages are large.
CREATE OR REPLACE VIEW llm_calls AS
WITH
calls AS (
    SELECT trace_id, span_id, parent_span_id, span_name, input_tokens, output_tokens
    FROM records
    WHERE kind = 'span'
      AND (gen_ai_provider IS NOT NULL OR gen_ai_model IS NOT NULL OR input_tokens IS NOT NULL OR output_tokens IS NOT NULL)
),
agent_runs AS (  -- pydantic-ai's agent run spans: `invoke_agent {agent}`, `agent run` before instrumentation version 3
    SELECT trace_id, span_id,
           any_value(CASE WHEN span_name LIKE 'invoke_agent %' THEN substr(span_name, 14)
                          ELSE coalesce(attributes->>'gen_ai.agent.name', attributes->>'agent_name') END) AS agent_name,
           any_value(attributes->>'gen_ai.conversation.id') AS conversation_id
    FROM records
    WHERE kind != 'log' AND (span_name LIKE 'invoke_agent %' OR span_name = 'agent run')
    GROUP BY trace_id, span_id
),
trace_spans AS (  -- the spans of the calls' traces, once per id, with their parent and whether they are agent runs
    SELECT l.trace_id, l.span_id, l.parent_span_id, a.span_id IS NOT NULL AS is_agent, a.agent_name, a.conversation_id
    FROM (
        SELECT trace_id, span_id, any_value(parent_span_id) AS parent_span_id
        FROM records
        WHERE kind != 'log' AND trace_id IN (SELECT trace_id FROM calls)
        GROUP BY trace_id, span_id
    ) AS l
    LEFT JOIN agent_runs AS a ON a.trace_id = l.trace_id AND a.span_id = l.span_id
),
runs AS (  -- the nearest agent run among the call's four closest ancestors
    SELECT c.trace_id, c.span_id AS call_span_id,
           CASE WHEN p1.is_agent THEN p1.span_id WHEN p2.is_agent THEN p2.span_id
                WHEN p3.is_agent THEN p3.span_id WHEN p4.is_agent THEN p4.span_id END AS agent_span_id,
           CASE WHEN p1.is_agent THEN p1.agent_name WHEN p2.is_agent THEN p2.agent_name
                WHEN p3.is_agent THEN p3.agent_name WHEN p4.is_agent THEN p4.agent_name END AS agent_name,
           CASE WHEN p1.is_agent THEN p1.conversation_id WHEN p2.is_agent THEN p2.conversation_id
                WHEN p3.is_agent THEN p3.conversation_id WHEN p4.is_agent THEN p4.conversation_id END AS conversation_id
    FROM (SELECT DISTINCT trace_id, span_id, parent_span_id FROM calls) AS c
    LEFT JOIN trace_spans AS p1 ON p1.trace_id = c.trace_id AND p1.span_id = c.parent_span_id
    LEFT JOIN trace_spans AS p2 ON p2.trace_id = p1.trace_id AND p2.span_id = p1.parent_span_id AND NOT p1.is_agent
    LEFT JOIN trace_spans AS p3 ON p3.trace_id = p2.trace_id AND p3.span_id = p2.parent_span_id AND NOT p2.is_agent
    LEFT JOIN trace_spans AS p4 ON p4.trace_id = p3.trace_id AND p4.span_id = p3.parent_span_id AND NOT p3.is_agent
),
repeats AS (  -- calls recorded again by an inner layer: same tokens as the parent call
    SELECT DISTINCT c.trace_id, c.span_id
    FROM calls AS c
    JOIN calls AS p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
    WHERE p.input_tokens IS NOT DISTINCT FROM c.input_tokens AND p.output_tokens IS NOT DISTINCT FROM c.output_tokens
      AND c.span_name NOT LIKE 'model request attempt%'
)
SELECT
    m.trace_id,
    m.span_id,
    m.start_timestamp,
    m.duration,
    m.service_name,
    m.span_name,
    m.gen_ai_provider AS provider,
    m.gen_ai_model AS model,
    m.input_tokens,
    m.output_tokens,
    m.cache_read_tokens,
    m.cache_write_tokens,
    m.cost_usd,
    m.cost_source,
    coalesce(nullif(array_to_string(json_extract_string(m.attributes, '$."gen_ai.response.finish_reasons"[*]'), ','), ''),
             nullif(array_to_string(json_extract_string(m.attributes->>'events', '$[*].finish_reason'), ','), '')) AS finish_reason,
    CAST(coalesce(len(list_filter(json_extract_string(m.attributes->>'gen_ai.output.messages', '$[*].parts[*].type'),
                                  lambda t: t = 'tool_call')),
                  len(json_extract_string(m.attributes->>'events', '$[*].message.tool_calls[*].id')),  -- version 1
                  0) AS BIGINT) AS tool_calls,
    coalesce(r.agent_name, m.attributes->>'gen_ai.agent.name') AS agent_name,
    r.agent_span_id,
    coalesce(r.conversation_id, m.attributes->>'gen_ai.conversation.id') AS conversation_id,
    CASE WHEN m.otel_status_code = 'ERROR' OR m.level >= level_num('error')
         THEN coalesce(m.exception_type || ': ' || m.exception_message, m.otel_status_message, m.exception_type, 'error') END AS error,
    m.attributes->>'gen_ai.response.id' AS response_id,
    -- a durable engine restoring a step from history re-sends its model call with the same response
    -- id (DBOS, Prefect): only the first span with a response id is the real call
    coalesce(row_number() OVER (PARTITION BY m.attributes->>'gen_ai.response.id', m.gen_ai_provider
                                ORDER BY m.start_timestamp, m.span_id) > 1
             AND m.attributes->>'gen_ai.response.id' IS NOT NULL, false) AS restored
FROM records AS m
LEFT JOIN runs AS r ON r.trace_id = m.trace_id AND r.call_span_id = m.span_id
LEFT JOIN repeats AS d ON d.trace_id = m.trace_id AND d.span_id = m.span_id
WHERE m.kind = 'span'
  AND (m.gen_ai_provider IS NOT NULL OR m.gen_ai_model IS NOT NULL OR m.input_tokens IS NOT NULL OR m.output_tokens IS NOT NULL)
  AND d.span_id IS NULL;
