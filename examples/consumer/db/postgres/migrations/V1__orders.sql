CREATE TABLE public.orders (
    order_id    bigint PRIMARY KEY,
    customer_id integer NOT NULL,
    status      text NOT NULL,
    updated_at  timestamptz NOT NULL,
    amount      numeric(12, 2)
);

-- the incremental reconciliation reads by watermark
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_orders_updated_at ON public.orders (updated_at);
