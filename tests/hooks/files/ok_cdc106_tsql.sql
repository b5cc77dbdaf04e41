CREATE NONCLUSTERED INDEX ix_orders_status ON dbo.orders (status) INCLUDE (amount) WITH (ONLINE = ON)
GO
CREATE INDEX ix_orders_open ON dbo.orders (updated_at) WHERE status = 'open' WITH (ONLINE = ON, FILLFACTOR = 90)
GO
DROP INDEX ix_orders_old ON dbo.orders WITH (ONLINE = ON)
GO
