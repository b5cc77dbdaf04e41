CREATE EXTENSION IF NOT EXISTS pgcrypto;
GRANT SELECT ON orders TO reporting;
SELECT order_id FROM orders WHERE order_id = 1;
