"""Costs and rows print one way everywhere (issue 17: a disabled path's cost showed as
``10000000006`` in one place and ``1.000e+10`` in another)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pytest_cdc.asserts import assert_plan
from pytest_cdc.cli import main
from pytest_cdc.plans.render import figure

PLANS = Path(__file__).resolve().parents[1] / "plans"
if not (PLANS / "ok_pg15_disabled.json").exists():  # once the plan files have moved
    PLANS = PLANS / "files"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (10000000006.0, "10000000006"),
        (10000000035.5, "10000000035.5"),
        (1.0e10, "10000000000"),
        (35.5, "35.5"),
        (8.17, "8.17"),
        (0.0032831, "0.003283"),
        (0.0000123, "0.000012"),
        (0.0, "0"),
        (1234567.891, "1234567.89"),
        (None, "?"),
    ],
)
def test_one_format_never_an_exponent(value: float | None, shown: str) -> None:
    assert figure(value) == shown


def test_the_tree_of_a_disabled_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(PLANS / "ok_pg15_disabled.json")]) == 0
    out = capsys.readouterr().out
    assert "Seq Scan on audit_log  (rows=10 cost=10000000035.5) [disabled]" in out
    assert "e+" not in out


def test_the_assertion_message_and_its_tree_agree(cdc_connect: Any) -> None:
    conn = cdc_connect("default")
    conn.execute("create table figures (id int, note text)")
    conn.execute("set local enable_seqscan = off")  # PostgreSQL before 18: cost + 1e10
    with pytest.raises(pytest.fail.Exception) as failure:
        assert_plan(conn, "select * from figures", max_cost=100)
    message = str(failure.value)
    (stated,) = re.findall(r"estimated cost (\S+) > max_cost 100\b", message)
    (shown,) = re.findall(r"Seq Scan on figures  \(rows=\S+ cost=(\S+)\)", message)
    assert stated == shown
    assert "e+" not in message
