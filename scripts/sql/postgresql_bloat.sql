-- Dead rows and size (PostgreSQL): a cheap bloat signal without extensions.  A high
-- dead_percent on a replication target means autovacuum is not keeping up with the CDC
-- apply rate: tune autovacuum_vacuum_scale_factor for that table.
--
--   psql -v schema=public -f scripts/sql/postgresql_bloat.sql
SELECT relname AS table_name,
       n_live_tup AS live_rows,
       n_dead_tup AS dead_rows,
       CASE WHEN n_live_tup + n_dead_tup = 0 THEN 0
            ELSE round(100.0 * n_dead_tup / (n_live_tup + n_dead_tup), 1)
       END AS dead_percent,
       pg_size_pretty(pg_table_size(relid)) AS table_size,
       pg_size_pretty(pg_indexes_size(relid)) AS indexes_size,
       last_vacuum,
       last_autovacuum
FROM pg_stat_user_tables
WHERE schemaname = :'schema'
ORDER BY n_dead_tup DESC;
