"""Benchmark: pytest-cdc reconcile against reladiff, a bare count(*) and a bare checksum query.

    python bench/bench_reconcile.py [--rows 5000000] [--url URL]
        [--repeat N] [--only pytest-cdc,reladiff] [--aggregation]

Two tables of ``--rows`` rows (bigint key + five typed columns) in schema cdc_bench_<rows> on
the server (created once, reused): ``dst_same`` is a copy of ``src``, ``dst_diff`` differs in
3 rows (one changed, one deleted, one added).  Every measurement runs in a fresh child process
so that its peak RSS is its own.  Needs ``pip install reladiff`` for the peer.
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

SETUP = """
CREATE SCHEMA IF NOT EXISTS {schema};
SET search_path = {schema};
DROP TABLE IF EXISTS src, dst_same, dst_diff;
CREATE TABLE src (id bigint PRIMARY KEY, qty integer, price numeric(12,2),
                  ratio double precision, label text, created timestamp);
INSERT INTO src SELECT g, (g*7)%1000, ((g*13)%100000)/100.0, g/7.0, 'item-'||md5(g::text),
       timestamp '2020-01-01' + g*interval '1 second' FROM generate_series(1, {rows}) g;
CREATE TABLE dst_same AS SELECT * FROM src; ALTER TABLE dst_same ADD PRIMARY KEY (id);
CREATE TABLE dst_diff AS SELECT * FROM src; ALTER TABLE dst_diff ADD PRIMARY KEY (id);
UPDATE dst_diff SET price = price + 1 WHERE id = {changed};
DELETE FROM dst_diff WHERE id = {deleted};
INSERT INTO dst_diff VALUES ({added}, 1, 1.00, 0.5, 'extra', timestamp '2030-01-01');
VACUUM ANALYZE src; VACUUM ANALYZE dst_same; VACUUM ANALYZE dst_diff;
"""
COLUMNS = ("qty", "price", "ratio", "label", "created")


def expected(rows: int) -> dict[str, int]:
    return {"changed": min(1_234_567, rows // 3), "deleted": rows // 2, "added": rows + 1}


def ensure_tables(url: str, rows: int) -> str:
    import psycopg2

    schema = f"cdc_bench_{rows}"
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
        script = SETUP.format(schema=schema, rows=rows, **expected(rows))
        for statement in script.split(";"):
            if statement.strip():
                cur.execute(statement)
    conn.close()
    return schema


def one(name: str, url: str, schema: str, rows: int) -> dict[str, Any]:
    """Run one measurement in this (child) process."""
    started = time.perf_counter()
    result: dict[str, Any] = {}
    if name.startswith(("pytest-cdc", "baseline")):
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
            reladiff.diff_tables(t1, t2, extra_columns=COLUMNS, threaded=True, algorithm=algorithm)
        )
        result["found"] = sorted({str(row[1][0]) for row in diff})
    elif name.startswith("aggregation"):
        result["found"] = aggregation(name, url, schema, rows)
    else:
        import psycopg2

        conn = psycopg2.connect(url)
        cur = conn.cursor()
        if name == "bare count(*)":
            cur.execute(f"SELECT count(*) FROM {schema}.src")
        else:  # one bare full-table checksum, no canonical encoding, no segments
            cur.execute(
                "SELECT count(*), sum(('x' || left(md5(id::text || qty::text || price::text"
                " || ratio::text || label || created::text), 16))::bit(64)::bigint)"
                f" FROM {schema}.src"
            )
        result["found"] = [str(v) for v in cur.fetchone()]
        conn.close()
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def aggregation(name: str, url: str, schema: str, rows: int) -> list[str]:
    """One pass over src with ~rows/10000 segments: (a) sum of per-row 64-bit MD5 integers,
    (b) one MD5 a segment over its rows in key order, read by index range scans (what
    pytest-cdc runs), or (b-grouped) the same MD5 from string_agg(... ORDER BY) grouped by
    segment number (sorts every segment)."""
    import psycopg2

    from pytest_cdc.checksums.encoding import Column, ColumnPair, TypeClass
    from pytest_cdc.checksums.sqlgen import Scope, TableRef
    from pytest_cdc.dialects.postgres.checksum import PostgresGenerator, prepare_sql

    types = {
        "id": ("bigint", TypeClass.INTEGER),
        "qty": ("integer", TypeClass.INTEGER),
        "price": ("numeric", TypeClass.DECIMAL),
        "ratio": ("double precision", TypeClass.FLOAT),
        "label": ("text", TypeClass.TEXT),
        "created": ("timestamp without time zone", TypeClass.TIMESTAMP),
    }
    pairs = [ColumnPair(Column(n, t, c), Column(n, t, c), c) for n, (t, c) in types.items()]
    gen = PostgresGenerator()
    table = TableRef(schema, "src")
    bounds = [[str(b)] for b in range(10_000, rows, 10_000)]
    conn = psycopg2.connect(url)  # a transaction: the settings are local to it, as in reconcile
    cur = conn.cursor()
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
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
        schema = f"cdc_bench_{args.rows}"
        print(json.dumps(one(args.one, args.url, schema, args.rows)))
        return 0
    ensure_tables(args.url, args.rows)
    parser_names = [
        "aggregation (a)",
        "aggregation (b)",
        "aggregation (b-grouped)",
    ]
    names = [
        *(parser_names if args.aggregation else []),
        "bare count(*)",
        "bare checksum query",
        "pytest-cdc identical",
        *(["baseline identical"] if args.baseline else []),
        "pytest-cdc 3 differing",
        *(["baseline 3 differing"] if args.baseline else []),
        "reladiff identical",
        "reladiff 3 differing",
        "reladiff joindiff identical",
        "reladiff joindiff 3 differing",
    ]
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        names = [n for n in names if any(n == w or n.startswith(w) for w in wanted)]
    # The machine is shared: measurements of one round run back to back, rounds repeat, and
    # each measurement keeps its best time (its peak RSS is the largest seen).
    results: dict[str, dict[str, Any]] = {}
    runs: dict[str, list[float]] = {}
    for round_ in range(max(1, args.repeat)):
        if args.repeat > 1:
            print(f"-- round {round_ + 1} of {args.repeat}", flush=True)
        for name in names:
            command = [sys.executable, __file__, "--rows", str(args.rows), "--url", args.url]
            env = dict(os.environ)
            if name.startswith("baseline"):
                env["PYTHONPATH"] = os.path.abspath(args.baseline)
            out = subprocess.run(
                [*command, "--one", name],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if out.returncode != 0:
                print(f"{name}: failed\n{out.stderr.strip()[-2000:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            runs.setdefault(name, []).append(r["seconds"])
            best = results.get(name)
            if best is None or r["seconds"] < best["seconds"]:
                r["peak_rss_mb"] = max(r["peak_rss_mb"], best["peak_rss_mb"] if best else 0.0)
                results[name] = r
            else:
                best["peak_rss_mb"] = max(best["peak_rss_mb"], r["peak_rss_mb"])
            print(
                f"{name:<30} {r['seconds']:8.2f} s  peak RSS {r['peak_rss_mb']:6.1f} MB",
                flush=True,
            )
    if args.repeat > 1:
        print("\nbest of each (all runs in seconds):")
        for name, r in results.items():
            every = ", ".join(f"{t:.2f}" for t in runs[name])
            print(
                f"{name:<30} {r['seconds']:8.2f} s  peak RSS {r['peak_rss_mb']:6.1f} MB  ({every})"
            )
    want = expected(args.rows)
    print(f"\nrows a table: {args.rows}; differences planted at id {want}")
    if "pytest-cdc 3 differing" in results:
        found = results["pytest-cdc 3 differing"]["found"]
        exact = found == {
            "missing": [[str(want["deleted"])]],
            "extra": [[str(want["added"])]],
            "changed": [[str(want["changed"])]],
        }
        print(f"pytest-cdc found exactly the 3 rows: {exact} {found}")
    if "reladiff 3 differing" in results:
        print(f"reladiff found keys: {results['reladiff 3 differing']['found']}")

    def ratio(a: str, b: str) -> str:
        if a in results and b in results:
            return f"{results[a]['seconds'] / results[b]['seconds']:.2f}x"
        return "n/a"

    print(
        "reladiff / pytest-cdc, identical:       "
        f"{ratio('reladiff identical', 'pytest-cdc identical')}"
        "  (target >= 2x)"
    )
    if args.baseline:
        print(
            "baseline / pytest-cdc, identical:       "
            f"{ratio('baseline identical', 'pytest-cdc identical')}"
        )
        print(
            "reladiff / baseline, identical:         "
            f"{ratio('reladiff identical', 'baseline identical')}"
        )
    print(
        f"reladiff / pytest-cdc, 3 differing:     "
        f"{ratio('reladiff 3 differing', 'pytest-cdc 3 differing')}"
    )
    print(
        f"pytest-cdc 3 differing / identical:     "
        f"{ratio('pytest-cdc 3 differing', 'pytest-cdc identical')}  (target <= 1.3x)"
    )
    print(
        f"pytest-cdc identical / bare checksum:   "
        f"{ratio('pytest-cdc identical', 'bare checksum query')}"
    )
    print(
        f"pytest-cdc identical / bare count(*):   {ratio('pytest-cdc identical', 'bare count(*)')}"
    )
    peak = max(
        (r["peak_rss_mb"] for n, r in results.items() if n.startswith("pytest-cdc")), default=0.0
    )
    print(f"pytest-cdc peak RSS: {peak:.1f} MB  (target <= 150 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
