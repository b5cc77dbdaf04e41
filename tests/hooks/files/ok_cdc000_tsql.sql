PRINT 'rebuilding statistics'
UPDATE STATISTICS dbo.orders
GO
SELECT order_id FROM dbo.orders WHERE order_id = 1
