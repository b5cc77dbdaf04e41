"""``cdc-sql-lint``: sqlglot-based checks for reconciliation queries and migrations.

Exit status: 0 clean, 1 findings, 2 usage or configuration errors.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_cdc.errors import CdcError
from pytest_cdc_hooks.cache import ResultCache, content_key
from pytest_cdc_hooks.cli import (
    base_parser,
    dialect_option,
    exit_code,
    fail_usage,
    print_stats,
    report,
)
from pytest_cdc_hooks.config import HookConfig, load_config
from pytest_cdc_hooks.findings import Finding
from pytest_cdc_hooks.project import load_schema, read_text

__all__ = ["lint_files", "main"]

PROG = "cdc-sql-lint"


def lint_files(
    paths: Sequence[str],
    config: HookConfig,
    *,
    dialect: str | None = None,
    use_cache: bool = True,
    extra_plugins: tuple[object, ...] = (),
    ignore: Sequence[str] = (),
) -> tuple[list[Finding], list[int]]:
    """Lint ``paths``; returns the findings and ``[statements, parsed, skipped, not understood]``.

    Expensive pieces (sqlglot, the rules, the schema) load only when a file is not in the cache.
    """
    from pytest_cdc_hooks.plugins import plugin_fingerprint

    cache = ResultCache("lint", config.root, enabled=use_cache and config.cache)
    ignored = frozenset(c.upper() for c in (*config.ignore, *ignore))
    context_key = "|".join(
        [
            config.fingerprint(),
            plugin_fingerprint(),
            ",".join(sorted(ignored)),
            ",".join(repr(p) for p in extra_plugins),
        ]
    )
    state: dict[str, Any] = {}
    totals = [0, 0, 0, 0]
    findings: list[Finding] = []
    schema_key = ""
    if config.ddl:
        # The schema (types, unique keys) feeds CDC105 and CDC109, so it is part of every key;
        # a stat-based stamp keeps cached runs from reading every DDL file, and the schema
        # itself is only built when some file has to be linted.
        schema_key = config.ddl_stamp()
        state["load_schema"] = lambda: load_schema(config, cache, parallel=False)
    # Pass 1: what the cache already knows; pass 2: lint the rest (in parallel when many).
    entries: list[dict[str, Any] | None] = []
    todo: list[tuple[int, str, str, str, bool, bool, str]] = []
    for name in paths:
        data, text, problem = read_text(Path(name), name)
        if problem is not None:
            findings.append(problem)
            continue
        file_dialect = dialect or config.dialect_for(name)
        is_ddl, is_query = config.is_ddl(name), config.is_query(name)
        key = content_key(
            data, name, file_dialect, str(is_ddl), str(is_query), context_key, schema_key
        )
        entry = cache.get(key)
        if entry is None:
            todo.append((len(entries), text or "", name, file_dialect, is_ddl, is_query, key))
        entries.append(entry)
    if todo:
        _prepare(state, extra_plugins)
        for (index, *_, key), entry in zip(todo, _lint_all(todo, ignored, state), strict=True):
            cache.put(key, entry)
            entries[index] = entry
    for entry in entries:
        assert entry is not None
        findings.extend(Finding(*f) for f in entry["findings"])
        totals = [a + b for a, b in zip(totals, entry["stats"], strict=True)]
    cache.save()
    return findings, totals


def _prepare(state: dict[str, Any], extra_plugins: tuple[object, ...]) -> None:
    """Load the rules (with plugins) and the schema once, before any worker is forked."""
    from pytest_cdc_hooks.plugins import register_plugin_rules
    from pytest_cdc_hooks.rules import builtin_registry

    registry = builtin_registry()
    register_plugin_rules(registry, extra_plugins)
    state["registry"] = registry
    if "load_schema" in state:
        state["schema"] = state.pop("load_schema")()


#: Below this many files to lint, starting worker processes costs more than it saves.
PARALLEL_MIN_FILES = 64
# Set in the parent right before forking; the workers inherit it.
_WORK: dict[str, Any] = {}


def _lint_all(
    todo: list[tuple[int, str, str, str, bool, bool, str]],
    ignored: frozenset[str],
    state: dict[str, Any],
) -> list[dict[str, Any]]:
    """Lint every uncached file; on all cores when there are many (sqlglot is pure Python)."""
    import os

    jobs = [(text, name, d, is_ddl, is_query) for _, text, name, d, is_ddl, is_query, _ in todo]
    _WORK.update(ignored=ignored, state=state)
    workers = min(os.cpu_count() or 1, 8)
    import multiprocessing

    if (
        workers < 2
        or len(jobs) < PARALLEL_MIN_FILES
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return [_lint_job(*job) for job in jobs]
    chunk = max(1, len(jobs) // (workers * 4))
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return pool.starmap(_lint_job, jobs, chunksize=chunk)


def _lint_job(text: str, name: str, dialect: str, is_ddl: bool, is_query: bool) -> dict[str, Any]:
    from pytest_cdc_hooks.lint import lint_text

    state = _WORK["state"]
    loaded = state.get("schema")
    found, stats = lint_text(
        text,
        name,
        dialect,
        state["registry"],
        is_ddl=is_ddl,
        is_query=is_query,
        schema=loaded.schema if loaded is not None else None,
        ignore=_WORK["ignored"],
    )
    return {"findings": [list(f) for f in found], "stats": stats.as_list()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser(PROG, "Lint SQL for CDC reconciliation: rules CDC000-CDC109.")
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="CODES",
        help="comma-separated rule codes to skip (adds to the config's ignore list)",
    )
    parser.add_argument("--list-rules", action="store_true", help="print the rules and exit")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        dialect = dialect_option(args)
        if args.list_rules:
            from pytest_cdc_hooks.plugins import register_plugin_rules
            from pytest_cdc_hooks.rules import CORE_CODES, builtin_registry

            registry = builtin_registry()
            register_plugin_rules(registry)
            for code, text in CORE_CODES.items():
                print(f"{code}  {text}")
            for rule in registry:
                print(f"{rule.code}  {rule.name}: {rule.message}")
            return 0
        ignore = [c.strip() for item in args.ignore for c in item.split(",") if c.strip()]
        findings, stats = lint_files(
            args.filenames, config, dialect=dialect, use_cache=not args.no_cache, ignore=ignore
        )
    except CdcError as error:
        return fail_usage(PROG, str(error))
    report(findings, args.format, PROG)
    if args.stats:
        print_stats(PROG, stats, len(args.filenames))
    strict = config.strict if args.strict is None else args.strict
    return exit_code(findings, strict)


if __name__ == "__main__":
    sys.exit(main())
