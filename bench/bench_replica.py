"""Benchmark: validating a whole replica, against reladiff and our own reconcile table by table.

    python bench/bench_replica.py [--rows 5000000] [--tables 20] [--repeat 3] [--quick]
        [--url URL] [--only validate,reladiff,reconcile]

A replica of ``--tables`` tables of mixed widths (3 to 15 columns: integers, numerics,
doubles, text, timestamps, booleans) and ``--rows`` rows in all, sizes spread from a few
thousand rows to a fifth of the total, in schemas ``cdc_bench_replica_<rows>x<tables>_src``
and ``..._dst`` on the server (created once, reused; tables ``cdc_bench_replica_NN``).  The
target is a copy with 3 planted differences: a changed row, a deleted row and an added row,
each in another table.

Measured in one run, each in a fresh child process (its peak RSS its own), ``--repeat``
interleaved rounds, best time kept (the median printed too):

(a) ``validate_replica()`` over the whole replica, end to end (the schema comparison, the
    plan, every table: what ``pytest-cdc validate`` runs), default settings;
(b) reladiff's hashdiff (its cross-database algorithm, ``thread_count=2``) once per table,
    summed;
(c) our ``reconcile()`` once per table (table, key and columns given by hand), summed.

Targets: (a) at least 2.5x faster than (b); (a) at most 1.1x (c) (the orchestration costs
nothing); (a)'s peak RSS at most 150 MB; (a) finds exactly the 3 planted rows.  Needs
``pip install reladiff`` for (b) (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
PREFIX = "cdc_bench_replica"

#: name: (CREATE TABLE column list after the key, INSERT ... SELECT expressions of g after it)
SHAPES: dict[str, tuple[str, str]] = {
    "narrow": ("qty integer, label text", "(g * 7) % 1000, 'n-' || g"),
    "mixed": (
        "qty integer, price numeric(12,2), ratio double precision, label text, created timestamp",
        "(g * 7) % 1000, ((g * 13) % 100000) / 100.0, g / 7.0, 'item-' || md5(g::text),"
        " timestamp '2020-01-01' + g * interval '1 second'",
    ),
    "orders": (
        "customer text NOT NULL, amount numeric(12,2) NOT NULL, placed timestamp NOT NULL,"
        " paid boolean NOT NULL, qty int NOT NULL",
        "'customer-' || (g % 50000), ((g * 37) % 1000000) / 100.0,"
        " timestamp '2021-01-01' + g * interval '17 seconds', g % 3 = 0, g % 500",
    ),
    "wide": (
        "a1 integer, a2 bigint, a3 integer, n1 numeric(14,4), n2 numeric(10,2),"
        " n3 numeric(18,0), f1 double precision, f2 double precision, s1 text, s2 text,"
        " s3 varchar(40), t1 timestamp, t2 timestamp, b1 boolean",
        "g % 97, g * 31, -g, g / 3.0, (g % 10000) / 100.0, g * 1000, sqrt(g), 1.0 / g,"
        " md5(g::text), 'w' || (g % 1000), left(md5((g * 3)::text), 20),"
        " timestamp '2019-06-01' + g * interval '3 seconds',"
        " timestamp '2000-01-01 00:00:00.5' + g * interval '1 minute', g % 2 = 0",
    ),
}
#: The integer column a planted change adds 1 to, a shape.
CHANGED = {"narrow": "qty", "mixed": "qty", "orders": "qty", "wide": "a1"}
#: Relative sizes: a few large tables, many small ones (cycled for other table counts).
WEIGHTS = [20, 16, 12, 10, 8, 7, 6, 5, 4, 3, 3, 2, 2, 2, 1.5, 1.5, 1, 1, 0.5, 0.5]


def schema_names(rows: int, tables: int) -> tuple[str, str]:
    base = f"{PREFIX}_{rows}x{tables}"
    return f"{base}_src", f"{base}_dst"


def layout(rows: int, tables: int) -> list[tuple[str, str, int]]:
    """(table, shape, rows) of every table; the sizes add up to ``rows``."""
    weights = [WEIGHTS[i % len(WEIGHTS)] for i in range(tables)]
    sizes = [int(rows * w / sum(weights)) for w in weights]
    sizes[0] += rows - sum(sizes)
    shapes = list(SHAPES)
    return [(f"{PREFIX}_{i + 1:02d}", shapes[i % len(shapes)], sizes[i]) for i in range(tables)]


def planted(rows: int, tables: int) -> dict[str, tuple[str, str]]:
    """table -> (kind, key) of the 3 planted differences, in three mid-sized tables."""
    plan = layout(rows, tables)
    picks = [plan[len(plan) // 2 - 1], plan[len(plan) // 2], plan[len(plan) // 2 + 1]]
    changed, deleted, added = picks
    return {
        changed[0]: ("changed", str(changed[2] // 3)),
        deleted[0]: ("missing", str(deleted[2] // 2)),
        added[0]: ("extra", str(added[2] + 1)),
    }


def ensure_replica(url: str, rows: int, tables: int) -> tuple[str, str]:
    import psycopg2

    src, dst = schema_names(rows, tables)
    plan = layout(rows, tables)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM pg_stat_user_tables WHERE schemaname IN (%s, %s)", (src, dst))
    if cur.fetchone()[0] == 2 * tables:
        conn.close()
        return src, dst
    print(f"creating {src} and {dst} ({tables} tables, {rows:,} rows a side)...", flush=True)
    started = time.perf_counter()
    for schema in (src, dst):
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cur.execute(f"CREATE SCHEMA {schema}")
    for table, shape, size in plan:
        ddl, values = SHAPES[shape]
        cur.execute(f"CREATE TABLE {src}.{table} (id bigint PRIMARY KEY, {ddl})")
        cur.execute(
            f"INSERT INTO {src}.{table} SELECT g, {values} FROM generate_series(1, {size}) g"
        )
        cur.execute(f"CREATE TABLE {dst}.{table} (LIKE {src}.{table} INCLUDING ALL)")
        cur.execute(f"INSERT INTO {dst}.{table} SELECT * FROM {src}.{table}")
    for table, (kind, key) in planted(rows, tables).items():
        if kind == "changed":
            shape = next(s for t, s, _ in plan if t == table)
            column = CHANGED[shape]
            cur.execute(f"UPDATE {dst}.{table} SET {column} = {column} + 1 WHERE id = {key}")
        elif kind == "missing":
            cur.execute(f"DELETE FROM {dst}.{table} WHERE id = {key}")
        else:
            columns = _columns(cur, src, table)
            cur.execute(
                f"INSERT INTO {dst}.{table} SELECT {key}, {', '.join(columns)}"
                f" FROM {src}.{table} WHERE id = 1"
            )
    for schema in (src, dst):
        for table, _, _ in plan:
            cur.execute(f"VACUUM ANALYZE {schema}.{table}")
    conn.close()
    print(f"created in {time.perf_counter() - started:.0f} s", flush=True)
    return src, dst


def _columns(cur: Any, schema: str, table: str) -> list[str]:
    cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
        " AND table_name = %s AND column_name <> 'id' ORDER BY ordinal_position",
        (schema, table),
    )
    return [r[0] for r in cur.fetchall()]


# -- the measurements (each in a child process) -------------------------------------------------
def one(name: str, url: str, rows: int, tables: int) -> dict[str, Any]:
    src, dst = schema_names(rows, tables)
    plan = layout(rows, tables)
    found: dict[str, list[list[str]]] = {}
    if name == "validate":
        from pytest_cdc.replica import validate_replica

        started = time.perf_counter()
        report = validate_replica(url, url, mapping={"schemas": {src: dst}})
        seconds = time.perf_counter() - started
        assert not report.error, report.error
        for t in report.tables:
            name_ = t.source_table.split(".", 1)[1]
            keys = {
                "changed": [c["key"] for c in t.changed],
                "missing": t.missing,
                "extra": t.extra,
            }
            if t.state != "validated":
                found[name_] = [[t.state], *([k, *v] for k, vs in keys.items() for v in vs)]
        extra = {"states": report.counts(), "tables": len(report.tables)}
    elif name == "reconcile":
        from pytest_cdc.checksums import reconcile

        seconds, extra = 0.0, {}
        for table, _, _ in plan:
            started = time.perf_counter()
            r = reconcile(url, url, table=f"{src}.{table}", target_table=f"{dst}.{table}", key="id")
            seconds += time.perf_counter() - started
            if not r.equal:
                found[table] = [
                    ["mismatched"],
                    *(["changed", *c.key] for c in r.changed),
                    *(["missing", *k] for k in r.missing),
                    *(["extra", *k] for k in r.extra),
                ]
    elif name == "reladiff":
        import psycopg2
        import reladiff

        conn = psycopg2.connect(url)
        cur = conn.cursor()
        columns = {table: _columns(cur, src, table) for table, _, _ in plan}
        conn.close()
        seconds, extra = 0.0, {}
        for table, _, _ in plan:
            started = time.perf_counter()
            t1 = reladiff.connect_to_table(url, f"{src}.{table}", "id", thread_count=2)
            t2 = reladiff.connect_to_table(url, f"{dst}.{table}", "id", thread_count=2)
            diff = list(
                reladiff.diff_tables(
                    t1, t2, extra_columns=tuple(columns[table]), threaded=True, algorithm="hashdiff"
                )
            )
            seconds += time.perf_counter() - started
            if diff:
                found[table] = [["mismatched"], *sorted([sign, str(row[0])] for sign, row in diff)]
    else:
        raise SystemExit(f"unknown measurement {name!r}")
    return {
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "found": found,
        **extra,
    }


def measure(names: list[str], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for round_ in range(max(1, args.repeat)):
        for name in names:
            command = [sys.executable, __file__, "--url", args.url, "--one", name]
            command += ["--rows", str(args.rows), "--tables", str(args.tables)]
            out = subprocess.run(command, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                print(f"  {name}: failed\n{out.stderr.strip()[-3000:]}", flush=True)
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            kept = results.setdefault(name, {**r, "runs": [], "rss": []})
            kept["runs"].append(r["seconds"])
            kept["rss"].append(r["peak_rss_mb"])
            if r["seconds"] <= min(kept["runs"]):
                kept.update({k: v for k, v in r.items() if k not in ("runs", "rss")})
            print(
                f"  [{round_ + 1}] {name:<10} {r['seconds']:8.2f} s"
                f"  peak RSS {r['peak_rss_mb']:6.1f} MB",
                flush=True,
            )
    return results


def verdicts(results: dict[str, dict[str, Any]], rows: int, tables: int) -> list[str]:
    want = {t: [["mismatched"], [kind, key]] for t, (kind, key) in planted(rows, tables).items()}
    lines = []

    def best(name: str) -> float | None:
        return min(results[name]["runs"]) if name in results else None

    for name in ("validate", "reconcile", "reladiff"):
        if name in results:
            runs = results[name]["runs"]
            lines.append(
                f"{name:<10} best {min(runs):7.2f} s, median {statistics.median(runs):7.2f} s,"
                f" peak RSS {max(results[name]['rss']):6.1f} MB"
            )
    a, b, c = best("validate"), best("reladiff"), best("reconcile")
    if a is not None:
        exact = results["validate"]["found"] == want
        lines.append(f"(a) found exactly the 3 planted rows: {exact}  [target]")
        if not exact:
            lines.append(f"    found {results['validate']['found']}, planted {want}")
        rss = max(results["validate"]["rss"])
        lines.append(f"(a) peak RSS {rss:.1f} MB: {'met' if rss <= 150 else 'MISSED'} (<= 150 MB)")
    if a is not None and b is not None:
        ratio = b / a
        met = "met" if ratio >= 2.5 else "MISSED"
        lines.append(f"(b) reladiff / (a) validate: {ratio:.2f}x: {met} (target >= 2.5x)")
        found = {t: [v[0] for v in vs[1:]] for t, vs in results["reladiff"]["found"].items()}
        lines.append(
            f"    reladiff found rows in {sorted(found)} ({sum(map(len, found.values()))} rows)"
        )
    if a is not None and c is not None:
        ratio = a / c
        met = "met" if ratio <= 1.1 else "MISSED"
        lines.append(f"(a) validate / (c) reconcile: {ratio:.2f}x: {met} (target <= 1.1x)")
        same = results["reconcile"]["found"] == want
        lines.append(f"    reconcile found the same 3 rows: {same}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows in all (a side)")
    parser.add_argument("--tables", type=int, default=20, help="tables in the replica")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; best kept")
    parser.add_argument("--quick", action="store_true", help="200,000 rows, 20 tables, 1 round")
    parser.add_argument("--url", default=os.environ.get("CDC_BENCH_URL", DEFAULT_URL))
    parser.add_argument(
        "--only", default="validate,reconcile,reladiff", help="measurements, comma separated"
    )
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.url, args.rows, args.tables)))
        return 0
    if args.quick:
        args.rows, args.repeat = 200_000, 1
    if args.tables < 3:
        parser.error("--tables must be at least 3 (the differences are planted in three)")
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    ensure_replica(args.url, args.rows, args.tables)
    print(f"== replica of {args.tables} tables, {args.rows:,} rows a side", flush=True)
    results = measure(names, args)
    print("\nsummary:")
    for line in verdicts(results, args.rows, args.tables):
        print("   " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
