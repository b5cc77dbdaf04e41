CREATE TABLE dbo.accounts (account_no varchar(20) NOT NULL PRIMARY KEY, balance decimal(18, 2))
GO
SELECT balance FROM dbo.accounts WHERE account_no = N'12345'
SELECT a.balance FROM dbo.accounts AS a WHERE a.account_no = 12345
