"""Benchmark the pre-commit hooks against sqlfluff and squawk on one generated corpus.

    python bench/bench_hooks.py            # full corpus (~480 KB, 480 files) + 1,000 DDL files
    python bench/bench_hooks.py --quick    # a quarter of it
    python bench/bench_hooks.py --env current   # time the hooks of this environment instead

Every tool runs as the separate process pre-commit would start, in the same run, on the same
files.  Wall times are the best of ``--repeat`` runs (the machine is shared: the best run shows
what the tool can do); CPU times are reported beside them.  Targets (issue 6):

- cdc-sql-lint >= 30x faster than ``sqlfluff lint`` (same files, same dialects);
- a repeated cdc-sql-lint run (cache warm: pre-commit runs on every commit) within 3x of squawk
  on the PostgreSQL migrations;
- cdc-index-coverage over 1,000 DDL files <= 2 s;
- the share of statements not understood by the parser;
- the bound per statement (issue 17: workers the hook can kill) costs little on the normal
  path: cold runs with the bound against ``--statement-timeout 0`` (no bound, in process);
- rules linear in statement size (issue 17): one statement with N = 500..4,000 OR terms, the
  whole lint (split, parse, every rule) against sqlglot's parse alone of the same text, in
  process; the lint / parse ratio must stay flat as N grows (it was 0.8 s at 500 terms and
  88 s at 4,000, nearly all in CDC105).

    python bench/bench_hooks.py --only scaling   # just that part (seconds)
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import write_corpus, write_ddl_corpus

BIN = Path(sys.executable).parent
STATS = re.compile(r"(\d+) statements: (\d+) parsed, (\d+) skipped, (\d+) not understood")


def tool(name: str) -> str | None:
    found = BIN / name
    return str(found) if found.exists() else shutil.which(name)


def timed(
    cmd: Sequence[str], cwd: Path, env: dict[str, str], repeat: int
) -> tuple[float, float, str]:
    """Best wall time, CPU time of that run, and stderr of the last run."""
    best_wall = float("inf")
    best_cpu = 0.0
    err = ""
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        err = proc.stderr
        if wall < best_wall:
            best_wall, best_cpu = wall, cpu
    return best_wall, best_cpu, err


def isolated_env(venv: Path) -> tuple[str | None, str | None]:
    """A fresh virtualenv with the project installed (not editable), like pre-commit's.

    Startup time is a large part of a cached run, and a development virtualenv (editable
    install finders, coverage .pth hooks, hundreds of packages) starts slower than the small
    environment pre-commit builds for the hook.
    """
    repo = Path(__file__).resolve().parents[1]
    print(f"installing {repo.name} into a fresh virtualenv (as pre-commit does) ...")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = venv / "bin" / "pip"
    done = subprocess.run([str(pip), "install", "-q", str(repo)], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"pip install failed, using the current environment: {done.stderr[-500:]}")
        return tool("cdc-sql-lint"), tool("cdc-index-coverage")
    return str(venv / "bin" / "cdc-sql-lint"), str(venv / "bin" / "cdc-index-coverage")


def real_postgres_files() -> list[Path]:
    """SQL scripts of the PostgreSQL contrib extensions installed here: real-world DDL."""
    found = sorted(Path("/usr/share/postgresql").glob("*/extension/*.sql"))
    return found


def whole_file_failures(files: list[Path]) -> int:
    """Files sqlglot cannot parse in one piece (the baseline the statement splitting beats)."""
    import logging

    import sqlglot
    from sqlglot.errors import ErrorLevel

    logging.getLogger("sqlglot").setLevel(logging.CRITICAL)
    failed = 0
    for path in files:
        try:
            sqlglot.parse(
                path.read_text(encoding="utf-8"), read="postgres", error_level=ErrorLevel.RAISE
            )
        except Exception:  # any failure counts
            failed += 1
    return failed


def scaling(repeat: int) -> None:
    """Lint of one statement with N OR terms against sqlglot's parse of it, in this process."""
    import logging

    import sqlglot

    from pytest_cdc_hooks import lint as lint_module
    from pytest_cdc_hooks.lint import lint_text
    from pytest_cdc_hooks.rules import builtin_registry

    logging.getLogger("sqlglot").setLevel(logging.CRITICAL)
    registry = builtin_registry()
    ddl = "CREATE TABLE acct (no varchar(9) PRIMARY KEY, a int);\n"
    print("one statement with N OR terms (CDC105 has column types to check), in process")
    print(f"  {'N':>6} {'sqlglot.parse':>14} {'cdc lint':>10} {'lint/parse':>11}")

    def best(work: Callable[[], object]) -> float:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            work()
            times.append(time.perf_counter() - t0)
        return min(times)

    for n in (500, 1000, 2000, 4000):
        query = "SELECT no FROM acct WHERE " + " OR ".join(f"no = {i}" for i in range(n)) + ";\n"
        parse = best(lambda q=query: sqlglot.parse(ddl + q, read="postgres"))

        def lint_cold(q: str = query) -> None:
            # the per-process parse memo must not serve the repeats
            lint_module._PARSED.clear()
            lint_module._SPLIT.clear()
            lint_text(ddl + q, "q.sql", "postgres", registry)

        lint = best(lint_cold)
        print(f"  {n:>6} {parse:>12.3f} s {lint:>8.3f} s {lint / parse:>10.2f}x")
    print(
        "  lint/parse should stay flat as N grows (linear rules); "
        "before issue 17 it grew with N (CDC105 was quadratic)"
    )


