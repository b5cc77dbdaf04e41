CREATE TABLE dbo.accounts (account_no varchar(20) NOT NULL PRIMARY KEY, name nvarchar(100))
GO
SELECT account_no FROM dbo.accounts WHERE account_no = '12345'
SELECT account_no FROM dbo.accounts WHERE name = N'Zoë'
