"""Argument parsing and output shared by both hooks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pytest_cdc_hooks.config import DEFAULT_STATEMENT_TIMEOUT, HookConfig
from pytest_cdc_hooks.findings import FORMATS, Finding, format_findings

__all__ = [
    "base_parser",
    "dialect_option",
    "exit_code",
    "fail_usage",
    "finish",
    "internal_error",
    "report",
    "statement_timeout",
]


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("filenames", nargs="*", help="SQL files (pre-commit passes these)")
    parser.add_argument(
        "--format", choices=FORMATS, default="text", help="output format (default: text)"
    )
    parser.add_argument(
        "--config",
        metavar="PYPROJECT",
        help="pyproject.toml to read [tool.pytest-cdc] from "
        "(default: the nearest one above the current directory)",
    )
    parser.add_argument(
        "--dialect", help="dialect for every file (postgresql|mssql), overriding the config"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="fail on warnings too, including statements the parser did not understand",
    )
    parser.add_argument(
        "--statement-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="give up on a statement the parser has not finished after this long and report "
        f"it as not understood (default: {DEFAULT_STATEMENT_TIMEOUT:g}; 0: no bound)",
    )
    parser.add_argument(
        "--baseline",
        metavar="FILE",
        help="report only findings this baseline file does not record (default: baseline in "
        "[tool.pytest-cdc])",
    )
    parser.add_argument(
        "--write-baseline",
        metavar="FILE",
        help="record the current findings in FILE (one section per hook) and exit 0",
    )
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    parser.add_argument(
        "--stats",
        action="store_true",
        help="print statement counts (parsed / skipped / not understood) to stderr",
    )
    return parser


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds (0: no bound)")
    return seconds


def statement_timeout(value: float | None, config: HookConfig) -> float | None:
    """The bound per statement in seconds: ``value`` (--statement-timeout), else the config's,
    else the default; None when switched off with 0."""
    for given in (value, config.statement_timeout):
        if given is not None:
            return given or None
    return DEFAULT_STATEMENT_TIMEOUT


def dialect_option(args: argparse.Namespace) -> str | None:
    """``--dialect`` as sqlglot's dialect name (None when not given); a name nobody knows
    raises UnsupportedDialect, which both hooks report as a usage error."""
    if not args.dialect:
        return None
    from pytest_cdc.dialects import get_dialect

    return get_dialect(args.dialect).sqlglot_dialect


def internal_error(error: Exception) -> str:
    """The one line a hook prints for a bug of its own (never a traceback in a commit)."""
    text = f"{type(error).__name__}: {error}".splitlines()[0][:300]
    return f"internal error ({text}): please report it with the files that caused it"


def fail_usage(prog: str, message: str) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2


def exit_code(findings: Sequence[Finding], strict: bool) -> int:
    fails = any(f.severity == "error" or strict for f in findings)
    return 1 if fails else 0


def finish(
    args: argparse.Namespace, config: HookConfig, findings: list[Finding], tool: str
) -> int | None:
    """Apply ``--write-baseline`` (returns the exit status) or the baseline (filters
    ``findings`` in place); None: go on and report."""
    from pathlib import Path

    if args.write_baseline:
        from pytest_cdc_hooks.baseline import write_baseline

        count = write_baseline(Path(args.write_baseline), tool, findings)
        print(f"{tool}: recorded {count} findings in {args.write_baseline}", file=sys.stderr)
        return 0
    baseline = Path(args.baseline) if args.baseline else config.baseline
    if baseline is not None:
        from pytest_cdc_hooks.baseline import apply_baseline

        findings[:] = apply_baseline(baseline, tool, findings)
    return None


def report(findings: Sequence[Finding], fmt: str, tool: str) -> None:
    if findings or fmt in ("json", "sarif"):
        out = format_findings(findings, fmt, tool)
        if out:
            print(out)


def print_stats(tool: str, stats: Sequence[int], files: int) -> None:
    total, ok, skipped, not_understood = stats
    share = not_understood / total * 100 if total else 0.0
    print(
        f"{tool}: {files} files, {total} statements: {ok} parsed, {skipped} skipped, "
        f"{not_understood} not understood ({share:.1f}%)",
        file=sys.stderr,
    )
