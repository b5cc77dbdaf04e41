SELECT order_id FROM dbo.orders WHERE created_at >= CAST('2024-01-01' AS datetime2)
SELECT o.order_id FROM dbo.orders AS o JOIN dbo.lines AS l ON l.order_id = o.order_id
SELECT i.name FROM sys.indexes AS i WHERE OBJECTPROPERTY(i.object_id, 'IsUserTable') = 1
