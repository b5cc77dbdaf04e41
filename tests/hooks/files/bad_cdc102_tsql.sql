UPDATE dbo.orders SET status = 'closed'
GO
DELETE dbo.orders
GO
