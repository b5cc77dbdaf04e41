"""Provider side of the replica report contract: real ``validate_replica`` output verified
against the Pact the consumer test writes (cdc-gate-job-pytest-cdc-replica.json).

The replica is three schemas of the running server: a source of two tables, a target where
both match and one where ``orders`` lacks a row, has an extra one and one changed; a run
against a port nothing listens on gives the report of an unreachable database. The merged
reports of two shards must honour the contract too (``pytest-cdc merge-reports`` output is
what a sharded gate reads).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pact")
from helpers import connect, load, schemas, server_url
from pact import Verifier

from pytest_cdc.replica import ReplicaReport, merge_reports, validate_replica

PACT_FILE = Path(__file__).parent / "pacts" / "cdc-gate-job-pytest-cdc-replica.json"
PROVIDER = "pytest-cdc-replica"
MIXED = "a replica report of one validated and one mismatched table"
CLEAN = "a replica report of validated tables"
UNREACHABLE = "a replica report of a run that could not reach a database"
#: Nothing listens on port 1: the connection is refused at once.
NOWHERE = "postgresql://postgres@127.0.0.1:1/test"
ORDERS = "id int PRIMARY KEY, price numeric(10,2)"
ROWS = [(1, Decimal("1.50")), (2, Decimal("2.00")), (3, Decimal("3.25"))]


@pytest.fixture(scope="module")
def reports() -> Iterator[dict[str, ReplicaReport]]:
    conn = connect()
    try:
        with schemas(conn, 3) as (src, same, differing):
            for schema in (src, same, differing):
                load(conn, f'"{schema}".accounts', "id int PRIMARY KEY, name text", [(1, "a")])
            load(conn, f'"{src}".orders', ORDERS, ROWS)
            load(conn, f'"{same}".orders', ORDERS, ROWS)
            load(
                conn,
                f'"{differing}".orders',
                ORDERS,
                [(1, Decimal("1.50")), (2, Decimal("2.50")), (4, Decimal("4.00"))],
            )
            url = server_url()
            mixed = {"schemas": {src: differing}}
            yield {
                "mixed": validate_replica(url, url, mapping=mixed),
                "clean": validate_replica(url, url, mapping={"schemas": {src: same}}),
                "merged": merge_reports(
                    [validate_replica(url, url, mapping=mixed, shard=f"{i}/2") for i in (1, 2)]
                ),
                "unreachable": validate_replica(url, NOWHERE, mapping=mixed),
            }
    finally:
        conn.close()


def _message(body: str | dict[str, Any]) -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    return {"contents": text.encode(), "metadata": None, "content_type": "application/json"}


def _verifier(messages: dict[str, str | dict[str, Any]]) -> Verifier:
    if not PACT_FILE.is_file():
        pytest.skip(f"needs {PACT_FILE.name}: run tests/contract/test_report_consumer.py first")
    handler = {name: _message(body) for name, body in messages.items()}
    return Verifier(PROVIDER).message_handler(handler).add_source(PACT_FILE)


def test_replica_reports_honour_the_gate_contract(reports: dict[str, ReplicaReport]) -> None:
    mixed, clean, unreachable = reports["mixed"], reports["clean"], reports["unreachable"]
    assert [t.state for t in mixed.tables] == ["validated", "mismatched"]
    orders = mixed.tables[1]
    assert (orders.missing_count, orders.extra_count, orders.changed_count) == (1, 1, 1)
    assert [t.state for t in clean.tables] == ["validated", "validated"]
    assert unreachable.error and not unreachable.tables
    assert [r.exit_code() for r in (clean, mixed, unreachable)] == [0, 1, 2]
    _verifier(
        {MIXED: mixed.to_json(), CLEAN: clean.to_json(), UNREACHABLE: unreachable.to_json()}
    ).verify()


def test_merged_shard_reports_honour_the_gate_contract(reports: dict[str, ReplicaReport]) -> None:
    merged = reports["merged"]
    assert merged.shards == ["1/2", "2/2"]
    assert [t.state for t in merged.tables] == ["validated", "mismatched"]
    _verifier(
        {
            MIXED: merged.to_json(),
            CLEAN: reports["clean"].to_json(),
            UNREACHABLE: reports["unreachable"].to_json(),
        }
    ).verify()


@pytest.mark.parametrize(
    ("where", "key"), [("tables", "state"), ("tables", "missing_count"), ("report", "stopped")]
)
def test_a_report_that_renames_a_field_breaks_the_contract(
    reports: dict[str, ReplicaReport], where: str, key: str
) -> None:
    broken = reports["mixed"].to_dict()
    for holder in broken["tables"] if where == "tables" else [broken]:
        holder[f"{key}_v2"] = holder.pop(key)
    verifier = _verifier(
        {
            MIXED: broken,
            CLEAN: reports["clean"].to_json(),
            UNREACHABLE: reports["unreachable"].to_json(),
        }
    )
    with pytest.raises(RuntimeError, match="Failed to execute verifier"):
        verifier.verify()
    # The verifier's own output names the interaction and the field.
    output = str(verifier.output(strip_ansi=True))
    assert MIXED in output and f"missing the following keys: {key}" in output, output
