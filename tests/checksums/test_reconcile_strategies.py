"""pytest_cdc.strategies: generated rows load into PostgreSQL and reconcile equal to themselves."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import insert, schemas
from hypothesis import HealthCheck, Phase, given, settings

from pytest_cdc.checksums import reconcile
from pytest_cdc.errors import ConfigError
from pytest_cdc.strategies import rows_for, value_strategy

SCHEMA = {
    "id": "bigint",
    "name": "varchar(20)",
    "code": "char(4)",
    "price": "numeric(12,2)",
    "ratio": "double precision",
    "small": "real",
    "seen": "timestamp",
    "at": "timestamptz",
    "day": "date",
    "ok": "boolean",
    "ref": "uuid",
    "blob": "bytea",
}


def test_rows_load_and_reconcile_equal(pg: Any) -> None:
    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )
    @given(rows_for(SCHEMA, key="id", max_size=20))
    def check(rows: list[dict[str, Any]]) -> None:
        assert len({r["id"] for r in rows}) == len(rows)
        with schemas(pg, 2) as names:
            cur = pg.cursor()
            ddl = ", ".join(f'"{c}" {t}' for c, t in SCHEMA.items())
            for name in names:
                cur.execute(f'CREATE TABLE "{name}".t ({ddl})')
                insert(pg, f'"{name}".t', [[row[c] for c in SCHEMA] for row in rows])
            report = reconcile(
                pg, pg, table=f"{names[0]}.t", target_table=f"{names[1]}.t", key="id", leaf_rows=4
            )
            assert report.equal and report.source_rows == len(rows)

    check()


def test_sql_server_spellings_and_errors() -> None:
    for data_type in (
        "nvarchar(10)",
        "datetime2",
        "datetimeoffset",
        "uniqueidentifier",
        "bit",
        "decimal(5,2)",
        "tinyint",
        "varbinary(8)",
        "smalldatetime",
        "float",
    ):
        assert value_strategy(data_type) is not None
    with pytest.raises(ConfigError, match="no strategy for column type 'interval'"):
        value_strategy("interval")
    with pytest.raises(ConfigError, match="key column 'nope'"):
        rows_for({"id": "int"}, key="nope")
