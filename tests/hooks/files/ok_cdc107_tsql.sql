SET TRANSACTION ISOLATION LEVEL SNAPSHOT
SELECT o.order_id FROM dbo.orders AS o WITH (INDEX(ix_orders_status)) WHERE o.order_id = 1
