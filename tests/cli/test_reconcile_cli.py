"""``pytest-cdc reconcile``: exit codes 0/1/2, text and JSON output, masked passwords."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import connect, load, schemas, server_url

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
    secret = server_url().replace("postgres@", "postgres:placeholder@")
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
    assert "placeholder" not in err and "***" in err
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
    # In the command's own words, not the API's (aggregation='ordered').
    assert "--aggregation ordered cannot be used" in err and "lead an index" in err
    assert "pass --aggregation sum" in err and "aggregation=" not in err
    assert len(err.strip().splitlines()) == 1


# -- exit codes that never lie -------------------------------------------------------------------
@pytest.mark.parametrize("where", ["missing-dir", "directory", "proc"])
def test_an_unwritable_output_is_exit_2_in_one_line(
    tables: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    # Equal tables: exit 1 ("different") here would be a lie a gate believes.
    output = {
        "missing-dir": tmp_path / "no" / "such" / "r.json",
        "directory": tmp_path,
        "proc": Path("/proc/version"),
    }[where]
    code = main(args(tables, 1, "--output", str(output)))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "the comparison finished (equal) but the report cannot be written" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_reader_that_goes_away_ends_the_output_quietly(tables: list[str]) -> None:
    import subprocess
    import sys

    script = "import sys; from pytest_cdc.cli import main; sys.exit(main(sys.argv[1:]))"
    # Many changed rows and JSON: far more than a pipe buffer, read by a reader that stops.
    cmd = [sys.executable, "-c", script, *args(tables, 2, "--format", "json", "--show", "0")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.read(10)
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1  # the verdict: the tables differ
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--show", "-1"),
        ("--leaf-rows", "0"),
        ("--leaf-rows", "-5"),
        ("--timeout", "-3"),
        ("--float-digits", "x"),
    ],
)
def test_numbers_are_checked(
    tables: list[str], capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(args(tables, 1, flag, value))
    assert info.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err


def test_an_unterminated_quote_in_a_table_name_is_an_error(
    tables: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = args(tables, 1)
    argv[argv.index("--table") + 1] = '"ok'
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "never closed" in err and len(err.strip().splitlines()) == 1


def test_an_unreachable_side_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "reconcile",
            "--source",
            server_url(),
            "--target",
            "postgresql://app:placeholder@127.0.0.1:1/db",
            "--table",
            "t",
            "--key",
            "id",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "the target database is not reachable at postgresql://app:***@127.0.0.1:1/db" in err
    assert "check that it runs" in err and "placeholder" not in err and "'default'" not in err


def test_an_unknown_role_is_not_told_to_start_the_server(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = server_url().replace("postgres@", "no_such_role_x@", 1)
    assert main(["reconcile", "--source", url, "--target", url, "--table", "t", "--key", "id"])
    err = capsys.readouterr().err
    assert "check the user name" in err and "start" not in err


def test_an_internal_error_is_one_line_and_exit_2(
    tables: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_cdc.checksums import diff

    def broken(self: object) -> None:
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(diff.Reconciler, "finish", broken)
    assert main(args(tables, 1)) == 2
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: planted" in err
    assert len(err.strip().splitlines()) == 1
