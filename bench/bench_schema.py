"""Benchmark: pytest-cdc schema comparison against Google DVT and a bare catalog read.

    python bench/bench_schema.py [--tables 500] [--columns 10] [--url URL] [--repeat 5]
        [--dvt PATH]

Two schemas of ``--tables`` tables of ``--columns`` columns each (created once, reused); every
tenth target table has a widened, a lossy and a renamed column.  Measured, best of
``--repeat`` interleaved rounds, connections included:

* ``floor``: a bare ``information_schema.columns`` read of both sides (psycopg2, one query a
  side, every row fetched): the least any schema comparison must do;
* ``pytest-cdc api``: ``compare_schemas()`` (both catalogs, pairing, verdicts, report);
* ``pytest-cdc cli``: ``pytest-cdc schema ... --format json`` in a fresh process;
* ``dvt cli``: Google DVT's ``data-validation validate schema`` over the same table pairs, in a
  fresh process, when it is installed (``pip install google-pso-data-validator`` in an
  environment of its own; pass its ``data-validation`` with ``--dvt`` or put it on PATH).

The target is api <= 2x the floor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SOURCE_TYPES = [
    "integer",
    "bigint",
    "numeric(12,2)",
    "varchar(40)",
    "text",
    "timestamp(6)",
    "date",
    "boolean",
    "double precision",
    "uuid",
]


def schemas(tables: int) -> tuple[str, str]:
    return f"cdc_bench_schema_src_{tables}", f"cdc_bench_schema_dst_{tables}"


def ensure_schemas(url: str, tables: int, columns: int) -> tuple[str, str]:
    import psycopg2

    src, dst = schemas(tables)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname IN (%s, %s) AND c.relkind = 'r'",
        (src, dst),
    )
    if cur.fetchone()[0] != 2 * tables:
        print(f"creating {src} and {dst} ({tables} tables of {columns} columns)...", flush=True)
        statements = [f"DROP SCHEMA IF EXISTS {s} CASCADE; CREATE SCHEMA {s}" for s in (src, dst)]
        for t in range(tables):
            types = [SOURCE_TYPES[c % len(SOURCE_TYPES)] for c in range(columns - 1)]
            cols = ", ".join(f"c{c} {ty}" for c, ty in enumerate(types))
            statements.append(f"CREATE TABLE {src}.t{t:04d} (id integer PRIMARY KEY, {cols})")
            if t % 10 == 0:  # a widened, a lossy and a renamed column
                types[0], types[2] = "bigint", "numeric(10,2)"
                names = [f"c{c}" if c != 4 else "c4_renamed" for c in range(len(types))]
            else:
                names = [f"c{c}" for c in range(len(types))]
            cols = ", ".join(f"{n} {ty}" for n, ty in zip(names, types, strict=True))
            statements.append(f"CREATE TABLE {dst}.t{t:04d} (id integer PRIMARY KEY, {cols})")
        cur.execute(";".join(statements))
        cur.execute("ANALYZE")
    conn.close()
    return src, dst


def floor(url: str, src: str, dst: str) -> int:
    import psycopg2

    found = 0
    for schema in (src, dst):
        conn = psycopg2.connect(url)
        cur = conn.cursor()
        cur.execute(
            "SELECT table_name, column_name, data_type, character_maximum_length,"
            " numeric_precision, numeric_scale, datetime_precision, is_nullable"
            " FROM information_schema.columns WHERE table_schema = %s"
            " ORDER BY table_name, ordinal_position",
            (schema,),
        )
        found += len(cur.fetchall())
        conn.close()
    return found


def api(url: str, src: str, dst: str) -> int:
    from pytest_cdc.schema import compare_schemas

    report = compare_schemas(url, url, mapping={"schemas": {src: dst}})
    return sum(len(p.columns) for p in report.pairs)


def cli(url: str, src: str, dst: str, config: str) -> int:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pytest_cdc.cli import main; sys.exit(main())",
            "schema",
            "--source",
            url,
            "--target",
            url,
            "--config",
            config,
            "--format",
            "json",
            "--output",
            os.devnull,
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode not in (0, 1):
        raise RuntimeError(f"pytest-cdc schema failed: {done.stderr.strip()}")
    return done.returncode


def dvt(binary: str, src: str, dst: str, tables: int, env: dict[str, str]) -> int:
    pairs = ",".join(f"{src}.t{t:04d}={dst}.t{t:04d}" for t in range(tables))
    done = subprocess.run(
        [
            binary,
            "validate",
            "schema",
            "-sc",
            "bench_pg",
            "-tc",
            "bench_pg",
            "-tbls",
            pairs,
            "--format",
            "csv",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode not in (0, 1):
        raise RuntimeError(f"data-validation failed: {done.stderr.strip()[-500:]}")
    return done.stdout.count("\n")


def dvt_env(binary: str, url: str, home: str) -> dict[str, str]:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    env = {**os.environ, "PSO_DV_CONN_HOME": home}
    subprocess.run(
        [
            binary,
            "connections",
            "add",
            "--connection-name",
            "bench_pg",
            "Postgres",
            "--host",
            parsed.hostname or "127.0.0.1",
            "--port",
            str(parsed.port or 5432),
            "--user",
            parsed.username or "postgres",
            "--password",
            parsed.password or "unused",
            "--database",
            parsed.path.lstrip("/") or "postgres",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    return env


def best(runs: list[float]) -> float:
    return min(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=500)
    parser.add_argument("--columns", type=int, default=10)
    parser.add_argument("--url", default=os.environ.get("CDC_BENCH_URL", DEFAULT_URL))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--dvt",
        default=shutil.which("data-validation"),
        help="Google DVT's data-validation executable (default: from PATH)",
    )
    args = parser.parse_args()
    src, dst = ensure_schemas(args.url, args.tables, args.columns)
    with tempfile.TemporaryDirectory() as home:
        config = os.path.join(home, "replica.toml")
        with open(config, "w", encoding="utf-8") as out:
            out.write(f'schemas = {{ {src} = "{dst}" }}\n')
        measures: dict[str, Callable[[], Any]] = {
            "floor": lambda: floor(args.url, src, dst),
            "pytest-cdc api": lambda: api(args.url, src, dst),
            "pytest-cdc cli": lambda: cli(args.url, src, dst, config),
        }
        if args.dvt:
            env = dvt_env(args.dvt, args.url, home)
            measures["dvt cli"] = lambda: dvt(args.dvt, src, dst, args.tables, env)
        else:
            print("Google DVT is not installed: comparing against the floor only")
        api(args.url, src, dst)  # warm the server's catalog caches and our imports
        times: dict[str, list[float]] = {name: [] for name in measures}
        for _ in range(args.repeat):
            for name, run in measures.items():
                if name == "dvt cli" and len(times[name]) >= 2:
                    continue  # tens of seconds a run: two are enough for a best time
                started = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - started)
    print(f"{args.tables} tables x {args.columns} columns a side, best of {args.repeat} rounds:")
    for name, runs in times.items():
        print(
            f"  {name:16s} {best(runs) * 1000:9.1f} ms   (runs: "
            + ", ".join(f"{r * 1000:.0f}" for r in runs)
            + ")"
        )
    ratio = best(times["pytest-cdc api"]) / best(times["floor"])
    print(f"pytest-cdc api / floor: {ratio:.2f}x (target: at most 2x)")
    if "dvt cli" in times:
        print(
            "pytest-cdc cli / dvt cli: "
            f"{best(times['pytest-cdc cli']) / best(times['dvt cli']):.3f}x"
            f" (dvt is {best(times['dvt cli']) / best(times['pytest-cdc cli']):.0f}x slower)"
        )
    return 0 if ratio <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
