"""``pytest-cdc reconcile``: exit codes 0/1/2, text and JSON output, masked passwords."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from reconcile_helpers import connect, load, schemas, server_url

from pytest_cdc.checksums import ReconcileReport
from pytest_cdc.cli import main


@pytest.fixture
def tables() -> Any:
    conn = connect()
    try:
        with schemas(conn, 3) as names:
            load(
                conn,
                f'"{names[0]}".orders',
                "id int, amount_src int, note text",
                [(1, 10, "a"), (2, 20, "b"), (3, 30, None)],
            )
            load(
                conn,
                f'"{names[1]}".orders',
                "id int, amount int, note text",
                [(1, 10, "a"), (2, 20, "b"), (3, 30, None)],
            )
            load(
                conn,
                f'"{names[2]}".orders',
                "id int, amount int, note text",
                [(1, 10, "a"), (2, 21, "b")],
            )
            yield names
    finally:
        conn.close()


def args(names: list[str], target: int, *extra: str) -> list[str]:
    return [
        "reconcile",
        "--source",
        server_url(),
        "--target",
        server_url(),
        "--table",
        f"{names[0]}.orders={names[target]}.orders",
        "--key",
        "id",
        "--columns",
        "amount_src:amount,note",
        *extra,
    ]


def test_equal_tables_exit_0(tables: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args(tables, 1)) == 0
    assert ": equal; source 3 rows, target 3 rows" in capsys.readouterr().out


def test_different_tables_exit_1_with_rows_side_by_side(
    tables: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args(tables, 2)) == 1
    out = capsys.readouterr().out
    assert "1 missing in target, 0 extra in target, 1 changed" in out
    assert "missing in target (id): 3" in out
    assert "amount_src  source='20'  target='21'" in out


def test_json_report_to_a_file(
    tables: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    assert main(args(tables, 2, "--format", "json", "--output", str(out))) == 1
    report = ReconcileReport.from_json(out.read_text())
    assert (report.missing_count, report.changed_count) == (1, 1)
    assert json.loads(out.read_text())["equal"] is False
    assert ReconcileReport.from_json(report.to_json()) == report
    assert "different" in capsys.readouterr().out


def test_errors_exit_2_on_one_line_with_the_password_masked(
    tables: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    secret = server_url().replace("postgres@", "postgres:s3cret@")
    code = main(
        [
            "reconcile",
            "--source",
            secret,
            "--target",
            secret,
            "--table",
            f"{tables[0]}.nope",
            "--key",
            "id",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "s3cret" not in err and "***" in err
    assert len(err.strip().splitlines()) == 1
    assert "does not exist" in err
    code = main(args(tables, 1, "--where", "no_such_column = 1"))
    err = capsys.readouterr().err
    assert code == 2 and "no_such_column" in err and len(err.strip().splitlines()) == 1


def test_aggregation_choice_and_its_refusal(
    tables: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    code = main(args(tables, 2, "--aggregation", "sum", "--format", "json", "--output", str(out)))
    assert code == 1
    assert json.loads(out.read_text())["options"]["aggregation"] == "sum"
    capsys.readouterr()
    # These tables have no index on id: the ordered aggregation is refused in one line.
    assert main(args(tables, 1, "--aggregation", "ordered")) == 2
    err = capsys.readouterr().err
    assert "aggregation='ordered' cannot be used" in err and "lead an index" in err
    assert len(err.strip().splitlines()) == 1
