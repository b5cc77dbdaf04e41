-- Index usage (SQL Server): seeks, scans, lookups and writes per index since the last
-- restart.  Indexes with writes but no reads cost the CDC apply for nothing.
SELECT OBJECT_SCHEMA_NAME(i.object_id) AS schema_name,
       OBJECT_NAME(i.object_id) AS table_name,
       i.name AS index_name,
       i.type_desc AS index_type,
       COALESCE(u.user_seeks, 0) AS seeks,
       COALESCE(u.user_scans, 0) AS scans,
       COALESCE(u.user_lookups, 0) AS lookups,
       COALESCE(u.user_updates, 0) AS writes,
       u.last_user_seek,
       u.last_user_scan
FROM sys.indexes AS i
LEFT JOIN sys.dm_db_index_usage_stats AS u
    ON u.object_id = i.object_id AND u.index_id = i.index_id AND u.database_id = DB_ID()
WHERE OBJECTPROPERTY(i.object_id, 'IsUserTable') = 1 AND i.index_id > 0
ORDER BY COALESCE(u.user_seeks, 0) + COALESCE(u.user_scans, 0) + COALESCE(u.user_lookups, 0),
         COALESCE(u.user_updates, 0) DESC;

-- What the optimizer asked for since the last restart (the MissingIndexes of all plans).
SELECT d.statement AS table_name,
       d.equality_columns,
       d.inequality_columns,
       d.included_columns,
       s.user_seeks,
       s.avg_user_impact
FROM sys.dm_db_missing_index_details AS d
JOIN sys.dm_db_missing_index_groups AS g ON g.index_handle = d.index_handle
JOIN sys.dm_db_missing_index_group_stats AS s ON s.group_handle = g.index_group_handle
WHERE d.database_id = DB_ID()
ORDER BY s.user_seeks * s.avg_user_impact DESC;
