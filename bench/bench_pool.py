"""Acquire+release of an idle connection: pytest_cdc.pool vs psycopg2 and psycopg_pool.

Run: ``python bench/bench_pool.py [--url postgresql://postgres@127.0.0.1:5432/test]``.
Every pool talks to the same server in the same run; the ratios are what to read.
Uncontended: one thread, one connection.  Contended: 16 threads sharing 8 connections (the
psycopg2 pool cannot make a caller wait, so it gets 16 connections and is shown for scale).
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from typing import Any

Acquire = Callable[[], Any]
Release = Callable[[Any], None]


def uncontended(get: Acquire, put: Release, seconds: float) -> float:
    """Operations per second of get+put in one thread."""
    n = 0
    deadline = time.perf_counter() + seconds
    while True:
        for _ in range(1000):
            put(get())
        n += 1000
        if time.perf_counter() >= deadline:
            break
    return n / (time.perf_counter() - (deadline - seconds))


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--seconds", type=float, default=0.5, help="length of one measurement")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds; best is kept")
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--size", type=int, default=8, help="connections in the contended pools")
    args = ap.parse_args()

    import psycopg2.pool
    import psycopg_pool

    from pytest_cdc.connectors.psycopg2 import Psycopg2Connector
    from pytest_cdc.metrics import PoolMetrics
    from pytest_cdc.pool import ConnectionPool

    def ours(size: int, metrics: bool = False) -> tuple[Acquire, Release, Callable[[], None]]:
        pool = ConnectionPool(
            Psycopg2Connector(args.url),
            min_size=size,
            max_size=size,
            name="bench",
            metrics=PoolMetrics() if metrics else None,
        )
        pool.wait(30)
        return pool.getconn, pool.putconn, pool.close

    def pg2(size: int) -> tuple[Acquire, Release, Callable[[], None]]:
        pool = psycopg2.pool.ThreadedConnectionPool(size, size, args.url)
        return pool.getconn, pool.putconn, pool.closeall

    def pg3(size: int) -> tuple[Acquire, Release, Callable[[], None]]:
        pool = psycopg_pool.ConnectionPool(
            args.url, min_size=size, max_size=size, open=True, kwargs={"autocommit": True}
        )
        pool.wait(30)
        return pool.getconn, pool.putconn, pool.close

    Factory = Callable[[], tuple[Acquire, Release, Callable[[], None]]]

    def best_of(entries: list[tuple[str, Factory]], threads: int) -> dict[str, float]:
        """Best ops/s of each pool over ``--rounds`` interleaved rounds.

        The machine is shared: interleaving spreads the noise over all pools, and the best
        round shows what each pool can do.
        """
        opened = [(label, *factory()) for label, factory in entries]
        best = dict.fromkeys((label for label, _ in entries), 0.0)
        try:
            for _ in range(args.rounds):
                for label, get, put, _close in opened:
                    put(get())  # warm up
                    if threads == 1:
                        ops = uncontended(get, put, args.seconds)
                    else:
                        ops = contended(get, put, args.seconds, threads)
                    best[label] = max(best[label], ops)
        finally:
            for _label, _get, _put, close in opened:
                close()
        for label, ops in best.items():
            print(f"  {label:<46} {ops:>12,.0f} ops/s {1e6 / ops:>8.2f} us/op")
        return best

    print(f"uncontended: 1 thread, 1 connection; best of {args.rounds} x {args.seconds:g} s")
    u = best_of(
        [
            ("ours", lambda: ours(1)),
            ("ours+metrics", lambda: ours(1, True)),
            ("psycopg2 ThreadedConnectionPool", lambda: pg2(1)),
            ("psycopg_pool", lambda: pg3(1)),
        ],
        1,
    )
    t = args.threads
    print(
        f"contended: {t} threads sharing {args.size} connections ({t} for psycopg2, which"
        f" cannot make a caller wait); total; best of {args.rounds} x {args.seconds:g} s"
    )
    c = best_of(
        [
            ("ours", lambda: ours(args.size)),
            ("ours+metrics", lambda: ours(args.size, True)),
            ("psycopg_pool", lambda: pg3(args.size)),
            (f"psycopg2 ThreadedConnectionPool ({t} conns)", lambda: pg2(t)),
        ],
        t,
    )
    tcp = u["psycopg2 ThreadedConnectionPool"]
    print("ratios (time per op: lower is better; throughput: higher is better)")
    print(
        f"  uncontended time/op  ours / psycopg2 TCP:         {tcp / u['ours']:.2f}x"
        "  (target <= 1.5)"
    )
    print(f"  uncontended time/op  ours+metrics / psycopg2 TCP: {tcp / u['ours+metrics']:.2f}x")
    print(
        f"  uncontended time/op  ours / psycopg_pool:         {u['psycopg_pool'] / u['ours']:.2f}x"
    )
    print(
        f"  contended throughput ours / psycopg_pool:         "
        f"{c['ours'] / c['psycopg_pool']:.2f}x  (target >= 1.0)"
    )
    print(
        f"  contended throughput ours+metrics / psycopg_pool: "
        f"{c['ours+metrics'] / c['psycopg_pool']:.2f}x"
    )


if __name__ == "__main__":
    main()
