CREATE TABLE accounts (account_no varchar(20) PRIMARY KEY, balance numeric);
SELECT balance FROM accounts WHERE account_no = '12345';
SELECT account_no FROM accounts WHERE balance = 10;
