"""Acquire+release of an idle connection: pytest_cdc.pool, metrics off and on, vs psycopg_pool.

Run: ``python bench/bench_pool.py [--url postgresql://postgres@127.0.0.1:5432/test]``.
Every pool talks to the same server in the same run; the ratios are what to read.
Uncontended: one thread, one connection (psycopg2's pool shown for scale).  Contended: 16
threads sharing 8 connections.

Each repeat measures every pool once, in a rotating order; the figures are medians over the
repeats, and each ratio is the median of the ratios measured within one repeat (pools side by
side in time), which keeps the noise of a shared machine out of the comparison.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

Acquire = Callable[[], Any]
Release = Callable[[Any], None]
Opened = tuple[Acquire, Release, Callable[[], None]]

OURS = "ours"
METRICS = "ours+metrics"
PSYCOPG_POOL = "psycopg_pool"
PSYCOPG2 = "psycopg2 ThreadedConnectionPool"


def uncontended(get: Acquire, put: Release, seconds: float) -> float:
    """Operations per second of get+put in one thread."""
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        for _ in range(1000):
            put(get())
        n += 1000
        if time.perf_counter() >= deadline:
            break
    return n / (time.perf_counter() - t0)


def contended(get: Acquire, put: Release, seconds: float, threads: int) -> float:
    """Total operations per second of get+put over ``threads`` threads."""
    counts = [0] * threads
    stop = threading.Event()
    start = threading.Barrier(threads + 1)

    def work(i: int) -> None:
        start.wait()
        n = 0
        while not stop.is_set():
            for _ in range(100):
                put(get())
            n += 100
        counts[i] = n

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join(60)
    return sum(counts) / (time.perf_counter() - t0)


def measure(
    pools: dict[str, Callable[[], Opened]], threads: int, seconds: float, repeats: int
) -> list[dict[str, float]]:
    """Ops/s of every pool in each of ``repeats`` repeats (pools opened once, kept open)."""
    opened = {label: factory() for label, factory in pools.items()}
    labels = list(opened)
    runs: list[dict[str, float]] = []
    try:
        for r in range(repeats):
            run: dict[str, float] = {}
            # Rotate the order so that no pool always runs first (or right after another).
            for label in labels[r % len(labels) :] + labels[: r % len(labels)]:
                get, put, _close = opened[label]
                put(get())  # warm up
                if threads == 1:
                    run[label] = uncontended(get, put, seconds)
                else:
                    run[label] = contended(get, put, seconds, threads)
            runs.append(run)
    finally:
        for _get, _put, close in opened.values():
            close()
    return runs


def show(runs: list[dict[str, float]]) -> None:
    for label in runs[0]:
        ops = statistics.median(run[label] for run in runs)
        print(f"  {label:<46} {ops:>12,.0f} ops/s {1e6 / ops:>8.2f} us/op")


def ratio(runs: list[dict[str, float]], top: str, bottom: str) -> str:
    """Median (and quartiles) over the repeats of throughput(top) / throughput(bottom)."""
    ratios = [run[top] / run[bottom] for run in runs]
    low, mid, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return f"{mid:.2f}x (quartiles {low:.2f}-{high:.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--seconds", type=float, default=0.25, help="length of one measurement")
    ap.add_argument("--repeats", type=int, default=21, help="repeats; medians are shown")
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--size", type=int, default=8, help="connections in the contended pools")
    args = ap.parse_args()

    import psycopg2.pool
    import psycopg_pool

    from pytest_cdc.connectors.psycopg2 import Psycopg2Connector
    from pytest_cdc.metrics import PoolMetrics
    from pytest_cdc.pool import ConnectionPool

    def ours(size: int, metrics: bool = False) -> Opened:
        pool = ConnectionPool(
            Psycopg2Connector(args.url),
            min_size=size,
            max_size=size,
            name="bench",
            metrics=PoolMetrics() if metrics else None,
        )
        pool.wait(30)
        return pool.getconn, pool.putconn, pool.close

    def pg2(size: int) -> Opened:
        pool = psycopg2.pool.ThreadedConnectionPool(size, size, args.url)
        return pool.getconn, pool.putconn, pool.closeall

    def pg3(size: int) -> Opened:
        pool = psycopg_pool.ConnectionPool(
            args.url, min_size=size, max_size=size, open=True, kwargs={"autocommit": True}
        )
        pool.wait(30)
        return pool.getconn, pool.putconn, pool.close

    how = f"median of {args.repeats} x {args.seconds:g} s"
    print(f"uncontended: 1 thread, 1 connection; {how}")
    u = measure(
        {
            OURS: lambda: ours(1),
            METRICS: lambda: ours(1, True),
            PSYCOPG_POOL: lambda: pg3(1),
            PSYCOPG2: lambda: pg2(1),
        },
        1,
        args.seconds,
        args.repeats,
    )
    show(u)
    t = args.threads
    print(f"contended: {t} threads sharing {args.size} connections; total; {how}")
    c = measure(
        {
            OURS: lambda: ours(args.size),
            METRICS: lambda: ours(args.size, True),
            PSYCOPG_POOL: lambda: pg3(args.size),
        },
        t,
        args.seconds,
        args.repeats,
    )
    show(c)
    print("ratios of throughput (higher is better): median of the per-repeat ratios")
    print(f"  uncontended  ours / psycopg2 pool:         {ratio(u, OURS, PSYCOPG2)}")
    print(f"  uncontended  ours / psycopg_pool:          {ratio(u, OURS, PSYCOPG_POOL)}")
    print(f"  uncontended  ours+metrics / ours:          {ratio(u, METRICS, OURS)}")
    print(
        f"  contended    ours / psycopg_pool:          {ratio(c, OURS, PSYCOPG_POOL)}"
        "  target >= 1.0"
    )
    print(f"  contended    ours+metrics / psycopg_pool:  {ratio(c, METRICS, PSYCOPG_POOL)}")
    print(
        f"  contended    ours+metrics / ours:          {ratio(c, METRICS, OURS)}"
        "  target >= 0.90 (metrics cost at most 10 %)"
    )


if __name__ == "__main__":
    main()
