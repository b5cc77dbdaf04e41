"""Write a corpus of real-looking migrations and reconciliation queries for the hook benchmark.

Deterministic (seeded) so that runs compare; written to a directory the caller chooses and
never committed.  Both dialects, the shapes real projects have: CREATE TABLE with constraints,
indexes (some CONCURRENTLY / ONLINE, some not), ALTER TABLE, PostgreSQL DO blocks and functions,
T-SQL IF NOT EXISTS wrappers, GO batches, procedures, views; queries with joins, CTEs, window
functions, pagination and the occasional mistake the lint should catch.
"""

from __future__ import annotations

import random
from pathlib import Path

__all__ = ["write_corpus", "write_ddl_corpus"]

WORDS = tuple(
    [
        "order",
        "customer",
        "invoice",
        "payment",
        "shipment",
        "product",
        "account",
        "ledger",
        "entry",
        "refund",
        "address",
        "contract",
        "subscription",
        "event",
        "audit",
        "balance",
        "transfer",
        "vendor",
        "item",
        "batch",
    ]
)
PG_TYPES = [
    "bigint",
    "integer",
    "text",
    "varchar(64)",
    "numeric(18,2)",
    "timestamptz",
    "boolean",
    "uuid",
    "jsonb",
    "date",
]
MS_TYPES = [
    "bigint",
    "int",
    "nvarchar(64)",
    "varchar(32)",
    "decimal(18,2)",
    "datetime2",
    "bit",
    "uniqueidentifier",
    "date",
    "nvarchar(max)",
]

PYPROJECT = """\
[tool.pytest-cdc]
dialects = { "mssql/**" = "tsql", "pg/**" = "postgres" }
ddl = ["*/migrations/*.sql"]
queries = ["*/queries/*.sql"]

[[tool.pytest-cdc.reconciliation-tables]]
name = "public.order_0"
key = ["order_0_id"]
timestamp = "updated_at"
status = "status"

[[tool.pytest-cdc.reconciliation-tables]]
name = "dbo.customer_1"
key = ["customer_1_id"]
timestamp = "modified_at"
dialect = "mssql"
"""


def _columns(rng: random.Random, types: list[str], n: int) -> list[tuple[str, str]]:
    names = rng.sample(
        [
            "name",
            "code",
            "amount",
            "quantity",
            "note",
            "email",
            "region",
            "currency",
            "source",
            "external_ref",
            "priority",
            "channel",
            "score",
            "flags",
            "payload",
            "due_on",
        ],
        k=n,
    )
    return [(name, rng.choice(types)) for name in names]


