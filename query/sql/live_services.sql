-- Service names for the live view's quick filter, with how many records each has.
SELECT service_name, count(*) AS records
FROM records
WHERE service_name IS NOT NULL
GROUP BY service_name
ORDER BY service_name
LIMIT $limit
