"""Benchmark: pytest-cdc reconcile against reladiff, on two table shapes and two sizes.

    python bench/bench_reconcile.py [--shapes mixed,orders] [--rows 1000000,5000000]
        [--url URL] [--repeat N] [--only pytest-cdc,reladiff,floor] [--aggregation]

For each shape and size, two tables in schema cdc_bench_<shape>_<rows> on the server (created
once, reused): ``dst_same`` is a copy of ``src``, ``dst_diff`` differs in 3 rows (one changed,
one deleted, one added).  Shapes: ``mixed`` (bigint key, integer, numeric, double, text,
timestamp) and ``orders`` (bigint key, text, numeric(12,2), timestamp, boolean, integer, all
NOT NULL).  Besides reladiff's hashdiff (its cross-database algorithm, ``-j 2``), each
configuration times a floor: both tables' plain row text built at once with no hashing
(``sum(length(concat_ws('|', ...)))`` on each side, concurrently), the least any canonical
comparison must do.  Every measurement runs in a fresh child process so that its peak RSS is
its own; rounds interleave the measurements and each keeps its best time.  Needs
``pip install reladiff`` for the peer.  Targets: at least 2x faster than reladiff on every
shape and size, at most 2x the floor, 3 differences at most 1.3x the identical time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

SHAPES: dict[str, tuple[str, tuple[str, ...], str]] = {
    # name: (CREATE TABLE column list, compared columns, INSERT ... SELECT expressions of g)
    "mixed": (
        "id bigint PRIMARY KEY, qty integer, price numeric(12,2), ratio double precision,"
        " label text, created timestamp",
        ("qty", "price", "ratio", "label", "created"),
        "g, (g*7)%1000, ((g*13)%100000)/100.0, g/7.0, 'item-'||md5(g::text),"
        " timestamp '2020-01-01' + g*interval '1 second'",
    ),
    "orders": (
        "id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(12,2) NOT NULL,"
        " placed timestamp NOT NULL, paid boolean NOT NULL, qty int NOT NULL",
        ("customer", "amount", "placed", "paid", "qty"),
        "g, 'customer-' || (g % 50000), ((g*37) % 1000000)/100.0,"
        " timestamp '2021-01-01' + g * interval '17 seconds', g % 3 = 0, g % 500",
    ),
}
SETUP = """
CREATE SCHEMA IF NOT EXISTS {schema};
SET search_path = {schema};
DROP TABLE IF EXISTS src, dst_same, dst_diff;
CREATE TABLE src ({ddl});
INSERT INTO src SELECT {values} FROM generate_series(1, {rows}) g;
CREATE TABLE dst_same (LIKE src INCLUDING ALL); INSERT INTO dst_same SELECT * FROM src;
CREATE TABLE dst_diff (LIKE src INCLUDING ALL); INSERT INTO dst_diff SELECT * FROM src;
UPDATE dst_diff SET qty = qty + 1 WHERE id = {changed};
DELETE FROM dst_diff WHERE id = {deleted};
INSERT INTO dst_diff SELECT {added}, {extra_values} FROM src WHERE id = 1;
VACUUM ANALYZE src; VACUUM ANALYZE dst_same; VACUUM ANALYZE dst_diff;
"""


def expected(rows: int) -> dict[str, int]:
    return {"changed": min(1_234_567, rows // 3), "deleted": rows // 2, "added": rows + 1}


def schema_of(shape: str, rows: int) -> str:
    return f"cdc_bench_{shape}_{rows}"


def ensure_tables(url: str, shape: str, rows: int) -> str:
    import psycopg2

    schema = schema_of(shape, rows)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s"
        " AND table_name IN ('src', 'dst_same', 'dst_diff')",
        (schema,),
    )
    if cur.fetchone()[0] != 3:
        print(f"creating {schema} ({rows} rows a table)...", flush=True)
        ddl, columns, values = SHAPES[shape]
        script = SETUP.format(
            schema=schema,
            rows=rows,
            ddl=ddl,
            values=values,
            extra_values=", ".join(columns),
            **expected(rows),
        )
        for statement in script.split(";"):
            if statement.strip():
                cur.execute(statement)
    conn.close()
    return schema


def one(name: str, url: str, shape: str, rows: int) -> dict[str, Any]:
    """Run one measurement in this (child) process."""
    schema = schema_of(shape, rows)
    columns = SHAPES[shape][1]
    started = time.perf_counter()
    result: dict[str, Any] = {}
    if name == "floor":
        result["found"] = floor(url, schema, columns)
    elif name.startswith(("pytest-cdc", "baseline")):
        from pytest_cdc.checksums import reconcile

        target = "dst_same" if name.endswith("identical") else "dst_diff"
        report = reconcile(
            url, url, table=f"{schema}.src", target_table=f"{schema}.{target}", key="id"
        )
        result["found"] = {
            "missing": report.missing,
            "extra": report.extra,
            "changed": [c.key for c in report.changed],
        }
    elif name.startswith("reladiff"):
        import reladiff

        target = "dst_same" if name.endswith("identical") else "dst_diff"
        # hashdiff is reladiff's cross-database algorithm (checksums + bisection), the one
        # comparable with ours; joindiff is its same-database shortcut (one outer join).
        algorithm = "joindiff" if "joindiff" in name else "hashdiff"
        t1 = reladiff.connect_to_table(url, f"{schema}.src", "id", thread_count=2)
        t2 = reladiff.connect_to_table(url, f"{schema}.{target}", "id", thread_count=2)
        diff = list(
            reladiff.diff_tables(t1, t2, extra_columns=columns, threaded=True, algorithm=algorithm)
        )
        result["found"] = sorted({str(row[1][0]) for row in diff})
    elif name.startswith("aggregation"):
        result["found"] = aggregation(name, url, schema, rows, shape)
    else:
        import psycopg2

        conn = psycopg2.connect(url)
        cur = conn.cursor()
        if name == "bare count(*)":
            cur.execute(f"SELECT count(*) FROM {schema}.src")
        else:  # one bare full-table checksum, no canonical encoding, no segments
            text = " || ".join(f"{c}::text" for c in ("id", *columns))
            cur.execute(
                f"SELECT count(*), sum(('x' || left(md5({text}), 16))::bit(64)::bigint)"
                f" FROM {schema}.src"
            )
        result["found"] = [str(v) for v in cur.fetchone()]
        conn.close()
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def floor(url: str, schema: str, columns: tuple[str, ...]) -> list[str]:
    """Both tables' plain row text, built at once on two connections, no hashing."""
    from concurrent.futures import ThreadPoolExecutor

    import psycopg2

    def side(table: str) -> str:
        conn = psycopg2.connect(url)
        try:
            cur = conn.cursor()
            cur.execute(
                f"SELECT sum(length(concat_ws('|', id, {', '.join(columns)})))"
                f" FROM {schema}.{table}"
            )
            return str(cur.fetchone()[0])
        finally:
            conn.close()

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(side, ["src", "dst_same"]))


