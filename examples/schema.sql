-- Loaded once into the template every demo database starts from (cdc_load in pytest.ini).
CREATE TABLE orders (
    order_id    bigint PRIMARY KEY,
    customer_id integer NOT NULL,
    status      text NOT NULL,
    updated_at  timestamptz NOT NULL,
    amount      numeric(12, 2),
    note        text
);

INSERT INTO orders
SELECT g,
       g % 97,
       (ARRAY['new', 'paid', 'shipped', 'cancelled'])[1 + g % 4],
       timestamptz '2026-01-01 00:00:00+00' + g * interval '17 minutes',
       round((g * 7.31)::numeric % 1000, 2),
       CASE WHEN g % 10 = 0 THEN NULL ELSE 'order ' || g END
FROM generate_series(1, 500) AS g;

ANALYZE orders;
