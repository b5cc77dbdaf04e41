-- a migration of its own, run outside a transaction
SET lock_timeout = '2s';
\set ON_ERROR_STOP on
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_orders_region ON orders (region);
DROP INDEX CONCURRENTLY IF EXISTS ix_orders_old;
