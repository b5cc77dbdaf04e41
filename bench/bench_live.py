"""Benchmark: validation while CDC runs (issue 14), against a single pass.

    python bench/bench_live.py [--rows 200000] [--rate 100] [--delay 0.5] [--repeat 5]
        [--url URL]

A table of ``--rows`` rows on the source and a copy on the target (schemas
``cdc_bench_live_src`` and ``..._dst``, created fresh).  While it is measured, a writer
updates hot rows and inserts new ones on the source at a steady ``--rate`` changes a second,
and a replicator copies each change to the target ``--delay`` seconds later (the row as the
source holds it then, as CDC does).  Lag is measured from the ``updated_at`` column.

Two figures, each over ``--repeat`` rounds (median and best printed):

(a) **time from a corruption to its report**: a cold row (one the writer never touches) is
    changed on the target behind the replicator's back, and validation runs at once; the
    time from the corruption until the report names that row as mismatched (and nothing
    else mismatched).  The peer, a single pass (``rechecks = 0``), reports it in one pass
    but also calls the rows in flight mismatched: their number is printed (the false alarms
    the re-checks remove).
(b) **extra cost of the re-checks**: ``validate_replica`` with the default re-checks against
    the single pass, on the same live table, no corruption: the ratio of their times.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from typing import Any

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SRC, DST = "cdc_bench_live_src", "cdc_bench_live_dst"
HOT = 200  # the writer's rows: ids 1..HOT (the corruptions go above them)


def connect(url: str) -> Any:
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


def build(url: str, rows: int) -> None:
    conn = connect(url)
    cur = conn.cursor()
    for schema in (SRC, DST):
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cur.execute(f"CREATE SCHEMA {schema}")
        cur.execute(
            f"CREATE TABLE {schema}.orders (id int PRIMARY KEY, qty int NOT NULL,"
            " amount numeric(12,2) NOT NULL, note text, updated_at timestamp NOT NULL)"
        )
    cur.execute(
        f"INSERT INTO {SRC}.orders SELECT g, mod(g, 100), mod(g * 37, 100000) / 100.0,"
        " 'note ' || md5(g::text), timestamp '2026-01-01' FROM generate_series(1, %s) g",
        (rows,),
    )
    cur.execute(f"INSERT INTO {DST}.orders SELECT * FROM {SRC}.orders")
    for schema in (SRC, DST):
        cur.execute(f"CREATE INDEX ON {schema}.orders (updated_at)")
        cur.execute(f"ANALYZE {schema}.orders")
    conn.close()


class Pipeline:
    """A seeded writer at a steady rate and a replicator ``delay`` seconds behind it."""

    def __init__(self, url: str, rate: float, delay: float, seed: int) -> None:
        self.url, self.rate, self.delay = url, rate, delay
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.queue: list[tuple[float, int]] = []
        self.lock = threading.Lock()
        self.next_id = 10_000_000
        self.threads = [
            threading.Thread(target=self._write, daemon=True),
            threading.Thread(target=self._replicate, daemon=True),
        ]

    def _write(self) -> None:
        conn = connect(self.url)
        cur = conn.cursor()
        period = 1.0 / self.rate
        due = time.monotonic()
        while not self.stop.is_set():
            if self.rng.random() < 0.8:
                key = self.rng.randint(1, HOT)
                cur.execute(
                    f"UPDATE {SRC}.orders SET qty = qty + 1, updated_at = clock_timestamp()"
                    " WHERE id = %s",
                    (key,),
                )
            else:
                key, self.next_id = self.next_id, self.next_id + 1
                cur.execute(
                    f"INSERT INTO {SRC}.orders VALUES (%s, 1, 1, 'new', clock_timestamp())",
                    (key,),
                )
            with self.lock:
                self.queue.append((time.monotonic(), key))
            due += period
            time.sleep(max(0.0, due - time.monotonic()))
        conn.close()

    def _replicate(self) -> None:
        conn = connect(self.url)
        cur = conn.cursor()
        while not self.stop.is_set():
            with self.lock:
                ready = self.queue and self.queue[0][0] + self.delay <= time.monotonic()
                change = self.queue.pop(0) if ready else None
            if change is None:
                time.sleep(0.002)
                continue
            cur.execute(
                f"INSERT INTO {DST}.orders SELECT * FROM {SRC}.orders WHERE id = %s"
                " ON CONFLICT (id) DO UPDATE SET qty = EXCLUDED.qty, amount = EXCLUDED.amount,"
                " note = EXCLUDED.note, updated_at = EXCLUDED.updated_at",
                (change[1],),
            )
        conn.close()

    def __enter__(self) -> Pipeline:
        for thread in self.threads:
            thread.start()
        time.sleep(self.delay * 3)  # a steady state: changes in flight
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)


def validate(url: str, **settings: Any) -> tuple[float, Any]:
    from pytest_cdc.replica import validate_replica

    started = time.perf_counter()
    report = validate_replica(
        url, url, mapping={"schemas": {SRC: DST}}, lag_column="updated_at", **settings
    )
    if report.error:
        sys.exit(f"bench_live: {report.error}")
    return time.perf_counter() - started, report.tables[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=100.0, help="changes a second")
    parser.add_argument("--delay", type=float, default=0.5, help="the replicator's delay, s")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    build(args.url, args.rows)
    print(
        f"bench_live: {args.rows:,} rows, {args.rate:g} changes/s, replicated {args.delay:g} s"
        f" later, {args.repeat} rounds"
    )
    live = {"rechecks": 2, "settle_delay": args.delay}
    detect: list[float] = []
    single_alarms: list[int] = []
    recheck_times: list[float] = []
    single_times: list[float] = []
    conn = connect(args.url)
    with Pipeline(args.url, args.rate, args.delay, seed=14):
        for round_ in range(args.repeat):
            # (b) the cost of the re-checks on a live table, no corruption (interleaved).
            seconds, single = validate(args.url, rechecks=0)
            single_times.append(seconds)
            single_alarms.append(single.mismatches)
            seconds, checked = validate(args.url, **live)
            recheck_times.append(seconds)
            if checked.mismatches:
                sys.exit(f"bench_live: rows in flight reported as mismatched: {checked.to_text()}")
            # (a) a corruption, and the time until a report names it (and nothing else).
            key = HOT + 1000 + round_
            corrupted = time.perf_counter()
            conn.cursor().execute(f"UPDATE {DST}.orders SET note = 'lost' WHERE id = %s", (key,))
            while True:
                _, found = validate(args.url, **live)
                named = [c["key"] for c in found.changed]
                if [str(key)] in named:
                    break
            detect.append(time.perf_counter() - corrupted)
            if found.mismatches != 1:
                sys.exit(f"bench_live: more than the corrupted row reported: {found.to_text()}")
            conn.cursor().execute(
                f"UPDATE {DST}.orders d SET note = s.note FROM {SRC}.orders s"
                " WHERE d.id = s.id AND d.id = %s",
                (key,),
            )
    conn.close()
    med = statistics.median
    print(
        f"(a) corruption to report: median {med(detect):.2f} s, best {min(detect):.2f} s"
        f" (the settle delay is {args.delay:g} s, 2 re-checks); a single pass reports it in"
        f" one pass but also called a median of {med(single_alarms):g} rows in flight"
        f" mismatched (max {max(single_alarms)})"
    )
    ratio = med(recheck_times) / med(single_times)
    print(
        f"(b) live table, no corruption: with re-checks median {med(recheck_times):.2f} s"
        f" (best {min(recheck_times):.2f}), single pass median {med(single_times):.2f} s"
        f" (best {min(single_times):.2f}): re-checks cost {ratio:.2f}x a single pass,"
        f" +{med(recheck_times) - med(single_times):.2f} s: the settle delay ({args.delay:g} s)"
        " waited once or twice, while the single pass called the rows in flight mismatched"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
