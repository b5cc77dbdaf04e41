-- Index usage (PostgreSQL): scans per index since the statistics were last reset, size, and
-- indexes never used -- candidates to drop, unless they back a constraint.
--
--   psql -v schema=public -f scripts/sql/postgresql_index_usage.sql
SELECT s.schemaname AS schema_name,
       s.relname AS table_name,
       s.indexrelname AS index_name,
       s.idx_scan AS index_scans,
       s.idx_tup_read AS tuples_read,
       s.idx_tup_fetch AS tuples_fetched,
       pg_size_pretty(pg_relation_size(s.indexrelid)) AS index_size,
       i.indisunique AS is_unique,
       (s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary) AS unused
FROM pg_stat_user_indexes AS s
JOIN pg_index AS i ON i.indexrelid = s.indexrelid
WHERE s.schemaname = :'schema'
ORDER BY s.idx_scan ASC, pg_relation_size(s.indexrelid) DESC;

-- Tables read mostly by sequential scans: where a reconciliation index is missing.
SELECT relname AS table_name,
       seq_scan,
       seq_tup_read,
       idx_scan,
       n_live_tup AS live_rows,
       CASE WHEN seq_scan + coalesce(idx_scan, 0) = 0 THEN NULL
            ELSE round(100.0 * seq_scan / (seq_scan + coalesce(idx_scan, 0)), 1)
       END AS seq_scan_percent
FROM pg_stat_user_tables
WHERE schemaname = :'schema'
ORDER BY seq_tup_read DESC;
