"""Database fixtures and isolation on the embedded default."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_cdc import CdcConnection, DatabaseHandle


def test_template_is_loaded(cdc_db: CdcConnection) -> None:
    assert cdc_db.fetchval("SELECT count(*) FROM orders") == 500


def test_rollback_isolation_writes(cdc_db: CdcConnection) -> None:
    cdc_db.execute("DELETE FROM orders WHERE status = %s", ("cancelled",))
    cdc_db.commit()  # in rollback isolation this releases a savepoint: nothing is committed
    assert cdc_db.fetchval("SELECT count(*) FROM orders") == 375


def test_rollback_isolation_next_test_sees_nothing(cdc_db: CdcConnection) -> None:
    assert cdc_db.fetchval("SELECT count(*) FROM orders") == 500


@pytest.mark.cdc(db="target", isolation="database")
def test_loader_commits_on_its_own_connection(
    cdc_target: CdcConnection, cdc_databases: dict[str, DatabaseHandle]
) -> None:
    """Code that commits on connections of its own gets a fresh database, dropped after."""
    name = cdc_target.fetchval("SELECT current_database()")
    loader = cdc_databases["target"].connect(name)  # what a CDC loader would open
    loader.raw.autocommit = False
    loader.execute("UPDATE orders SET status = 'paid' WHERE order_id = 1")
    loader.commit()
    loader.close()
    assert cdc_target.fetchval("SELECT status FROM orders WHERE order_id = 1") == "paid"
    print(f"fresh database {name!r}, cloned from the template and dropped after this test")


def test_databases_and_versions(
    cdc_databases: dict[str, DatabaseHandle], show: Callable[[str, str], None]
) -> None:
    lines = []
    for name, handle in cdc_databases.items():
        handle.prepare()
        lines.append(
            f"{name:8} {handle.describe()}  {handle.server_version.split(' (')[0]}"
            f"  ready in {handle.ready_seconds:.2f} s"
        )
    show("databases", "\n".join(lines))
