SELECT checksum_agg(binary_checksum(order_id, status)) FROM orders WHERE order_id > 0;
