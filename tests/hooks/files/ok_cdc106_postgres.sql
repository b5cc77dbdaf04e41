-- cdc: noqa: CDC110 (both cases in one example; a real migration splits them)
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_orders_status ON orders (status);
DROP INDEX CONCURRENTLY IF EXISTS ix_orders_old;
-- a table created in the same migration is empty: a plain CREATE INDEX blocks nobody
CREATE TABLE audit (id bigint PRIMARY KEY, at timestamptz);
CREATE INDEX ix_audit_at ON audit (at);
