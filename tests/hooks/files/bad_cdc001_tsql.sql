SELECT [order id FROM dbo.orders
