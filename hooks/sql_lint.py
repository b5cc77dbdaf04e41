"""``cdc-sql-lint``: sqlglot-based checks for reconciliation queries and migrations.

Exit status: 0 clean, 1 findings, 2 usage or configuration errors.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_cdc.errors import CdcError
from pytest_cdc_hooks.cache import ResultCache, content_key
from pytest_cdc_hooks.cli import (
    base_parser,
    dialect_option,
    exit_code,
    fail_usage,
    finish,
    internal_error,
    print_stats,
    report,
    statement_timeout,
)
from pytest_cdc_hooks.codes import check_codes
from pytest_cdc_hooks.config import HookConfig, load_config
from pytest_cdc_hooks.findings import Finding
from pytest_cdc_hooks.project import load_schema, read_text

if TYPE_CHECKING:
    from pytest_cdc_hooks.rules import RuleRegistry

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
    timeout: float | None = None,
) -> tuple[list[Finding], list[int]]:
    """Lint ``paths``; returns the findings and ``[statements, parsed, skipped, not understood]``.

    Expensive pieces (sqlglot, the rules, the schema) load only when a file is not in the cache.
    ``timeout`` bounds each statement (seconds; None: the config's or the default; 0: none).
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
    totals = [0, 0, 0, 0]
    findings: list[Finding] = []
    # The schema (types, unique keys) feeds CDC105 and CDC109, so it is part of every key; a
    # stat-based stamp keeps cached runs from reading every DDL file, and the schema itself is
    # only built when some file has to be linted.
    schema_key = config.ddl_stamp() if config.ddl else ""
    # Pass 1: what the cache already knows; pass 2: lint the rest in bounded workers.
    entries: list[dict[str, Any] | None] = []
    todo: list[tuple[int, str, tuple[Any, ...]]] = []  # entry index, cache key, job arguments
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
            todo.append((len(entries), key, (text or "", name, file_dialect, is_ddl, is_query)))
        entries.append(entry)
    if todo:
        from pytest_cdc_hooks.project import failed_finding
        from pytest_cdc_hooks.workers import JobFailed, WorkerPool

        registry = _registry(extra_plugins)  # here first: a broken plugin is a usage error
        bound = statement_timeout(timeout, config)
        with WorkerPool(timeout=bound, init=(_init_worker, (registry, ignored))) as pool:
            if config.ddl:
                pool.set_state("schema", load_schema(config, cache, pool).schema)
            results = pool.map(_lint_job, [(args[1], args) for _, _, args in todo])
        for (index, key, args), result in zip(todo, results, strict=True):
            if isinstance(result, JobFailed):
                result = {
                    "findings": [list(failed_finding(args[1], result, "checked"))],
                    "stats": [0, 0, 0, 0],
                }
            elif args[1] not in pool.gave_up:  # a time-out depends on the machine
                cache.put(key, result)
            entries[index] = result
    for entry in entries:
        assert entry is not None
        findings.extend(Finding(*f) for f in entry["findings"])
        totals = [a + b for a, b in zip(totals, entry["stats"], strict=True)]
    cache.save()
    return findings, totals


def _registry(extra_plugins: tuple[object, ...]) -> RuleRegistry:
    from pytest_cdc_hooks.plugins import register_plugin_rules
    from pytest_cdc_hooks.rules import builtin_registry

    registry = builtin_registry()
    register_plugin_rules(registry, extra_plugins)
    return registry


def _init_worker(registry: RuleRegistry, ignored: frozenset[str]) -> None:
    from pytest_cdc_hooks import workers

    workers.state().update(registry=registry, ignored=ignored)


def _lint_job(text: str, name: str, dialect: str, is_ddl: bool, is_query: bool) -> dict[str, Any]:
    from pytest_cdc_hooks import workers
    from pytest_cdc_hooks.lint import lint_text

    state = workers.state()
    found, stats = lint_text(
        text,
        name,
        dialect,
        state["registry"],
        is_ddl=is_ddl,
        is_query=is_query,
        schema=state.get("schema"),
        ignore=state["ignored"],
    )
    return {"findings": [list(f) for f in found], "stats": stats.as_list()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser(PROG, "Lint SQL for CDC reconciliation: rules CDC000-CDC110.")
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
        ignore = [c.strip().upper() for item in args.ignore for c in item.split(",") if c.strip()]
        check_codes(config.ignore, f"ignore in {config.pyproject}")
        check_codes(ignore, "--ignore")
        findings, stats = lint_files(
            args.filenames,
            config,
            dialect=dialect,
            use_cache=not args.no_cache,
            ignore=ignore,
            timeout=args.statement_timeout,
        )
        done = finish(args, config, findings, PROG)
    except CdcError as error:
        return fail_usage(PROG, str(error))
    except Exception as error:  # a commit hook never ends in a traceback
        return fail_usage(PROG, internal_error(error))
    if done is not None:
        return done
    report(findings, args.format, PROG)
    if args.stats:
        print_stats(PROG, stats, len(args.filenames))
    strict = config.strict if args.strict is None else args.strict
    return exit_code(findings, strict)


if __name__ == "__main__":
    sys.exit(main())
