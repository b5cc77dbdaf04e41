"""Consumer side of the report contracts: the gate job's expectations, written as Pact files.

Run it to regenerate tests/contract/pacts/cdc-gate-job-pytest-cdc-reconcile.json and
cdc-gate-job-pytest-cdc-replica.json (committed); the provider tests verify real ``reconcile``
and ``validate_replica`` output against those files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pact_module = pytest.importorskip("pact")
from gate_reader import gate, gate_replica  # noqa: E402
from pact import Pact, match  # noqa: E402

PACTS = Path(__file__).parent / "pacts"
CONSUMER, PROVIDER = "cdc-gate-job", "pytest-cdc-reconcile"
DIFFERING = "a reconcile report of tables that differ"
EQUAL = "a reconcile report of equal tables"
REPLICA = "pytest-cdc-replica"
MIXED = "a replica report of one validated and one mismatched table"
CLEAN = "a replica report of validated tables"
UNREACHABLE = "a replica report of a run that could not reach a database"
#: Every state a table can end in; a state the gate does not know breaks the contract (the gate
#: would fail every run on it).
STATES = r"^(validated|mismatched|missing|incompatible|error|pending|suspended|no_key)$"
TIER_OUTCOMES = r"^(passed|failed|skipped|not run)$"


def _report(equal: bool) -> dict[str, Any]:
    key = match.each_like(match.str("42"), min=1)
    return {
        "schema_version": match.int(1),
        "equal": match.bool(equal),
        "source_table": match.str("dbo.orders"),
        "target_table": match.str("public.orders"),
        "source_rows": match.int(3),
        "target_rows": match.int(3 if equal else 2),
        "missing_count": match.int(0 if equal else 1),
        "extra_count": match.int(0),
        "changed_count": match.int(0 if equal else 1),
        "missing": [] if equal else match.each_like(key, min=1),
        "changed": []
        if equal
        else match.each_like(
            {
                "key": key,
                "differences": match.each_key_matches(
                    {"price": ["1.5", "2.5"]}, rules=match.regex("price", regex=r"^.+$")
                ),
            },
            min=1,
        ),
    }


def test_gate_job_contract() -> None:
    pact = Pact(CONSUMER, PROVIDER).with_specification("V4")
    (
        pact.upon_receiving(DIFFERING, "Async").with_body(
            _report(False), content_type="application/json"
        )
    )
    (pact.upon_receiving(EQUAL, "Async").with_body(_report(True), content_type="application/json"))
    seen: list[tuple[int, str]] = []

    def handler(body: str | bytes | None, metadata: dict[str, object]) -> None:
        assert body is not None
        seen.append(gate(body))

    pact.verify(handler, "Async")
    codes = sorted(code for code, _ in seen)
    assert codes == [0, 1], seen
    assert any("1 missing, 0 extra, 1 changed" in text for _, text in seen)
    pact.write_file(PACTS, overwrite=True)
    assert (PACTS / f"{CONSUMER}-{PROVIDER}.json").is_file()


def _table(state: str) -> dict[str, Any]:
    """One table of a replica report; a mismatched one names a missing, an extra and a changed
    row. Both kinds carry the same rules (``$.tables[*]``), so every table must fit them."""
    differ = state != "validated"
    key = match.each_like(match.str("42"), min=1)
    rows = match.each_like(key, min=1) if differ else match.like([])
    outcome = "failed" if differ else "passed"
    return {
        "source_table": match.str("dbo.orders" if differ else "dbo.accounts"),
        "state": match.regex(state, regex=STATES),
        "reason": match.str(
            "rows differ: 1 missing in the target, 1 extra in the target" if differ else ""
        ),
        "missing_count": match.int(int(differ)),
        "extra_count": match.int(int(differ)),
        "changed_count": match.int(int(differ)),
        "missing": rows,
        "extra": rows,
        "changed": match.each_like(
            {
                "key": key,
                "differences": match.each_key_matches(
                    {"price": ["2.00", "2.50"]}, rules=match.regex("price", regex=r"^.+$")
                ),
            },
            min=1,
        )
        if differ
        else match.like([]),
        "tiers": match.each_value_matches(
            {"schema": "passed", "count": "passed", "checksum": outcome},
            rules=match.regex(outcome, regex=TIER_OUTCOMES),
        ),
    }


def _replica(tables: list[dict[str, Any]], error: str = "") -> dict[str, Any]:
    report: dict[str, Any] = {
        "schema_version": match.int(1),
        "source": match.str("mssql://gate@sql.example/shop"),
        "target": match.str("postgresql://gate@pg.example/shop"),
        "error": match.str(error),
    }
    if not error:
        report["stopped"] = match.str("")
        report["tables"] = match.like(tables, min=1)
    return report


def test_gate_job_replica_contract() -> None:
    pact = Pact(CONSUMER, REPLICA).with_specification("V4")
    for description, body in (
        (MIXED, _replica([_table("validated"), _table("mismatched")])),
        (CLEAN, _replica([_table("validated")])),
        (UNREACHABLE, _replica([], error="the target database is not reachable at ...")),
    ):
        pact.upon_receiving(description, "Async").with_body(body, content_type="application/json")
    seen: list[tuple[int, list[str]]] = []

    def handler(body: str | bytes | None, metadata: dict[str, object]) -> None:
        assert body is not None
        seen.append(gate_replica(body))

    pact.verify(handler, "Async")
    assert sorted(code for code, _ in seen) == [0, 1, 2], seen
    failing = next(lines for code, lines in seen if code == 1)
    assert failing[0].endswith("2 tables, 1 failing, 3 mismatched rows"), failing
    assert failing[1].startswith("dbo.orders: mismatched: rows differ"), failing
    assert "keys 42, 42, 42; columns price; failed checksum" in failing[1], failing
    pact.write_file(PACTS, overwrite=True)
    assert (PACTS / f"{CONSUMER}-{REPLICA}.json").is_file()
