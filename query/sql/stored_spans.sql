-- Which of the (trace_id, span_id) pairs given as two parallel lists are stored: for span links.
SELECT DISTINCT trace_id, span_id
FROM records
WHERE trace_id IN (SELECT unnest($trace_ids)) AND span_id IN (SELECT unnest($span_ids))