def row(label: str, wall: float, cpu: float, note: str = "") -> None:
    print(f"  {label:<46} {wall:8.3f} s wall {cpu:8.3f} s cpu  {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the corpus")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    parser.add_argument("--keep", action="store_true", help="keep the corpus directory")
    parser.add_argument(
        "--env",
        choices=("isolated", "current"),
        default="isolated",
        help="isolated (default): install the project into a fresh virtualenv, as pre-commit "
        "does, and time its console scripts; current: use this interpreter's environment",
    )
    parser.add_argument(
        "--only",
        choices=("all", "scaling"),
        default="all",
        help="scaling: only the rule-scaling measurement (in process, seconds)",
    )
    args = parser.parse_args()
    if args.only == "scaling":
        scaling(args.repeat)
        return 0

    sqlfluff, squawk = tool("sqlfluff"), tool("squawk")
    root = Path(tempfile.mkdtemp(prefix="cdc-bench-hooks-"))
    lint, coverage = tool("cdc-sql-lint"), tool("cdc-index-coverage")
    if args.env == "isolated":
        lint, coverage = isolated_env(root / "venv")
    if not lint or not coverage:
        print("cdc-sql-lint is not installed: pip install -e '.[dev]'", file=sys.stderr)
        return 2

    cache = root / ".cache"
    env = {**os.environ, "PYTEST_CDC_CACHE_DIR": str(cache)}
    try:
        scale = 4 if args.quick else 1
        corpus = root / "corpus"
        groups = write_corpus(corpus, migrations=160 // scale, query_files=80 // scale)
        files = [p for g in groups.values() for p in g]
        rel = [str(p.relative_to(corpus)) for p in files]
        size = sum(p.stat().st_size for p in files)
        pg = [str(p.relative_to(corpus)) for p in groups["pg_ddl"] + groups["pg_queries"]]
        ms = [str(p.relative_to(corpus)) for p in groups["ms_ddl"] + groups["ms_queries"]]
        pg_migrations = [str(p.relative_to(corpus)) for p in groups["pg_ddl"]]
        print(
            f"corpus: {len(files)} files, {size / 1024:.0f} KB "
            f"({len(pg)} PostgreSQL, {len(ms)} T-SQL); best of {args.repeat}"
        )

        print("cdc-sql-lint")
        cold = timed([lint, "--no-cache", "--stats", *rel], corpus, env, args.repeat)
        m = STATS.search(cold[2])
        share = ""
        if m:
            total, _ok, skipped, nu = (int(x) for x in m.groups())
            share = (
                f"{total} statements, {nu} not understood ({nu / total:.1%}), "
                f"{skipped} skipped (not needed by any rule)"
            )
        row("cold (no cache)", cold[0], cold[1], share)
        # the price of the bound per statement (issue 17): the same run in this process
        unbounded = timed(
            [lint, "--no-cache", "--statement-timeout", "0", *rel], corpus, env, args.repeat
        )
        row("cold, no bound (--statement-timeout 0)", unbounded[0], unbounded[1])
        one_cold = timed([lint, "--no-cache", rel[0]], corpus, env, max(args.repeat, 5))
        row("one file, cold (schema + lint)", one_cold[0], one_cold[1])
        one_cold_unbounded = timed(
            [lint, "--no-cache", "--statement-timeout", "0", rel[0]],
            corpus,
            env,
            max(args.repeat, 5),
        )
        row("one file, cold, no bound", one_cold_unbounded[0], one_cold_unbounded[1])
        timed([lint, *rel], corpus, env, 1)  # fill the cache
        warm = timed([lint, *rel], corpus, env, max(args.repeat, 5))
        row("repeated run (cache warm)", warm[0], warm[1])
        one = timed([lint, rel[0]], corpus, env, max(args.repeat, 5))
        row("one changed file (cache warm)", one[0], one[1])

        fluff = None
        if sqlfluff:
            print("sqlfluff lint (all rules, same files, same dialects)")
            f_pg = timed(
                [
                    sqlfluff,
                    "lint",
                    "--dialect",
                    "postgres",
                    "--disable-progress-bar",
                    "--processes",
                    "1",
                    *pg,
                ],
                corpus,
                env,
                1,
            )
            f_ms = timed(
                [
                    sqlfluff,
                    "lint",
                    "--dialect",
                    "tsql",
                    "--disable-progress-bar",
                    "--processes",
                    "1",
                    *ms,
                ],
                corpus,
                env,
                1,
            )
            fluff = (f_pg[0] + f_ms[0], f_pg[1] + f_ms[1])
            row("postgres + tsql (one run each)", *fluff)
        else:
            print("sqlfluff: not installed (pip install sqlfluff) - comparison skipped")

        squawk_time = None
        if squawk:
            print(f"squawk (PostgreSQL migrations only: {len(pg_migrations)} files)")
            sq = timed([squawk, *pg_migrations], corpus, env, max(args.repeat, 5))
            squawk_time = sq
            row("squawk", sq[0], sq[1])
            ours_pg = timed([lint, *pg_migrations], corpus, env, max(args.repeat, 5))
            row("cdc-sql-lint, same files (cache warm)", ours_pg[0], ours_pg[1])
            ours_pg_cold = timed([lint, "--no-cache", *pg_migrations], corpus, env, args.repeat)
            row("cdc-sql-lint, same files (no cache)", ours_pg_cold[0], ours_pg_cold[1])
        else:
            print("squawk: not installed (pip install squawk-cli) - comparison skipped")

        ddl_files = 1000 // scale
        print(f"cdc-index-coverage over {ddl_files:,} DDL files (+ 40 query files)")
        ddl_root = root / "ddl"
        write_ddl_corpus(ddl_root, files=ddl_files)
        c_cold = timed([coverage, "--no-cache", "--stats"], ddl_root, env, args.repeat)
        m = STATS.search(c_cold[2])
        note = ""
        if m:
            total, _ok, skipped, nu = (int(x) for x in m.groups())
            note = f"{total} statements, {nu} not understood ({nu / total:.1%})"
        row("cold (no cache)", c_cold[0], c_cold[1], note)
        timed([coverage], ddl_root, env, 1)
        c_warm = timed([coverage], ddl_root, env, max(args.repeat, 5))
        row("repeated run (cache warm)", c_warm[0], c_warm[1])

        real = real_postgres_files()
        real_note = ""
        if real:
            print(f"real PostgreSQL files: {len(real)} from {real[0].parent} (contrib extensions)")
            r = timed(
                [lint, "--no-cache", "--stats", "--dialect", "postgresql", *map(str, real)],
                corpus,
                env,
                1,
            )
            m = STATS.search(r[2])
            whole = whole_file_failures(real)
            if m:
                total, _ok, skipped, nu = (int(x) for x in m.groups())
                real_note = (
                    f"{nu} of {total} statements not understood ({nu / total:.1%}), "
                    f"{skipped} skipped; whole-file sqlglot.parse fails on {whole} of "
                    f"{len(real)} files"
                )
                row("cdc-sql-lint", r[0], r[1], real_note)

        print("ratios")
        if fluff:
            print(f"  sqlfluff / cdc-sql-lint cold:  {fluff[0] / cold[0]:7.1f}x  (target >= 30x)")
            print(f"  sqlfluff / cdc-sql-lint warm:  {fluff[0] / warm[0]:7.1f}x")
        if squawk_time:
            print(
                f"  cdc-sql-lint warm / squawk:    {ours_pg[0] / squawk_time[0]:7.2f}x  "
                "(target <= 3x, PostgreSQL migrations)"
            )
            print(f"  cdc-sql-lint cold / squawk:    {ours_pg_cold[0] / squawk_time[0]:7.2f}x")
        extra, extra_one = cold[0] - unbounded[0], one_cold[0] - one_cold_unbounded[0]
        print(
            f"  bound per statement, cold lint:  {cold[0] / unbounded[0]:7.2f}x the unbounded run "
            f"({extra:+.3f} s); one file: {one_cold[0] / one_cold_unbounded[0]:.2f}x "
            f"({extra_one:+.3f} s)"
        )
        print(
            f"  index coverage, {ddl_files:,} files: {c_cold[0]:6.2f} s cold, "
            f"{c_warm[0]:.2f} s warm  (target <= 2 s for 1,000 files)"
        )
        if share:
            print(f"  not understood (lint corpus):  {share}")
        if real_note:
            print(f"  not understood (real files):   {real_note}")
        scaling(args.repeat)
    finally:
        if args.keep:
            print(f"corpus kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
