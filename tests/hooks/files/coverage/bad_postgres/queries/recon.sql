SELECT order_id, status FROM orders WHERE updated_at > $1;
SELECT o.order_id FROM orders AS o WHERE o.customer_id = $1;
SELECT order_id FROM orders WHERE status = 'open' ORDER BY updated_at;
