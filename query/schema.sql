-- Spyglass storage. Column names follow Logfire's `records` and `metrics` tables so that Logfire
-- users' queries run unchanged; docs/schema.md documents every column.
-- collector/rows.py declares the same columns in the same order for the writer's Arrow batches.

-- Every finished span and every log record. Append-only.
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
    log_body VARCHAR,
    attributes JSON,
    attributes_json_schema VARCHAR,
    tags VARCHAR[],
    otel_status_code VARCHAR,
    otel_status_message VARCHAR,
    otel_span_kind VARCHAR,
    otel_events JSON,
    otel_links JSON,
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
    exception_stacktrace VARCHAR,
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
    exemplars JSON,
    attributes JSON,
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
