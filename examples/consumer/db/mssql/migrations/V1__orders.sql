CREATE TABLE dbo.orders (
    order_id    bigint NOT NULL CONSTRAINT PK_orders PRIMARY KEY,
    customer_id int NOT NULL,
    status      nvarchar(20) NOT NULL,
    updated_at  datetime2(6) NOT NULL,
    amount      decimal(12, 2) NULL
)
GO
CREATE NONCLUSTERED INDEX ix_orders_updated_at ON dbo.orders (updated_at) WITH (ONLINE = ON)
GO
