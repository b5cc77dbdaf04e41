"""Foundation benchmark: the embedded default and per-test isolation, beside doing it by hand.

    python bench/bench_foundation.py [--quick]

Measured in one run, each step beside its peer:

* cold start (no cached cluster) and warm start (cached) to the first query, beside
  ``initdb`` + ``pg_ctl start -w`` + connect done by hand, and beside pytest-postgresql's
  ``postgresql_proc`` where it can run (it cannot run as root: pg_ctl refuses);
* per-test overhead of ``rollback`` and ``database`` isolation through pytest, beside a bare
  BEGIN/ROLLBACK and a bare CREATE DATABASE ... TEMPLATE / DROP DATABASE;
* plugin import overhead on a suite that uses no cdc fixture.

Targets (issue 2): cold <= 1.0 s, warm <= 0.3 s, rollback <= 2 ms/test, database <= 60 ms/test,
import overhead <= 30 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_cdc.embedded import (
    EmbeddedPostgres,
    _run_user,
    cleanup_leftovers,
    default_home,
    find_bindir,
)

RESULTS: list[tuple[str, float, str, float | None, float]] = []


def _home() -> Path:
    # Where the plugin itself would put its clusters (/dev/shm when it has room).
    base = default_home().parent
    path = Path(tempfile.mkdtemp(prefix="cdc-bench-", dir=base))
    path.chmod(0o711)
    return path


def _first_query(url: str) -> None:
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("select 1")
        cur.fetchone()
    conn.close()


def bench_start(repeat: int) -> tuple[float, float]:
    cold, warm = [], []
    for _ in range(repeat):
        home = _home()
        t0 = time.perf_counter()
        pg = EmbeddedPostgres(home=home).start()
        _first_query(pg.url.raw)
        cold.append(time.perf_counter() - t0)
        pg.stop()
        for _ in range(2):
            t0 = time.perf_counter()
            pg = EmbeddedPostgres(home=home).start()
            _first_query(pg.url.raw)
            warm.append(time.perf_counter() - t0)
            pg.stop()
        cleanup_leftovers(home)
        shutil.rmtree(home, ignore_errors=True)
    return statistics.median(cold), statistics.median(warm)


def bench_by_hand(repeat: int) -> float:
    """initdb + pg_ctl start -w + connect, as a careful person would script it."""
    bindir = find_bindir()
    user = _run_user()
    prefix = ["runuser", "-u", user.pw_name, "--"] if user else []
    times = []
    for _ in range(repeat):
        work = _home()
        data, sock = work / "data", work / "sock"
        sock.mkdir()
        if user:
            for p in (work, sock):
                os.chown(p, user.pw_uid, user.pw_gid)
        t0 = time.perf_counter()
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-N",
                "--locale=C",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-w",
                "-l",
                str(work / "log"),
                "-o",
                f"-c listen_addresses='' -c unix_socket_directories={sock} -c fsync=off",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        _first_query(f"postgresql://postgres@/postgres?host={sock}")
        times.append(time.perf_counter() - t0)
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(work, ignore_errors=True)
    return statistics.median(times)


def bench_pytest_postgresql() -> tuple[float | None, str]:
    if os.geteuid() == 0:
        return None, "cannot run as root (pg_ctl refuses root; it has no user switch)"
    try:
        import pytest_postgresql  # noqa: F401
    except ImportError:
        return None, "not installed (pip install pytest-postgresql)"
    work = Path(tempfile.mkdtemp(prefix="cdc-bench-ppg-"))
    (work / "test_one.py").write_text(
        "from pytest_postgresql import factories\n"
        f"proc = factories.postgresql_proc(port=None, unixsocketdir='{work}')\n"
        "db = factories.postgresql('proc')\n"
        "def test_x(db):\n    db.cursor().execute('select 1')\n"
    )
    t0 = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cdc", str(work)],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - t0
    shutil.rmtree(work, ignore_errors=True)
    if result.returncode != 0:
        return None, "failed: " + (result.stdout.strip().splitlines() or ["?"])[-1]
    return elapsed, "whole pytest run, one test"


def _pytest_seconds(test_file: str, n_args: list[str], env: dict[str, str]) -> float:
    work = Path(tempfile.mkdtemp(prefix="cdc-bench-suite-"))
    (work / "test_suite.py").write_text(test_file)
    t0 = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *n_args, str(work)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    elapsed = time.perf_counter() - t0
    shutil.rmtree(work, ignore_errors=True)
    if result.returncode != 0:
        raise SystemExit(result.stdout[-2000:])
    return elapsed


def bench_isolation(n: int, n_db: int) -> dict[str, float]:
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    plug = ["-p", "pytest_cdc.plugin"]
    warmup = "def test_w(cdc_db):\n    pass\n"
    base = (
        warmup
        + f"import pytest\n@pytest.mark.parametrize('i', range({n}))\ndef test_x(i):\n    pass\n"
    )
    rollback = warmup + (
        f"import pytest\n@pytest.mark.parametrize('i', range({n}))\n"
        "def test_x(cdc_db, i):\n    pass\n"
    )
    database = warmup + (
        f"import pytest\n@pytest.mark.cdc(isolation='database')\n"
        f"@pytest.mark.parametrize('i', range({n_db}))\ndef test_x(cdc_db, i):\n    pass\n"
    )
    base_db = warmup + (
        f"import pytest\n@pytest.mark.parametrize('i', range({n_db}))\ndef test_x(i):\n    pass\n"
    )
    # The embedded cluster's start is in every run (the warm-up test); the difference is the
    # per-test cost.
    t_base = min(_pytest_seconds(base, plug, env) for _ in range(2))
    t_roll = min(_pytest_seconds(rollback, plug, env) for _ in range(2))
    t_base_db = min(_pytest_seconds(base_db, plug, env) for _ in range(2))
    t_db = min(_pytest_seconds(database, plug, env) for _ in range(2))
    return {"rollback": (t_roll - t_base) / n, "database": (t_db - t_base_db) / n_db}


def bench_isolation_by_hand(n: int, n_db: int) -> dict[str, float]:
    home = _home()
    pg = EmbeddedPostgres(home=home).start()
    try:
        conn = psycopg2.connect(pg.url.raw)
        conn.autocommit = True
        cur = conn.cursor()
        t0 = time.perf_counter()
        for _ in range(n):
            cur.execute("BEGIN")
            cur.execute("SAVEPOINT s")
            cur.execute("ROLLBACK")
        roll = (time.perf_counter() - t0) / n
        cur.execute("CREATE DATABASE tpl")
        t0 = time.perf_counter()
        for i in range(n_db):
            cur.execute(f"CREATE DATABASE d{i} TEMPLATE tpl STRATEGY FILE_COPY")
            c2 = psycopg2.connect(pg.url_for(f"d{i}").raw)
            c2.close()
            cur.execute(f"DROP DATABASE d{i} WITH (FORCE)")
        db = (time.perf_counter() - t0) / n_db
        conn.close()
    finally:
        pg.stop()
        shutil.rmtree(home, ignore_errors=True)
    return {"rollback": roll, "database": db}


def bench_import(repeat: int) -> tuple[float, float]:
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    suite = "def test_a():\n    pass\n"

    # Interleaved, best of each: the machine's background noise is larger than the effect.
    without, with_plugin = [], []
    for _ in range(repeat):
        without.append(_pytest_seconds(suite, [], env))
        with_plugin.append(_pytest_seconds(suite, ["-p", "pytest_cdc.plugin"], env))
    return min(with_plugin) - min(without), min(without)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    rep = 1 if args.quick else 3
    n, n_db = (100, 20) if args.quick else (400, 60)

    cold, warm = bench_start(rep)
    hand = bench_by_hand(rep)
    ppg, ppg_note = bench_pytest_postgresql()
    iso = bench_isolation(n, n_db)
    iso_hand = bench_isolation_by_hand(n, n_db)
    imp, bare = bench_import(15 if not args.quick else 3)

    def row(what: str, ours: float, peer_name: str, peer: float | None, target: float) -> None:
        ratio = f"{ours / peer:5.2f}x" if peer else "   - "
        ok = "ok" if ours <= target else "MISSED"
        peer_s = f"{peer * 1000:9.1f} ms" if peer is not None else "        -   "
        print(
            f"{what:34} {ours * 1000:9.1f} ms  | {peer_name:28} {peer_s} {ratio}"
            f" | target <= {target * 1000:.0f} ms: {ok}"
        )

    print(f"\nmachine: {os.cpu_count()} cores, {sys.platform}, python {sys.version.split()[0]}")
    print(f"{'step':34} {'pytest-cdc':>12}  | {'peer':28} {'peer time':>12} ratio")
    row("cold start to first query", cold, "initdb+pg_ctl+connect (hand)", hand, 1.0)
    row("warm start to first query", warm, "initdb+pg_ctl+connect (hand)", hand, 0.3)
    row(
        "rollback isolation, per test",
        iso["rollback"],
        "BEGIN/SAVEPOINT/ROLLBACK",
        iso_hand["rollback"],
        0.002,
    )
    row(
        "database isolation, per test",
        iso["database"],
        "CREATE DB TEMPLATE+DROP",
        iso_hand["database"],
        0.060,
    )
    row("plugin import overhead", imp, "pytest without the plugin", bare, 0.030)
    print(
        "pytest-postgresql postgresql_proc: "
        + (f"{ppg:.2f} s ({ppg_note})" if ppg is not None else ppg_note)
    )


if __name__ == "__main__":
    main()
