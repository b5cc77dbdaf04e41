"""The replica gate's decisions beyond the contract's three messages, on the contract's own
example report (from the committed pact file): a stopped run, ``--strict`` and suspended
tables, tables without a key, a state the gate does not know, and keys it does not read."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from gate_reader import gate_replica

PACT_FILE = Path(__file__).parent / "pacts" / "cdc-gate-job-pytest-cdc-replica.json"
MIXED = "a replica report of one validated and one mismatched table"


@pytest.fixture
def report() -> dict[str, Any]:
    pact = json.loads(PACT_FILE.read_text(encoding="utf-8"))
    (found,) = (i for i in pact["interactions"] if i["description"] == MIXED)
    return copy.deepcopy(found["contents"]["content"])


def _gate(report: dict[str, Any], **kwargs: Any) -> tuple[int, list[str]]:
    return gate_replica(json.dumps(report), **kwargs)


def test_the_mismatched_table_fails_the_gate_with_its_reason(report: dict[str, Any]) -> None:
    code, lines = _gate(report)
    assert code == 1
    assert lines[0].endswith(": 2 tables, 1 failing, 3 mismatched rows")
    assert lines[1] == (
        "dbo.orders: mismatched: rows differ: 1 missing in the target, 1 extra in the target"
        " (1 missing, 1 extra, 1 changed; keys 42, 42, 42; columns price; failed checksum)"
    )
    assert len(lines) == 2


def test_a_stopped_run_is_not_a_verdict(report: dict[str, Any]) -> None:
    report["tables"] = report["tables"][:1]
    assert _gate(report)[0] == 0
    report["stopped"] = "10,000 failures (failure-max-count): 3 tables not checked"
    code, lines = _gate(report)
    assert code == 2 and lines[-1].startswith("stopped: 10,000 failures")


@pytest.mark.parametrize(
    ("state", "strict", "code"),
    [
        ("suspended", False, 0),
        ("suspended", True, 1),
        ("no_key", True, 0),
        ("pending", False, 1),
        ("error", False, 2),
        ("a_state_added_later", False, 2),
    ],
)
def test_each_state_decides_the_exit_code(
    report: dict[str, Any], state: str, strict: bool, code: int
) -> None:
    report["tables"][1]["state"] = state
    got, lines = _gate(report, strict=strict)
    assert got == code, lines
    assert any(line.startswith(f"dbo.orders: {state}:") for line in lines) == bool(code)


def test_the_run_error_wins_and_added_keys_are_ignored(report: dict[str, Any]) -> None:
    report["shards"] = ["1/2", "2/2"]
    report["tables"][1]["a_key_added_later"] = {"x": 1}
    assert _gate(report)[0] == 1
    report["error"] = "the target database is not reachable at postgresql://pg.example/shop"
    code, lines = _gate(report)
    assert code == 2 and lines == [
        "mssql://gate@sql.example/shop -> postgresql://gate@pg.example/shop: not checked:"
        " the target database is not reachable at postgresql://pg.example/shop"
    ]
