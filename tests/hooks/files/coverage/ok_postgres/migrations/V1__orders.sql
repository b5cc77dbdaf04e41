CREATE TABLE IF NOT EXISTS public.orders (
    order_id bigint NOT NULL,
    status text NOT NULL,
    customer_id bigint,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);
ALTER TABLE ONLY public.orders ADD CONSTRAINT orders_pkey PRIMARY KEY (order_id);
