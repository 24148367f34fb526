-- When the first model call since $since (NULL: ever) started: where an "all time" chart begins.
SELECT min(start_timestamp) FROM llm_calls WHERE start_timestamp >= coalesce($since, '-infinity'::TIMESTAMPTZ)
