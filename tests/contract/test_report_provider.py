"""Provider side of the report contract: real ``reconcile`` output verified against the Pact.

The reports come from PostgreSQL tables reconciled for real (one missing and one changed
row, or identical tables); the pact file is the one the consumer test writes.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pact")
from helpers import connect, load, schemas
from pact import Verifier

from pytest_cdc.checksums import reconcile

PACT_FILE = Path(__file__).parent / "pacts" / "cdc-gate-job-pytest-cdc-reconcile.json"
ROWS = [(1, Decimal("1.50")), (2, Decimal("2.00")), (3, Decimal("3.25"))]


@pytest.fixture(scope="module")
def reports() -> Any:
    conn = connect()
    try:
        with schemas(conn, 3) as (src, same, differing):
            load(conn, f'"{src}".orders', "id int, price numeric(10,2)", ROWS)
            load(conn, f'"{same}".orders', "id int, price numeric(10,2)", ROWS)
            load(
                conn,
                f'"{differing}".orders',
                "id int, price numeric(10,2)",
                [(1, Decimal("1.50")), (2, Decimal("2.50"))],
            )
            yield {
                "equal": reconcile(
                    conn, conn, table=f"{src}.orders", target_table=f"{same}.orders", key="id"
                ),
                "differing": reconcile(
                    conn, conn, table=f"{src}.orders", target_table=f"{differing}.orders", key="id"
                ),
            }
    finally:
        conn.close()


def test_reconcile_reports_honour_the_gate_contract(reports: dict[str, Any]) -> None:
    if not PACT_FILE.is_file():
        pytest.skip(f"needs {PACT_FILE.name}: run tests/contract/test_report_consumer.py first")
    assert not reports["differing"].equal and reports["equal"].equal

    def message(report: Any) -> dict[str, Any]:
        return {
            "contents": report.to_json().encode(),
            "metadata": None,
            "content_type": "application/json",
        }

    verifier = (
        Verifier("pytest-cdc-reconcile")
        .message_handler(
            {
                "a reconcile report of tables that differ": message(reports["differing"]),
                "a reconcile report of equal tables": message(reports["equal"]),
            }
        )
        .add_source(PACT_FILE)
    )
    verifier.verify()


def test_a_report_missing_a_field_breaks_the_contract(reports: dict[str, Any]) -> None:
    if not PACT_FILE.is_file():
        pytest.skip(f"needs {PACT_FILE.name}: run tests/contract/test_report_consumer.py first")
    broken = reports["differing"].to_dict()
    del broken["missing_count"]
    import json

    verifier = (
        Verifier("pytest-cdc-reconcile")
        .message_handler(
            {
                "a reconcile report of tables that differ": {
                    "contents": json.dumps(broken).encode(),
                    "metadata": None,
                    "content_type": "application/json",
                },
                "a reconcile report of equal tables": {
                    "contents": reports["equal"].to_json().encode(),
                    "metadata": None,
                    "content_type": "application/json",
                },
            }
        )
        .add_source(PACT_FILE)
    )
    with pytest.raises(RuntimeError, match="Failed to execute verifier"):
        verifier.verify()
    # The verifier's own output names the mismatch.
    assert "missing_count" in str(verifier.output(strip_ansi=True))
