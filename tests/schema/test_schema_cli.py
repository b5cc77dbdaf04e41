"""``pytest-cdc schema``: exit codes 0/1/2, text and JSON output, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import connect, schemas, server_url

from pytest_cdc.cli import main
from pytest_cdc.schema import SchemaReport


@pytest.fixture
def replica(tmp_path: Path) -> Any:
    """A source schema and two targets: one that holds everything, one that loses data."""
    conn = connect()
    try:
        with schemas(conn, 3) as names:
            cur = conn.cursor()
            cur.execute(
                f'CREATE TABLE "{names[0]}"."OrderLines" ("OrderID" int PRIMARY KEY,'
                ' "Amount" numeric(12,2), "CreatedAt" timestamp(6));'
                f"CREATE TABLE {names[1]}.order_lines (order_id bigint PRIMARY KEY,"
                " amount numeric(14,2), created_at timestamp(6));"
                f"CREATE TABLE {names[2]}.order_lines (order_id int PRIMARY KEY,"
                " amount numeric(10,0), created_at timestamp(0))"
            )
            configs = []
            for target in names[1:]:
                path = tmp_path / f"{target}.toml"
                path.write_text(
                    f'schemas = {{ {names[0]} = "{target}" }}\nname-style = "snake_case"\n'
                )
                configs.append(str(path))
            yield configs
    finally:
        conn.close()


def args(config: str, *extra: str, source: str | None = None) -> list[str]:
    url = server_url()
    return ["schema", "--source", source or url, "--target", url, "--config", config, *extra]


def test_compatible_exits_0(replica: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args(replica[0])) == 0
    out = capsys.readouterr().out
    assert ": compatible (allowed: widened, representation); 1 table paired" in out
    assert "OrderLines.OrderID  integer" in out and "widened" in out


def test_findings_exit_1_with_the_table(
    replica: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args(replica[1])) == 1
    out = capsys.readouterr().out
    assert "2 findings not allowed" in out
    header = next(line for line in out.splitlines() if line.startswith("source column"))
    assert header.split() == [
        "source",
        "column",
        "type",
        "target",
        "column",
        "type",
        "verdict",
        "why",
    ]
    line = next(line for line in out.splitlines() if ".CreatedAt" in line)
    assert "timestamp(6)" in line and "timestamp(0)" in line and "lossy" in line
    assert "timestamp_precision=0" in line


def test_allow_changes_the_threshold(
    replica: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args(replica[1], "--allow", "widened,representation,lossy")) == 0
    assert main(args(replica[0], "--allow", "none")) == 1
    capsys.readouterr()


def test_json_report_to_a_file(
    replica: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "schema.json"
    assert main(args(replica[1], "--format", "json", "--output", str(out))) == 1
    assert "2 findings not allowed" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["compatible"] is False and data["worst"] == "lossy"
    report = SchemaReport.from_json(out.read_text())
    pair = report.pairs[0]
    created = next(c for c in pair.columns if c.source == "CreatedAt")
    assert created.encoding_options == {"timestamp_precision": 0}
    assert pair.encoding_options == {"timestamp_precision": 0}
    assert report.to_json() == out.read_text().rstrip("\n")


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("pytest-cdc schema: error: ")
    return lines[0]


def test_unreachable_database_is_one_line_without_the_password(
    replica: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    dead = "postgresql://postgres:placeholder-pw@127.0.0.1:1/postgres"
    assert main(args(replica[0], source=dead)) == 2
    line = one_line_error(capsys)
    assert "the source database is not reachable at" in line
    assert "placeholder-pw" not in line and "***" in line


def test_missing_schema_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "replica.toml"
    config.write_text('schemas = { no_such_schema = "public" }\n')
    assert main(args(str(config))) == 2
    line = one_line_error(capsys)
    assert "schema 'no_such_schema' does not exist on the source" in line


def test_mapping_with_an_unknown_key_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.pytest-cdc.replica]\nname_style = "lower"\n')
    assert main(args(str(config))) == 2
    line = one_line_error(capsys)
    assert "unknown key 'name_style' (did you mean 'name-style'?)" in line


def test_profile_typo_is_one_line(replica: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args(replica[0], "--profile", "debezum")) == 2
    line = one_line_error(capsys)
    assert "unknown profile 'debezum' (did you mean 'debezium'?)" in line


def test_profile_for_other_engines_is_one_line(
    replica: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args(replica[0], "--profile", "dms")) == 2
    line = one_line_error(capsys)
    assert "profile 'dms' describes mssql -> postgresql pipelines" in line


def test_verdict_typo_is_one_line(replica: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args(replica[0], "--allow", "widened,lossey")) == 2
    line = one_line_error(capsys)
    assert "'lossey' is not a verdict (did you mean 'lossy'?)" in line


def test_missing_config_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args("/nonexistent/replica.toml")) == 2
    assert "config file '/nonexistent/replica.toml' does not exist" in one_line_error(capsys)


def test_unwritable_output_is_one_line(
    replica: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args(replica[0], "--output", "/nonexistent/dir/out.txt")) == 2
    assert "the comparison finished (compatible) but the report cannot be written" in (
        one_line_error(capsys)
    )
