UPDATE orders SET status = 'closed' WHERE order_id = 1;
DELETE FROM orders o USING archived a WHERE o.order_id = a.order_id;
TRUNCATE orders;
