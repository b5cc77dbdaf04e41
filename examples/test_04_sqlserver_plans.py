"""SQL Server: a saved showplan analysed like a live one, and the CLI's exit codes for CI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pytest_cdc import analyze_plan, load_plan
from pytest_cdc.cli import main as cli

Show = Callable[[str, str], None]
PLAN = Path(__file__).parent / "plans" / "orders_by_status.sqlplan"


def test_saved_showplan(show: Show) -> None:
    plan = load_plan(PLAN)
    assert [node.operator for node in plan.scans()] == ["Clustered Index Scan"]
    show("showplan analysis", str(analyze_plan(plan)))


def test_cli_fails_the_gate_on_a_scan(capsys: object, show: Show) -> None:
    code = cli(["plan", str(PLAN), "--fail-on-scan"])
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert code == 1
    show("pytest-cdc plan orders_by_status.sqlplan --fail-on-scan  (exit 1)", out)
