-- Index fragmentation (SQL Server).  LIMITED mode reads only the upper index levels, so it
-- is safe on a busy CDC source.  Rule of thumb: REORGANIZE from 5 %, REBUILD from 30 %,
-- ignore indexes under 1000 pages.
SELECT OBJECT_SCHEMA_NAME(p.object_id) AS schema_name,
       OBJECT_NAME(p.object_id) AS table_name,
       i.name AS index_name,
       p.index_type_desc,
       p.avg_fragmentation_in_percent,
       p.page_count,
       CASE WHEN p.page_count < 1000 THEN 'none'
            WHEN p.avg_fragmentation_in_percent >= 30 THEN 'rebuild'
            WHEN p.avg_fragmentation_in_percent >= 5 THEN 'reorganize'
            ELSE 'none'
       END AS suggested_action
FROM sys.dm_db_index_physical_stats(DB_ID(), NULL, NULL, NULL, 'LIMITED') AS p
JOIN sys.indexes AS i ON i.object_id = p.object_id AND i.index_id = p.index_id
WHERE p.index_id > 0
ORDER BY p.avg_fragmentation_in_percent DESC;
