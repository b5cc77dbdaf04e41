"""The whole replica: schema and type checks, every table tier by tier, and repair SQL.

`source` and `target` (pytest.ini) stand in for a SQL Server source and its PostgreSQL
replica; the target gets a second table with a type the pipeline narrowed, and `orders`
loses, gains and changes a row behind the pipeline's back.  `pytest-cdc validate` runs the
same thing from the command line (docs/replica.md).  While CDC runs, differing rows are read
again after the lag before they count: the report's notes say how often and how far apart.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pytest_cdc import CdcConnection, compare_schemas, validate_replica

Show = Callable[[str, str], None]


def _build(source: CdcConnection, target: CdcConnection) -> None:
    for side in (source, target):
        side.execute(
            "CREATE TABLE payments (payment_id int PRIMARY KEY, order_id bigint NOT NULL,"
            f" paid_at {'timestamp(6)' if side is source else 'timestamp(3)'} NOT NULL,"
            " amount numeric(12, 2) NOT NULL)"
        )
        side.execute(
            "INSERT INTO payments SELECT g, g, timestamp '2026-01-01' + g * interval '1 hour',"
            " g * 1.5 FROM generate_series(1, 200) g"
        )
    target.execute("DELETE FROM orders WHERE order_id = 17")
    target.execute("INSERT INTO orders VALUES (9001, 1, 'new', now(), 1.00, 'ghost')")
    target.execute("UPDATE orders SET amount = amount + 0.01 WHERE order_id = 250")


def test_what_a_replica_report_looks_like(
    cdc_source: CdcConnection, cdc_target: CdcConnection, show: Show, report_dir: Path
) -> None:
    _build(cdc_source, cdc_target)
    schema = compare_schemas(cdc_source, cdc_target)
    show("schema comparison (text)", schema.to_text())
    report = validate_replica(
        cdc_source, cdc_target, lag_column="updated_at", repair_sql=report_dir / "repair.sql"
    )
    states = {t.source_table.split(".")[-1]: t.state for t in report.tables}
    assert states == {"orders": "mismatched", "payments": "validated"}
    assert report.exit_code() == 1
    show("validate_replica report (text, what pytest-cdc validate prints)", report.to_text())
    show("the same as Markdown (for $GITHUB_STEP_SUMMARY)", report.to_markdown())
    repair = (report_dir / "repair.sql").read_text()
    assert "ON CONFLICT" in repair and "DELETE FROM" in repair
    show("repair SQL for the stable mismatches (never run by pytest-cdc)", repair)
