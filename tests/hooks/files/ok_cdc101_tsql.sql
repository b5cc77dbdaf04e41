SELECT TOP (10) o.order_id, o.status FROM dbo.orders AS o WHERE o.order_id = 1
SELECT COUNT(*) FROM dbo.orders
