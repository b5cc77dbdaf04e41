-- rows changed since the last watermark, by status
SELECT order_id, status, amount
FROM public.orders
WHERE status = 'paid' AND updated_at > '2026-11-01'
ORDER BY updated_at;

SELECT * FROM public.orders WHERE lower(status) = 'paid';

SELECT order_id FROM public.orders ORDER BY order_id OFFSET 100 LIMIT 50;
