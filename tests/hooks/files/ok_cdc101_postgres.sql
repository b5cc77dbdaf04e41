SELECT order_id, status FROM orders WHERE order_id = 1;
SELECT count(*) FROM orders;
SELECT order_id FROM orders o WHERE EXISTS (SELECT * FROM order_lines l WHERE l.order_id = o.order_id);
