-- Changes whenever a record is stored, a pending span is replaced or records are deleted: the live
-- view's poll skips the page query while it stays the same. Each part reads table statistics or
-- one column, about a millisecond at a million spans.
SELECT (SELECT count(*) FROM bulk_records) + (SELECT count(*) FROM stored_records) AS stored,
       greatest((SELECT max(created_at) FROM bulk_records), (SELECT max(created_at) FROM stored_records)) AS stored_at,
       (SELECT count(*) FROM open_pending_spans) AS pending,
       (SELECT max(created_at) FROM open_pending_spans) AS pending_at
