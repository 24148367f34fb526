-- One record of a trace with every column, named by span_id and dup_index.
SELECT *, epoch_us(start_timestamp) AS start_us, epoch_us(end_timestamp) AS end_us
FROM numbered
WHERE span_id = $span_id AND dup_index = $dup_index
