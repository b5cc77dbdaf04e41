SELECT CHECKSUM_AGG(CHECKSUM(order_id, status)) FROM dbo.orders WHERE order_id > 0
