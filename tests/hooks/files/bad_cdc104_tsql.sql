SELECT order_id FROM dbo.orders WHERE email LIKE N'%@example.com'
