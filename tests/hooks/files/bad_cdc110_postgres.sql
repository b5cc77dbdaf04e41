-- one migration file: psql -1 (or a tool that wraps the file in a transaction) fails
ALTER TABLE orders ADD COLUMN region text;
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_orders_region ON orders (region);
