-- Statistics freshness (PostgreSQL): rows changed since the last ANALYZE.  Stale statistics
-- make row estimates drift (analyze_postgres_query warns "row estimate off by Nx").
--
--   psql -v schema=public -f scripts/sql/postgresql_stats_freshness.sql
SELECT s.relname AS table_name,
       c.reltuples::bigint AS estimated_rows,
       s.n_live_tup AS live_rows,
       s.n_mod_since_analyze AS changed_since_analyze,
       CASE WHEN c.reltuples <= 0 THEN NULL
            ELSE round((100.0 * s.n_mod_since_analyze / c.reltuples)::numeric, 1)
       END AS changed_percent,
       greatest(s.last_analyze, s.last_autoanalyze) AS last_analyzed
FROM pg_stat_user_tables AS s
JOIN pg_class AS c ON c.oid = s.relid
WHERE s.schemaname = :'schema'
ORDER BY s.n_mod_since_analyze DESC;
