"""SqlStatement splitting: GO batches, T-SQL without semicolons, wrappers, exact offsets."""

from __future__ import annotations

from pytest_cdc_hooks.splitting import split_statements


def texts(sql: str, dialect: str) -> list[str]:
    statements, issues = split_statements(sql, dialect)
    assert not issues
    for s in statements:
        assert sql[s.start : s.end] == s.text
    return [" ".join(s.text.split()) for s in statements]


def test_tsql_go_batches_and_statements_without_semicolons() -> None:
    sql = (
        "CREATE TABLE dbo.a (id int NOT NULL PRIMARY KEY, x int)\n"
        "CREATE INDEX ix ON dbo.a (x)\n"
        "SELECT CASE WHEN x = 1 THEN 'a' ELSE 'b' END FROM dbo.a WHERE x = 1\n"
        "UPDATE dbo.a\nSET x = 2\nWHERE id = 1\n"
        "GO\n"
        "INSERT INTO dbo.a (id, x)\nSELECT id, x FROM dbo.b\n"
        "go 2\n"
        "SELECT 'GO' -- GO\n"
    )
    assert texts(sql, "tsql") == [
        "CREATE TABLE dbo.a (id int NOT NULL PRIMARY KEY, x int)",
        "CREATE INDEX ix ON dbo.a (x)",
        "SELECT CASE WHEN x = 1 THEN 'a' ELSE 'b' END FROM dbo.a WHERE x = 1",
        "UPDATE dbo.a SET x = 2 WHERE id = 1",
        "INSERT INTO dbo.a (id, x) SELECT id, x FROM dbo.b",
        "SELECT 'GO'",
    ]


def test_tsql_merge_keeps_its_branches() -> None:
    sql = (
        "MERGE dbo.a AS t USING dbo.b AS s ON t.id = s.id\nWHEN MATCHED THEN\n"
        "    UPDATE SET x = s.x\nWHEN NOT MATCHED THEN\n    INSERT (id, x) VALUES (s.id, s.x);\n"
        "SELECT 1\n"
    )
    assert len(texts(sql, "tsql")) == 2


def test_tsql_if_not_exists_begin_end_is_unwrapped() -> None:
    statements, _ = split_statements(
        "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix')\n"
        "BEGIN\n    CREATE INDEX ix ON dbo.a (x) WITH (ONLINE = ON);\n    PRINT 'made';\nEND\n"
        "ELSE\n    PRINT 'exists'\nGO\n"
        "IF OBJECT_ID('dbo.t') IS NULL CREATE TABLE dbo.t (id int)\n",
        "tsql",
    )
    assert [(" ".join(s.text.split()), s.nested) for s in statements] == [
        ("CREATE INDEX ix ON dbo.a (x) WITH (ONLINE = ON);", True),
        ("PRINT 'made';", True),
        ("PRINT 'exists'", True),
        ("CREATE TABLE dbo.t (id int)", True),
    ]


def test_tsql_try_catch_and_procedures() -> None:
    sql = (
        "BEGIN TRY\n  DROP INDEX ix ON dbo.a\nEND TRY\nBEGIN CATCH\n  PRINT 'no'\nEND CATCH\n"
        "GO\nCREATE PROCEDURE p AS\nBEGIN\n  SELECT 1\n  SELECT 2\nEND\nGO\n"
        "BEGIN TRAN\nUPDATE dbo.a SET x = 1 WHERE id = 1\nCOMMIT\n"
    )
    assert texts(sql, "tsql") == [
        "DROP INDEX ix ON dbo.a",
        "PRINT 'no'",
        "CREATE PROCEDURE p AS BEGIN SELECT 1 SELECT 2 END",
        "BEGIN TRAN",
        "UPDATE dbo.a SET x = 1 WHERE id = 1",
        "COMMIT",
    ]


def test_postgres_do_block_ddl_is_pulled_out() -> None:
    sql = (
        "DO $$\nBEGIN\n  CREATE TABLE IF NOT EXISTS u (id int PRIMARY KEY);\n"
        "  IF NOT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'ix') THEN\n"
        "     CREATE INDEX ix ON u (id);\n  END IF;\n"
        "  BEGIN\n    ALTER TABLE u ADD COLUMN c int;\n"
        "  EXCEPTION WHEN duplicate_column THEN NULL;\n  END;\nEND $$;\n"
    )
    statements, _ = split_statements(sql, "postgres")
    nested = [s.text for s in statements if s.nested]
    assert nested == [
        "CREATE TABLE IF NOT EXISTS u (id int PRIMARY KEY)",
        "CREATE INDEX ix ON u (id)",
        "ALTER TABLE u ADD COLUMN c int",
    ]
    for s in statements:
        assert sql[s.start : s.end] == s.text


def test_postgres_literals_hide_semicolons() -> None:
    sql = (
        "SELECT 'a;b', E'it\\'s;', \"we;ird\" FROM t;\n"
        "CREATE FUNCTION f() RETURNS int AS $body$ select 1; $body$ LANGUAGE sql;\n"
        "SELECT foo$bar$ FROM x; /* a; /* nested; */ b; */ SELECT 2;\n"
    )
    assert len(texts(sql, "postgres")) == 4


def test_scan_issues_have_offsets() -> None:
    sql = "SELECT ((1);\nSELECT 1);\nSELECT 'open\n"
    _, issues = split_statements(sql, "postgres")
    found = sorted((i.offset, i.message.split(":")[0]) for i in issues)
    assert found == [
        (0, "1 unclosed '(' in this statement"),
        (21, "unbalanced ')'"),
        (31, "unterminated string literal"),
    ]


def test_client_commands_and_variables() -> None:
    from pytest_cdc_hooks.lint import analyze

    psql = (
        "\\set ix 'ix_' :table\n"
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS :"ix" ON :"schema".:"table" (a);\n'
        "SELECT a FROM t WHERE s = :'schema' AND n::int > :limit;\n"
    )
    parsed, issues, stats = analyze(psql, "postgres")
    assert not issues
    assert [p.status for p in parsed] == ["skipped", "ok", "ok"]
    assert stats.not_understood == 0

    sqlcmd = (
        ":setvar Table orders\n"
        "CREATE NONCLUSTERED INDEX [ix_$(Table)] ON [dbo].[$(Table)] ([id]) WITH (ONLINE = ON)\n"
        "GO\n"
    )
    parsed, issues, _ = analyze(sqlcmd, "tsql")
    assert not issues
    assert [p.status for p in parsed] == ["skipped", "ok"]
