"""The pre-commit hooks on a small consumer repository (examples/consumer): what they print."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_cdc_hooks import index_coverage, sql_lint

Show = Callable[[str, str], None]
CONSUMER = Path(__file__).parent / "consumer"


@pytest.fixture
def in_consumer() -> Iterator[list[str]]:
    old = Path.cwd()
    os.chdir(CONSUMER)
    try:
        yield sorted(str(p.relative_to(CONSUMER)) for p in CONSUMER.rglob("*.sql"))
    finally:
        os.chdir(old)


def test_cdc_sql_lint(
    in_consumer: list[str], capsys: pytest.CaptureFixture[str], show: Show
) -> None:
    code = sql_lint.main(["--no-cache", *in_consumer])
    out = capsys.readouterr()
    assert code == 1  # findings: the hook fails the commit
    show(f"cdc-sql-lint {' '.join(in_consumer)}  (exit {code})", out.out + out.err)


def test_cdc_index_coverage(
    in_consumer: list[str], capsys: pytest.CaptureFixture[str], show: Show
) -> None:
    code = index_coverage.main(["--no-cache", *in_consumer])
    out = capsys.readouterr()
    assert code == 1
    show(f"cdc-index-coverage  (exit {code})", out.out + out.err)


def test_sarif_for_code_scanning(
    in_consumer: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    sql_lint.main(["--no-cache", "--format", "sarif", *in_consumer])
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["runs"][0]["results"]
