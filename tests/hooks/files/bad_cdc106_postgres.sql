CREATE INDEX ix_orders_status ON orders (status);
DROP INDEX ix_orders_old;
