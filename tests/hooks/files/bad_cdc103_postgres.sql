SELECT order_id FROM orders WHERE lower(email) = 'a@example.com';
SELECT order_id FROM orders WHERE created_at::date = '2024-01-01';
