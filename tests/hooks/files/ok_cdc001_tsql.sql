SELECT [order id] FROM dbo.orders WHERE [note]]s] = 'it''s'
