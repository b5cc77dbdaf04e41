UPDATE o SET o.status = 'closed' FROM dbo.orders AS o JOIN dbo.archived AS a ON a.order_id = o.order_id
DELETE FROM dbo.orders WHERE order_id = 1
