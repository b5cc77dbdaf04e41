SELECT CustomerId FROM dbo.Customers WHERE ModifiedAt > @since
SELECT c.CustomerId FROM dbo.Customers AS c WHERE c.Code = @code
SELECT s.CustomerId FROM staging.Customers AS s JOIN dbo.Customers AS c ON c.CustomerId = s.CustomerId
