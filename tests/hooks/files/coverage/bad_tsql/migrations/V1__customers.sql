IF OBJECT_ID(N'dbo.Customers') IS NULL
BEGIN
    CREATE TABLE dbo.Customers (
        CustomerId int NOT NULL,
        State char(1) NOT NULL,
        Code varchar(20) NULL,
        ModifiedAt datetime2 NOT NULL
    )
END
GO
CREATE NONCLUSTERED INDEX IX_Customers_Code ON dbo.Customers (Code) WHERE State = 'A' WITH (ONLINE = ON)
GO
