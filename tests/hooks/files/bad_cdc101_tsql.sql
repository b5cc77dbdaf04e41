SELECT o.* FROM dbo.orders AS o WHERE o.order_id = 1
