SELECT * FROM orders WHERE order_id = 1;
