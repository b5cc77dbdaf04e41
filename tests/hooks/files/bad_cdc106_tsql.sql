CREATE NONCLUSTERED INDEX ix_orders_status ON dbo.orders (status)
GO
CREATE INDEX ix_orders_open ON dbo.orders (updated_at) WHERE status = 'open' WITH (FILLFACTOR = 90)
GO
DROP INDEX ix_orders_old ON dbo.orders
GO