def _pg_migration(rng: random.Random, i: int) -> str:
    table = f"{WORDS[i % len(WORDS)]}_{i // len(WORDS)}"
    cols = _columns(rng, PG_TYPES, rng.randint(4, 9))
    body = [f"    {table}_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"]
    body += [f"    {c} {t}{' NOT NULL' if rng.random() < 0.4 else ''}" for c, t in cols]
    body += [
        "    status text NOT NULL DEFAULT 'new'",
        "    updated_at timestamptz NOT NULL DEFAULT now()",
        "    deleted_at timestamptz",
    ]
    out = [
        f"-- migration {i:04d}: {table}",
        "BEGIN;",
        f"CREATE TABLE IF NOT EXISTS public.{table} (",
        ",\n".join(body),
        ");",
    ]
    out.append(f"COMMENT ON TABLE public.{table} IS 'replicated from SQL Server';")
    out.append("COMMIT;")
    out.append(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_{table}_updated"
        f" ON public.{table} (updated_at);"
    )
    if rng.random() < 0.5:
        out.append(f"CREATE INDEX ix_{table}_status ON public.{table} (status, updated_at);")
    if rng.random() < 0.4:
        out.append(
            f"CREATE INDEX CONCURRENTLY ix_{table}_live ON public.{table} ({cols[0][0]})"
            " WHERE deleted_at IS NULL;"
        )
    if rng.random() < 0.4:
        out.append(
            "DO $$\nBEGIN\n"
            f"    ALTER TABLE public.{table} ADD COLUMN IF NOT EXISTS synced_at timestamptz;\n"
            "EXCEPTION WHEN duplicate_column THEN NULL;\nEND $$;"
        )
    if rng.random() < 0.3:
        out.append(
            f"CREATE OR REPLACE FUNCTION public.touch_{table}() RETURNS trigger AS $fn$\n"
            "BEGIN\n    NEW.updated_at := now();\n    RETURN NEW;\nEND;\n$fn$ LANGUAGE plpgsql;"
        )
        out.append(
            f"CREATE TRIGGER trg_{table}_touch BEFORE UPDATE ON public.{table}\n"
            f"    FOR EACH ROW EXECUTE FUNCTION public.touch_{table}();"
        )
    if rng.random() < 0.2:
        out.append("CREATE EXTENSION IF NOT EXISTS pgcrypto;")
    if rng.random() < 0.3:
        out.append(f"ALTER TABLE public.{table} ALTER COLUMN {cols[0][0]} SET NOT NULL;")
    if rng.random() < 0.2:
        out.append(f"GRANT SELECT ON public.{table} TO reconciliation_reader;")
    if rng.random() < 0.15:
        out.append(f"DROP INDEX IF EXISTS ix_{table}_old;")
    if rng.random() < 0.1:
        out.append(
            f"ALTER TABLE public.{table} ADD CONSTRAINT {table}_code_key UNIQUE USING INDEX "
            f"ix_{table}_code;"
        )
    return "\n".join(out) + "\n"


def _ms_migration(rng: random.Random, i: int) -> str:
    table = f"{WORDS[(i + 3) % len(WORDS)]}_{i // len(WORDS)}"
    cols = _columns(rng, MS_TYPES, rng.randint(4, 9))
    body = [f"        {table}_id bigint IDENTITY(1,1) NOT NULL"]
    body += [f"        {c} {t} {'NOT NULL' if rng.random() < 0.4 else 'NULL'}" for c, t in cols]
    body += [
        "        status char(1) NOT NULL CONSTRAINT df_" + table + "_status DEFAULT 'N'",
        "        modified_at datetime2(3) NOT NULL",
        f"        CONSTRAINT pk_{table} PRIMARY KEY CLUSTERED ({table}_id ASC)",
    ]
    out = [
        f"-- migration {i:04d}: dbo.{table}",
        "SET ANSI_NULLS ON",
        "GO",
        "SET QUOTED_IDENTIFIER ON",
        "GO",
        f"IF NOT EXISTS (SELECT 1 FROM sys.tables WHERE name = N'{table}')",
        "BEGIN",
        f"    CREATE TABLE dbo.{table} (",
        ",\n".join(body),
        "    )",
        "END",
        "GO",
        f"CREATE NONCLUSTERED INDEX ix_{table}_modified ON dbo.{table} (modified_at)"
        f" INCLUDE ({cols[0][0]}) WITH (ONLINE = ON)",
        "GO",
    ]
    if rng.random() < 0.5:
        out += [f"CREATE INDEX ix_{table}_status ON dbo.{table} (status, modified_at)", "GO"]
    if rng.random() < 0.3:
        out += [
            f"CREATE NONCLUSTERED INDEX ix_{table}_open ON dbo.{table} ({cols[1][0]})"
            " WHERE status = 'O' WITH (ONLINE = ON, FILLFACTOR = 90)",
            "GO",
        ]
    if rng.random() < 0.4:
        out += [
            f"IF COL_LENGTH('dbo.{table}', 'synced_at') IS NULL",
            f"    ALTER TABLE dbo.{table} ADD synced_at datetime2(3) NULL",
            "GO",
        ]
    if rng.random() < 0.3:
        out += [
            f"CREATE OR ALTER PROCEDURE dbo.usp_{table}_changed @since datetime2 AS",
            "BEGIN",
            "    SET NOCOUNT ON;",
            f"    SELECT {table}_id, modified_at FROM dbo.{table} WHERE modified_at > @since",
            "    ORDER BY modified_at;",
            "END",
            "GO",
        ]
    if rng.random() < 0.2:
        out += [f"ALTER INDEX ix_{table}_modified ON dbo.{table} REBUILD WITH (ONLINE = ON)", "GO"]
    if rng.random() < 0.2:
        out += [f"EXEC sp_rename 'dbo.{table}.note', 'remark', 'COLUMN'", "GO"]
    if rng.random() < 0.15:
        out += [f"DROP INDEX ix_{table}_old ON dbo.{table}", "GO"]
    return "\n".join(out) + "\n"


