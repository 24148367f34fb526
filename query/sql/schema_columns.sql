-- Every column of every table and view in the main schema, in declaration order.
SELECT c.table_name, t.table_type, c.column_name, c.data_type
FROM information_schema.columns c
JOIN information_schema.tables t USING (table_catalog, table_schema, table_name)
WHERE c.table_schema = 'main'
ORDER BY c.table_name, c.ordinal_position
