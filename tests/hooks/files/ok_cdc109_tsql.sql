CREATE TABLE dbo.events (event_id bigint NOT NULL, happened_at datetime2, CONSTRAINT pk_events PRIMARY KEY CLUSTERED (event_id))
GO
SELECT event_id FROM dbo.events ORDER BY happened_at, event_id OFFSET 200 ROWS FETCH NEXT 100 ROWS ONLY