def aggregation(name: str, url: str, schema: str, rows: int, shape: str) -> list[str]:
    """One pass over src with ~rows/10000 segments: (a) sum of per-row 64-bit MD5 integers,
    (b) one MD5 a segment over its rows in key order, read by index range scans (what
    pytest-cdc runs), or (b-grouped) the same MD5 from string_agg(... ORDER BY) grouped by
    segment number (sorts every segment)."""
    import psycopg2

    from pytest_cdc.checksums.encoding import ColumnPair
    from pytest_cdc.checksums.sqlgen import Scope, TableRef
    from pytest_cdc.dialects.postgres.checksum import PostgresGenerator, prepare_sql

    conn = psycopg2.connect(url)  # a transaction: the settings are local to it, as in reconcile
    cur = conn.cursor()
    gen = PostgresGenerator()
    cur.execute(gen.columns_sql("pyformat"), (schema, "src"))
    pairs = [
        ColumnPair(c, c, c.type_class, is_key=c.name == "id") for c in gen.columns(cur.fetchall())
    ]
    table = TableRef(schema, "src")
    bounds = [[str(b)] for b in range(10_000, rows, 10_000)]
    cur.execute(prepare_sql(None, None))
    if name.endswith("(a)"):
        sql = gen.checksum_query(table, pairs[:1], pairs, "source", bounds)
    elif name.endswith("(b)"):
        sql = gen.digest_query(table, pairs[:1], pairs, "source", bounds)
    else:
        cur.execute("SET enable_sort = on")  # string_agg(... ORDER BY) needs its sorts
        scope = Scope(gen.apply_keyword)
        text = gen.row_text(pairs, "source", scope)
        seg = gen.segment_case(pairs[:1], "source", bounds, 0)
        sql = (
            f"SELECT {seg} AS seg, count(*), md5(string_agg({text}, '' ORDER BY t.id))"
            f" FROM {scope.from_clause(gen.table(table))} GROUP BY 1"
        )
    cur.execute(sql)
    found = [str(len(cur.fetchall()))]
    conn.close()
    return found


