"""The foundation against a live SQL Server (skips here: no SQL Server can run on this machine;
the GitHub workflow runs these against a mcr.microsoft.com/mssql/server service container)."""

from __future__ import annotations

import pytest

from pytest_cdc.database import CdcConnection

NEEDS = (
    "needs a SQL Server: pass"
    " --cdc-db='mssql=mssql://sa:PASSWORD@HOST:1433/master?TrustServerCertificate=yes'"
)


@pytest.fixture
def mssql(cdc_databases: dict[str, object], cdc_connect: object) -> CdcConnection:
    if "mssql" not in cdc_databases:
        pytest.skip(NEEDS)
    return cdc_connect("mssql")  # type: ignore[operator,no-any-return]


def test_version_and_rollback(mssql: CdcConnection) -> None:
    assert mssql.dialect.name == "mssql"
    mssql.execute("CREATE TABLE #t (id int PRIMARY KEY)")
    mssql.execute("INSERT INTO #t VALUES (?)", (1,))
    mssql.commit()  # a savepoint, not a commit
    assert mssql.fetchval("SELECT COUNT(*) FROM #t") == 1
    assert mssql.fetchval("SELECT @@TRANCOUNT") >= 1


@pytest.mark.cdc(db="mssql", isolation="database")
def test_database_isolation(mssql: CdcConnection) -> None:
    name = mssql.fetchval("SELECT DB_NAME()")
    assert name.startswith("cdc_test_")
    mssql.execute("CREATE TABLE orders (id int PRIMARY KEY)")
    mssql.commit()
