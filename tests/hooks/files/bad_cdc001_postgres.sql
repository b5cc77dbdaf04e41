SELECT order_id FROM orders WHERE (status = 'open';
SELECT 'never closed FROM orders;
