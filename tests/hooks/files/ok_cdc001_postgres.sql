SELECT order_id FROM orders WHERE (status = 'it''s; fine');
SELECT $tag$ body with ' and ; $tag$ AS body;
/* nested /* comments */ are fine */ SELECT 1;