def _pg_queries(rng: random.Random, i: int, tables: int) -> str:
    out = [f"-- reconciliation queries, batch {i}"]
    for _ in range(rng.randint(4, 9)):
        t = f"{WORDS[rng.randrange(len(WORDS))]}_{rng.randrange(max(tables // len(WORDS), 1))}"
        choice = rng.random()
        if choice < 0.25:
            out.append(
                f"SELECT {t}_id, status, updated_at\nFROM public.{t}\n"
                "WHERE updated_at > $1 AND updated_at <= $2\nORDER BY updated_at, " + f"{t}_id;"
            )
        elif choice < 0.45:
            out.append(
                f"WITH changed AS (\n    SELECT {t}_id, md5(row(t.*)::text) AS h\n"
                f"    FROM public.{t} AS t\n    WHERE t.updated_at > $1\n)\n"
                f"SELECT c.{t}_id, c.h, s.h AS source_h\nFROM changed AS c\n"
                f"LEFT JOIN staging.{t}_hashes AS s ON s.{t}_id = c.{t}_id\n"
                "WHERE s.h IS DISTINCT FROM c.h;"
            )
        elif choice < 0.6:
            out.append(
                f"SELECT status, count(*) AS n, sum(amount) AS total\nFROM public.{t}\n"
                "WHERE deleted_at IS NULL\nGROUP BY status\nORDER BY status;"
            )
        elif choice < 0.7:
            out.append(
                f"SELECT {t}_id, row_number() OVER (PARTITION BY status ORDER BY updated_at DESC)"
                f" AS rn\nFROM public.{t}\nWHERE status = $1\nLIMIT 500 OFFSET $2;"
            )
        elif choice < 0.8:
            out.append(f"SELECT * FROM public.{t} WHERE lower(email) = lower($1);")
        elif choice < 0.9:
            out.append(
                f"UPDATE public.{t} SET status = 'reconciled', updated_at = now()\n"
                f"WHERE {t}_id = ANY($1);"
            )
        else:
            out.append(
                f"SELECT a.{t}_id FROM public.{t} AS a\n"
                f"JOIN public.{t} AS b ON b.{t}_id = a.{t}_id\n"
                "    AND b.updated_at::date = a.updated_at::date\n"
                "WHERE a.code LIKE '%-X';"
            )
    return "\n\n".join(out) + "\n"


