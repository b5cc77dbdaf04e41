"""Benchmark the plan helpers against their bare peers, in one run.

1. One ``assert_no_table_scan`` (SET LOCAL enable_seqscan, EXPLAIN, rollback, parse) against
   a bare ``EXPLAIN (FORMAT JSON)`` through psycopg2 on the same connection: inside an open
   transaction as under the ``cdc_db`` fixture (a savepoint to set and roll back: three
   round trips),
   and on an idle autocommit connection (one implicit transaction: one round trip).
   Target: <= 1.5x.
2. Parsing a 1 MB showplan built by replicating the RelOps of a real plan, against bare
   ``xml.etree.ElementTree.fromstring`` of the same bytes.  Target: <= 100 ms.

    python bench/bench_plans.py [--db postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import psycopg2
from floors import no_seqscan_explain

from pytest_cdc.asserts import assert_no_table_scan
from pytest_cdc.dialects.mssql.plans import parse_showplan

ROOT = Path(__file__).resolve().parents[1]
SHOWPLANS = ROOT / ".." / "shared" / "showplans"
REAL_PLAN = SHOWPLANS / "sqltoolsservice__TestShowPlanRecommendations.xml"
OWN_PLAN = ROOT / "tests" / "plans" / "ok_mssql_seek_lookup.sqlplan"
SQL = "SELECT * FROM bench_plans WHERE id = %s"


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def bench_assert(url: str, rounds: int, *, in_transaction: bool) -> dict[str, float]:
    conn = psycopg2.connect(url)
    conn.autocommit = not in_transaction
    cur = conn.cursor()
    cur.execute("CREATE TEMP TABLE bench_plans (id int PRIMARY KEY, v text)")
    cur.execute("INSERT INTO bench_plans SELECT g, 'v' FROM generate_series(1, 1000) g")
    # In a transaction: cur.execute left one open, as the cdc_db fixture does.  Otherwise
    # the connection is in autocommit and idle, as in a script.

    def bare() -> object:
        cur.execute("EXPLAIN (FORMAT JSON) " + SQL, (5,))
        return cur.fetchone()

    def helper() -> object:
        return assert_no_table_scan(conn, SQL, (5,))

    def floor() -> object:
        # The statements the helper sends, without any Python around them.
        no_seqscan_explain(cur, SQL, (5,), in_transaction)
        return None

    for fn in (bare, helper, floor):  # warm caches and the JSON decoder
        timed(fn, 50)
    samples: dict[str, list[float]] = {"bare": [], "helper": [], "floor": []}
    for _ in range(10):  # interleave so drift hits all equally
        samples["bare"] += timed(bare, rounds // 10)
        samples["helper"] += timed(helper, rounds // 10)
        samples["floor"] += timed(floor, rounds // 10)
    if in_transaction:
        conn.rollback()
    conn.close()
    return {key: statistics.median(values) for key, values in samples.items()}


def _outermost_relops(text: str) -> list[str]:
    """The RelOp elements not nested in another RelOp, as written in the file."""
    found = []
    depth = 0
    start = 0
    for match in re.finditer(r"<RelOp\b|</RelOp>", text):
        if match.group() == "</RelOp>":
            depth -= 1
            if depth == 0:
                found.append(text[start : match.end()])
        else:
            if depth == 0:
                start = match.start()
            depth += 1
    return found


def one_megabyte_showplan() -> bytes:
    source = REAL_PLAN if REAL_PLAN.exists() else OWN_PLAN
    text = source.read_bytes().decode("utf-8-sig")
    body = "\n".join(_outermost_relops(text))
    copies = []
    size = 0
    while size < 1_000_000:
        copies.append(body)
        size += len(body)
    children = "\n".join(copies)
    doc = (
        '<ShowPlanXML xmlns="http://schemas.microsoft.com/sqlserver/2004/07/showplan"'
        ' Version="1.5" Build="15.0.2000.5"><BatchSequence><Batch><Statements>'
        '<StmtSimple StatementText="bench" StatementId="1" StatementType="SELECT"'
        ' StatementSubTreeCost="1" StatementEstRows="1"><QueryPlan>'
        '<RelOp NodeId="0" PhysicalOp="Concatenation" LogicalOp="Concatenation"'
        ' EstimateRows="1" EstimatedTotalSubtreeCost="1"><OutputList/><Concat>'
        f"{children}</Concat></RelOp></QueryPlan></StmtSimple></Statements></Batch>"
        "</BatchSequence></ShowPlanXML>"
    )
    return doc.encode("utf-8")


def bench_parse(rounds: int) -> tuple[int, int, float, float]:
    data = one_megabyte_showplan()
    nodes = sum(1 for _ in parse_showplan(data).nodes())
    bare = statistics.median(timed(lambda: ET.fromstring(data), rounds))
    ours = statistics.median(timed(lambda: parse_showplan(data), rounds))
    return len(data), nodes, bare, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()

    for in_transaction, title in (
        (True, "in a transaction (cdc_db)"),
        (False, "autocommit, idle (scripts)"),
    ):
        r = bench_assert(args.db, args.rounds, in_transaction=in_transaction)
        print(f"-- {title}, medians of {args.rounds}")
        print(f"bare EXPLAIN (psycopg2):        {r['bare'] * 1e6:8.1f} us")
        print(f"assert_no_table_scan:          {r['helper'] * 1e6:8.1f} us")
        print(f"its SQL alone:                 {r['floor'] * 1e6:8.1f} us")
        print(f"ratio assert / bare EXPLAIN:   {r['helper'] / r['bare']:8.2f}x  (target <= 1.5x)")
        print(f"ratio SQL alone / bare:        {r['floor'] / r['bare']:8.2f}x  (protocol floor)")

    print("-- 1 MB showplan")
    size, nodes, et_bare, ours = bench_parse(20)
    print(f"showplan size:                 {size / 1e6:8.2f} MB, {nodes} operators")
    print(f"ElementTree.fromstring only:   {et_bare * 1e3:8.1f} ms  (median of 20)")
    print(f"parse_showplan:                {ours * 1e3:8.1f} ms  (target <= 100 ms)")
    print(f"ratio parse / fromstring:      {ours / et_bare:8.2f}x")


if __name__ == "__main__":
    main()
