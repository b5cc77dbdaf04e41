SELECT order_id FROM orders WHERE email LIKE '%@example.com';
SELECT order_id FROM orders WHERE email ILIKE '_' || $1;