def _ms_queries(rng: random.Random, i: int, tables: int) -> str:
    out = [f"-- reconciliation queries, batch {i}"]
    for _ in range(rng.randint(4, 9)):
        w = (rng.randrange(len(WORDS)) + 3) % len(WORDS)
        t = f"{WORDS[w]}_{rng.randrange(max(tables // len(WORDS), 1))}"
        choice = rng.random()
        if choice < 0.3:
            out.append(
                f"SELECT {t}_id, status, modified_at\nFROM dbo.{t}\n"
                "WHERE modified_at > @since AND modified_at <= @until\n"
                f"ORDER BY modified_at, {t}_id\nOFFSET @skip ROWS FETCH NEXT 1000 ROWS ONLY"
            )
        elif choice < 0.5:
            out.append(
                f"SELECT s.{t}_id, HASHBYTES('SHA2_256', CONCAT(s.code, '|', s.amount)) AS h\n"
                f"FROM dbo.{t} AS s\nINNER JOIN staging.{t}_keys AS k ON k.{t}_id = s.{t}_id\n"
                "WHERE s.status <> 'D'"
            )
        elif choice < 0.6:
            out.append(
                f"SELECT CHECKSUM_AGG(BINARY_CHECKSUM(*)) FROM dbo.{t} WITH (NOLOCK)"
                " WHERE modified_at > @since"
            )
        elif choice < 0.75:
            out.append(
                f";WITH d AS (\n    SELECT {t}_id, ROW_NUMBER() OVER (PARTITION BY code ORDER BY "
                f"modified_at DESC) AS rn\n    FROM dbo.{t}\n)\nSELECT {t}_id FROM d WHERE rn > 1"
            )
        elif choice < 0.85:
            out.append(
                f"UPDATE t SET t.status = 'R'\nFROM dbo.{t} AS t\n"
                f"JOIN staging.{t}_done AS d ON d.{t}_id = t.{t}_id"
            )
        else:
            out.append(
                f"SELECT TOP (100) {t}_id FROM dbo.{t}\n"
                "WHERE CONVERT(date, modified_at) = @day OPTION (RECOMPILE)"
            )
    return "\nGO\n".join(out) + "\nGO\n"


def write_corpus(
    root: Path, *, migrations: int = 160, query_files: int = 80, seed: int = 7
) -> dict[str, list[Path]]:
    """Write the mixed corpus under ``root``; returns file lists by group."""
    rng = random.Random(seed)
    groups: dict[str, list[Path]] = {"pg_ddl": [], "pg_queries": [], "ms_ddl": [], "ms_queries": []}
    for sub in ("pg/migrations", "pg/queries", "mssql/migrations", "mssql/queries"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    for i in range(migrations):
        p = root / "pg" / "migrations" / f"V{i + 1}__pg_{i}.sql"
        p.write_text(_pg_migration(rng, i), encoding="utf-8")
        groups["pg_ddl"].append(p)
        m = root / "mssql" / "migrations" / f"V{i + 1}__ms_{i}.sql"
        m.write_text(_ms_migration(rng, i), encoding="utf-8")
        groups["ms_ddl"].append(m)
    for i in range(query_files):
        p = root / "pg" / "queries" / f"recon_{i:03d}.sql"
        p.write_text(_pg_queries(rng, i, migrations), encoding="utf-8")
        groups["pg_queries"].append(p)
        m = root / "mssql" / "queries" / f"recon_{i:03d}.sql"
        m.write_text(_ms_queries(rng, i, migrations), encoding="utf-8")
        groups["ms_queries"].append(m)
    return groups


def write_ddl_corpus(root: Path, files: int = 1000, seed: int = 11) -> list[Path]:
    """``files`` migrations (half per dialect) plus a config with reconciliation tables."""
    rng = random.Random(seed)
    (root / "pg" / "migrations").mkdir(parents=True, exist_ok=True)
    (root / "mssql" / "migrations").mkdir(parents=True, exist_ok=True)
    (root / "pg" / "queries").mkdir(parents=True, exist_ok=True)
    (root / "mssql" / "queries").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    out = []
    for i in range(files // 2):
        p = root / "pg" / "migrations" / f"V{i + 1}__pg.sql"
        p.write_text(_pg_migration(rng, i), encoding="utf-8")
        m = root / "mssql" / "migrations" / f"V{i + 1}__ms.sql"
        m.write_text(_ms_migration(rng, i), encoding="utf-8")
        out += [p, m]
    for i in range(20):
        (root / "pg" / "queries" / f"q{i}.sql").write_text(_pg_queries(rng, i, files // 2))
        (root / "mssql" / "queries" / f"q{i}.sql").write_text(_ms_queries(rng, i, files // 2))
    return out