def measure(
    names: list[str], args: argparse.Namespace, shape: str, rows: int
) -> dict[str, dict[str, Any]]:
    """Every measurement of one configuration, ``--repeat`` interleaved rounds, best kept."""
    results: dict[str, dict[str, Any]] = {}
    for round_ in range(max(1, args.repeat)):
        for name in names:
            command = [sys.executable, __file__, "--url", args.url, "--shape", shape]
            env = dict(os.environ)
            if name.startswith("baseline"):
                env["PYTHONPATH"] = os.path.abspath(args.baseline)
            out = subprocess.run(
                [*command, "--rows", str(rows), "--one", name],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if out.returncode != 0:
                print(f"{name}: failed\n{out.stderr.strip()[-2000:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            best = results.get(name)
            r.setdefault("runs", [])
            runs = [*(best["runs"] if best else []), r["seconds"]]
            if best is None or r["seconds"] < best["seconds"]:
                r["peak_rss_mb"] = max(r["peak_rss_mb"], best["peak_rss_mb"] if best else 0.0)
                results[name] = r
            else:
                best["peak_rss_mb"] = max(best["peak_rss_mb"], r["peak_rss_mb"])
            results[name]["runs"] = runs
            print(
                f"  [{round_ + 1}] {name:<28} {r['seconds']:8.2f} s"
                f"  peak RSS {r['peak_rss_mb']:6.1f} MB",
                flush=True,
            )
    return results


def report(results: dict[str, dict[str, Any]], rows: int) -> list[str]:
    """The configuration's ratios, and whether the planted rows were found exactly."""

    def ratio(a: str, b: str) -> float | None:
        if a in results and b in results:
            return float(results[a]["seconds"] / results[b]["seconds"])
        return None

    def shown(value: float | None, target: str) -> str:
        return "n/a" if value is None else f"{value:.2f}x ({target})"

    lines = []
    want = expected(rows)
    if "pytest-cdc 3 differing" in results:
        found = results["pytest-cdc 3 differing"]["found"]
        exact = found == {
            "missing": [[str(want["deleted"])]],
            "extra": [[str(want["added"])]],
            "changed": [[str(want["changed"])]],
        }
        lines.append(f"found exactly the 3 planted rows: {exact}")
    lines += [
        "reladiff / pytest-cdc, identical:   "
        + shown(ratio("reladiff identical", "pytest-cdc identical"), "target >= 2x"),
        "reladiff / pytest-cdc, 3 differing: "
        + shown(ratio("reladiff 3 differing", "pytest-cdc 3 differing"), "target >= 2x"),
        "pytest-cdc identical / floor:       "
        + shown(ratio("pytest-cdc identical", "floor"), "target <= 2x"),
        "pytest-cdc 3 differing / identical: "
        + shown(ratio("pytest-cdc 3 differing", "pytest-cdc identical"), "target <= 1.3x"),
    ]
    if "baseline identical" in results:
        lines.append(
            "baseline / pytest-cdc, identical:   "
            + shown(ratio("baseline identical", "pytest-cdc identical"), "before / now")
        )
    peak = max(
        (r["peak_rss_mb"] for n, r in results.items() if n.startswith("pytest-cdc")), default=0.0
    )
    lines.append(f"pytest-cdc peak RSS: {peak:.1f} MB (target <= 150 MB)")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000,5000000", help="sizes, comma separated")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="shapes, comma separated")
    parser.add_argument("--shape", default="mixed", help=argparse.SUPPRESS)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds; every round runs each measurement once (interleaved), best time kept",
    )
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated measurement names (or prefixes, e.g. 'pytest-cdc,reladiff')",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="DIR",
        help="also time the pytest_cdc package found in DIR (e.g. a git worktree of an older"
        " commit) as 'baseline identical' / 'baseline 3 differing', interleaved with this one",
    )
    parser.add_argument(
        "--aggregation",
        action="store_true",
        help="also time one segmented pass (one side): per-row sums (a), ordered MD5 a segment"
        " (b), and (b) as a grouped string_agg(... ORDER BY)",
    )
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.url, args.shape, int(args.rows))))
        return 0
    names = [
        *(
            ["aggregation (a)", "aggregation (b)", "aggregation (b-grouped)"]
            if args.aggregation
            else []
        ),
        "floor",
        "pytest-cdc identical",
        *(["baseline identical"] if args.baseline else []),
        "pytest-cdc 3 differing",
        *(["baseline 3 differing"] if args.baseline else []),
        "reladiff identical",
        "reladiff 3 differing",
    ]
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        names = [n for n in names if any(n == w or n.startswith(w) for w in wanted)]
    summary = []
    for shape in [s.strip() for s in args.shapes.split(",") if s.strip()]:
        for rows in [int(r) for r in args.rows.split(",") if r.strip()]:
            ensure_tables(args.url, shape, rows)
            print(f"== {shape}, {rows:,} rows a table", flush=True)
            results = measure(names, args, shape, rows)
            lines = report(results, rows)
            for line in lines:
                print("   " + line)
            times = ", ".join(f"{n} {r['seconds']:.2f} s" for n, r in results.items())
            summary.append((shape, rows, times, lines))
    print("\nsummary (best of each, seconds):")
    for shape, rows, times, lines in summary:
        print(f"{shape}, {rows:,} rows: {times}")
        for line in lines:
            print("   " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
