UPDATE orders SET status = 'closed';
DELETE FROM orders;
