-- a later migration drops the timestamp index again
DROP INDEX CONCURRENTLY IF EXISTS ix_orders_updated;
