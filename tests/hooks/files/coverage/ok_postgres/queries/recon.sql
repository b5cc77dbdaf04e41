SELECT order_id, status FROM orders WHERE updated_at > $1;
SELECT o.order_id FROM orders AS o WHERE o.customer_id = $1 AND o.deleted_at IS NULL;
SELECT order_id FROM orders WHERE status = 'open' ORDER BY updated_at;
SELECT s.order_id FROM staging AS s JOIN orders AS o ON o.order_id = s.order_id;
SELECT count(*) FROM orders;
