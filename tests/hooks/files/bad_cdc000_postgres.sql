ALTER TABLE orders ADD CONSTRAINT orders_code_key UNIQUE USING INDEX ix_orders_code;
SELECT order_id FROM orders WHERE order_id = 1;
