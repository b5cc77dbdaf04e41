-- Reconciliation indexes for one replicated table (PostgreSQL).
--
--   psql -v schema=public -v table=orders -v key=id -v ts=updated_at -v status=status \
--        -v checksum_cols='amount, note' -v active='deleted = false' \
--        -f scripts/sql/postgresql_reconciliation_indexes.sql
--
-- CONCURRENTLY keeps the table writable while each index builds (it cannot run inside a
-- transaction: do not wrap this file in BEGIN/COMMIT).  `pytest-cdc recommend-indexes` prints
-- the same statements with names that fit PostgreSQL's 63-byte limit; prefer it for
-- composite keys.

\set ux_key 'ux_' :table '_' :key
\set ix_ts 'ix_' :table '_' :ts
\set ix_status_ts 'ix_' :table '_' :status '_' :ts
\set ix_checksum 'ix_' :table '_' :key '_incl'
\set ix_active 'ix_' :table '_' :ts '_active'

-- Every row comparison looks rows up by key.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS :"ux_key" ON :"schema".:"table" (:"key");

-- Incremental runs read WHERE ts > :watermark.
CREATE INDEX CONCURRENTLY IF NOT EXISTS :"ix_ts" ON :"schema".:"table" (:"ts");

-- Equality column first, then the range column: one seek finds status = ? AND ts > ?.
CREATE INDEX CONCURRENTLY IF NOT EXISTS :"ix_status_ts" ON :"schema".:"table" (:"status", :"ts");

-- The checksum pass reads key + checksummed columns from the index alone (index-only scan).
CREATE INDEX CONCURRENTLY IF NOT EXISTS :"ix_checksum" ON :"schema".:"table" (:"key")
    INCLUDE (:checksum_cols);

-- Only the rows reconciliation reads; queries must repeat the predicate to use it.
CREATE INDEX CONCURRENTLY IF NOT EXISTS :"ix_active" ON :"schema".:"table" (:"ts")
    WHERE :active;

-- Fresh statistics so the planner sees the new indexes' value at once.
ANALYZE :"schema".:"table";
