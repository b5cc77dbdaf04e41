SELECT order_id FROM dbo.orders WHERE CONVERT(date, created_at) = '2024-01-01'
SELECT o.order_id FROM dbo.orders AS o JOIN dbo.lines AS l ON CAST(l.order_ref AS int) = o.order_id
