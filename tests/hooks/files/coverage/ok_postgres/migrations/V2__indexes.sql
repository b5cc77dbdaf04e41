DO $$
BEGIN
    CREATE INDEX IF NOT EXISTS ix_orders_status_updated ON public.orders (status, updated_at);
EXCEPTION WHEN duplicate_table THEN NULL;
END $$;
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_orders_updated ON public.orders (updated_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_orders_customer_live ON public.orders (customer_id)
    WHERE deleted_at IS NULL;
