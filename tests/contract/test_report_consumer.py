"""Consumer side of the report contract: the gate job's expectations, written as a Pact file.

Run it to regenerate tests/contract/pacts/cdc-gate-job-pytest-cdc-reconcile.json (committed);
the provider test verifies real ``reconcile`` output against that file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pact_module = pytest.importorskip("pact")
from gate_reader import gate  # noqa: E402
from pact import Pact, match  # noqa: E402

PACTS = Path(__file__).parent / "pacts"
CONSUMER, PROVIDER = "cdc-gate-job", "pytest-cdc-reconcile"
DIFFERING = "a reconcile report of tables that differ"
EQUAL = "a reconcile report of equal tables"


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
