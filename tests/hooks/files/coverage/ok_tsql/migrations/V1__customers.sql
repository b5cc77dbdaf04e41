IF NOT EXISTS (SELECT 1 FROM sys.tables WHERE name = N'Customers')
BEGIN
    CREATE TABLE dbo.Customers (
        CustomerId int NOT NULL,
        State char(1) NOT NULL,
        Code varchar(20) NULL,
        ModifiedAt datetime2 NOT NULL,
        CONSTRAINT PK_Customers PRIMARY KEY CLUSTERED (CustomerId ASC)
    )
END
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_Customers_State_ModifiedAt')
    CREATE NONCLUSTERED INDEX IX_Customers_State_ModifiedAt
        ON dbo.Customers (State, ModifiedAt) WITH (ONLINE = ON)
GO
CREATE NONCLUSTERED INDEX IX_Customers_ModifiedAt ON dbo.Customers (ModifiedAt) INCLUDE (Code)
    WITH (ONLINE = ON)
GO
CREATE NONCLUSTERED INDEX IX_Customers_Code ON dbo.Customers (Code) WHERE State = 'A'
    WITH (ONLINE = ON)
GO
