SELECT HASHBYTES('SHA2_256', CONCAT(order_id, '|', status)) FROM dbo.orders WHERE order_id > 0
