CREATE TABLE orders (
    order_id bigint NOT NULL,
    status text NOT NULL,
    customer_id bigint,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);
-- INCLUDE columns never serve a seek
CREATE INDEX CONCURRENTLY ix_orders_customer_incl ON orders (customer_id) INCLUDE (updated_at)
    WHERE deleted_at IS NULL;
CREATE INDEX CONCURRENTLY ix_orders_updated ON orders (updated_at);
