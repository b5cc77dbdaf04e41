CREATE INDEX ix_orders_customer ON public.orders (customer_id);
