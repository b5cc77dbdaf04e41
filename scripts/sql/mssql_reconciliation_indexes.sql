-- Reconciliation indexes for one replicated table (SQL Server).
--
--   sqlcmd -v Schema=dbo Table=Orders KeyCol=Id TsCol=UpdatedAt StatusCol=Status
--          ChecksumCols="[Amount], [Note]" ActiveFilter="IsDeleted = 0"
--          -i scripts/sql/mssql_reconciliation_indexes.sql
--
-- ONLINE = ON keeps the table writable during the build (Enterprise, Developer, Azure SQL);
-- remove it on Standard edition.  Run on the CDC source only if reconciliation reads there.

-- Every row comparison looks rows up by key.
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'ux_$(Table)_$(KeyCol)'
               AND object_id = OBJECT_ID(N'[$(Schema)].[$(Table)]'))
    CREATE UNIQUE NONCLUSTERED INDEX [ux_$(Table)_$(KeyCol)]
        ON [$(Schema)].[$(Table)] ([$(KeyCol)]) WITH (ONLINE = ON);
GO

-- Incremental runs read WHERE ts > @watermark.
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'ix_$(Table)_$(TsCol)'
               AND object_id = OBJECT_ID(N'[$(Schema)].[$(Table)]'))
    CREATE NONCLUSTERED INDEX [ix_$(Table)_$(TsCol)]
        ON [$(Schema)].[$(Table)] ([$(TsCol)]) WITH (ONLINE = ON);
GO

-- Equality column first, then the range column.
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'ix_$(Table)_$(StatusCol)_$(TsCol)'
               AND object_id = OBJECT_ID(N'[$(Schema)].[$(Table)]'))
    CREATE NONCLUSTERED INDEX [ix_$(Table)_$(StatusCol)_$(TsCol)]
        ON [$(Schema)].[$(Table)] ([$(StatusCol)], [$(TsCol)]) WITH (ONLINE = ON);
GO

-- The checksum pass reads the index alone: no Key Lookups.
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'ix_$(Table)_$(KeyCol)_incl'
               AND object_id = OBJECT_ID(N'[$(Schema)].[$(Table)]'))
    CREATE NONCLUSTERED INDEX [ix_$(Table)_$(KeyCol)_incl]
        ON [$(Schema)].[$(Table)] ([$(KeyCol)]) INCLUDE ($(ChecksumCols)) WITH (ONLINE = ON);
GO

-- Filtered index: only the rows reconciliation reads.  Parameterised queries use it only
-- when the filter is written literally in the query (else "UnmatchedIndexes" in the plan).
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'ix_$(Table)_$(TsCol)_active'
               AND object_id = OBJECT_ID(N'[$(Schema)].[$(Table)]'))
    CREATE NONCLUSTERED INDEX [ix_$(Table)_$(TsCol)_active]
        ON [$(Schema)].[$(Table)] ([$(TsCol)]) WHERE $(ActiveFilter) WITH (ONLINE = ON);
GO

UPDATE STATISTICS [$(Schema)].[$(Table)];
GO
