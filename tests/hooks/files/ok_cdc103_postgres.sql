SELECT order_id FROM orders WHERE email = lower('A@example.com');
SELECT order_id FROM orders WHERE created_at >= '2024-01-01' AND created_at < '2024-01-02';
SELECT max(order_id) FROM orders;
SELECT relname FROM pg_stat_user_tables WHERE lower(schemaname) = 'public';
