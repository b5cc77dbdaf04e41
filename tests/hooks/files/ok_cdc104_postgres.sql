SELECT order_id FROM orders WHERE email LIKE 'sales%';
