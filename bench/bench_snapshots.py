"""Benchmark plan snapshots against their bare peers, in one run.

1. Snapshotting one statement (the work ``cdc_plan_snapshot`` does per statement: its
   comments read, the plan taken in index-possible mode, normalised into a shape, keyed and
   compared with the recorded entry) against a bare ``EXPLAIN (FORMAT JSON)`` through psycopg2
   on the same idle autocommit connection, interleaved.  Target: <= 1.5x.  Two statements: a
   lookup on one table, and an aliased join; and, for information, the lookup inside an open
   transaction as under ``cdc_db`` (a savepoint: three round trips against one).
2. ``cdc-index-coverage --live`` over the hooks' example repository (examples/consumer):
   start an embedded PostgreSQL, load the DDL, plan the reads and queries, as the console
   script runs it; the static check of the same repository (cache off) beside it.

    python bench/bench_snapshots.py [--db postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg2
from floors import no_seqscan_explain

from pytest_cdc.database import CdcConnection
from pytest_cdc.dialects import get_dialect
from pytest_cdc.plans.shape import ShapeRules
from pytest_cdc.plans.snapshot import SnapshotStore, statement_rules, take_shape

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "consumer"
STATEMENTS = {
    "lookup": "SELECT * FROM bench_orders WHERE id = %s",
    "aliased join": (
        "SELECT o.id, c.region FROM bench_orders o JOIN bench_customers c ON c.id = o.customer_id"
        " WHERE o.id = %s"
    ),
}


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def bench_statement(
    url: str, sql: str, rounds: int, *, in_transaction: bool = False
) -> dict[str, float]:
    raw = psycopg2.connect(url)
    raw.autocommit = True
    cur = raw.cursor()
    cur.execute(
        "CREATE TEMP TABLE bench_customers (id int PRIMARY KEY, region text);"
        "CREATE TEMP TABLE bench_orders (id int PRIMARY KEY, customer_id int, total numeric);"
        "INSERT INTO bench_customers SELECT g, 'r' || g % 5 FROM generate_series(1, 1000) g;"
        "INSERT INTO bench_orders SELECT g, g % 1000 + 1, g FROM generate_series(1, 10000) g;"
        "ANALYZE bench_customers; ANALYZE bench_orders"
    )
    db = CdcConnection(raw, get_dialect("postgresql"))  # what the fixtures hand out
    module = Path(tempfile.mkdtemp()) / "__cdc_plans__" / "test_bench.json"
    store = SnapshotStore()

    def bare() -> object:
        cur.execute("EXPLAIN (FORMAT JSON) " + sql, (5,))
        return cur.fetchone()

    def snapshot() -> object:
        rules = statement_rules(sql, ShapeRules())
        shape = take_shape(db, sql, (5,), mode="index-possible", keep_gather=rules.keep_gather)
        store.captured.clear()  # as in a new test: the statement is checked, not skipped
        outcome = store.check(
            module, "test_bench", "default", sql, shape, mode="index-possible", rules=rules
        )
        assert outcome.status in ("new", "same"), outcome.message
        return outcome

    def floor() -> object:
        # What the snapshot sends, without any Python around it.
        return no_seqscan_explain(cur, sql, (5,), in_transaction)

    snapshot()
    store.write(module)  # recorded: from now on every check compares with the entry
    if in_transaction:  # as under cdc_db: the test's transaction is open
        raw.autocommit = False
        cur.execute("SELECT 1")
    store = SnapshotStore()
    for fn in (bare, snapshot, floor):  # warm caches and the JSON decoder
        timed(fn, 50)
    samples: dict[str, list[float]] = {"bare": [], "snapshot": [], "floor": []}
    for _ in range(20):  # interleaved, so that drift hits all alike
        samples["bare"] += timed(bare, rounds // 20)
        samples["snapshot"] += timed(snapshot, rounds // 20)
        samples["floor"] += timed(floor, rounds // 20)
    raw.close()
    shutil.rmtree(module.parent.parent, ignore_errors=True)
    return {key: statistics.median(values) for key, values in samples.items()}


def bench_live(repeat: int) -> tuple[float, float, str]:
    """Median wall time of ``cdc-index-coverage --live`` and of the static check, over a copy
    of the example repository; and what the live run printed."""
    script = Path(sys.executable).parent / "cdc-index-coverage"
    work = Path(tempfile.mkdtemp()) / "consumer"
    shutil.copytree(EXAMPLE, work)
    runs: dict[str, list[float]] = {"live": [], "static": []}
    out = ""
    try:
        for _ in range(repeat):
            for name, args in (("live", ["--live"]), ("static", ["--no-cache"])):
                started = time.perf_counter()
                done = subprocess.run(
                    [str(script), *args], cwd=work, capture_output=True, text=True, check=False
                )
                runs[name].append(time.perf_counter() - started)
                if done.returncode not in (0, 1):
                    raise SystemExit(f"cdc-index-coverage {' '.join(args)} failed: {done.stderr}")
                if name == "live":
                    out = done.stdout
    finally:
        shutil.rmtree(work.parent, ignore_errors=True)
    return statistics.median(runs["live"]), statistics.median(runs["static"]), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5, help="runs of --live (median)")
    args = parser.parse_args()

    cases = [(title, sql, False) for title, sql in STATEMENTS.items()]
    cases.append(("lookup", STATEMENTS["lookup"], True))
    for title, sql, in_transaction in cases:
        r = bench_statement(args.db, sql, args.rounds, in_transaction=in_transaction)
        ratio = r["snapshot"] / r["bare"]
        where = "in a transaction (cdc_db)" if in_transaction else "idle autocommit connection"
        print(f"-- {title}: {where}, medians of {args.rounds}")
        print(f"bare EXPLAIN (FORMAT JSON):     {r['bare'] * 1e6:8.1f} us")
        print(f"snapshot (plan, shape, check): {r['snapshot'] * 1e6:8.1f} us")
        print(f"its SQL alone:                 {r['floor'] * 1e6:8.1f} us")
        target = "for information" if in_transaction else "target <= 1.5x"
        print(f"ratio snapshot / bare EXPLAIN: {ratio:8.2f}x  ({target})")
        print(f"ratio SQL alone / bare:        {r['floor'] / r['bare']:8.2f}x  (protocol floor)")

    live, static, out = bench_live(args.repeat)
    print(f"-- cdc-index-coverage over examples/consumer, medians of {args.repeat} runs")
    print(f"--live (start server, load DDL, plan): {live:6.2f} s")
    print(f"static check (no cache):               {static:6.2f} s")
    print(f"ratio live / static:                   {live / static:6.2f}x")
    print(f"live findings: {len(out.splitlines())}")


if __name__ == "__main__":
    main()
