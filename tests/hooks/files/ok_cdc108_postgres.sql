SELECT md5(string_agg(order_id::text || status, ',' ORDER BY order_id)) FROM orders WHERE order_id > 0;
