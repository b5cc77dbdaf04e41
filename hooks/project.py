"""Things both hooks do with a project: read files, build the schema from the DDL globs."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_cdc_hooks.cache import ResultCache, content_key
from pytest_cdc_hooks.config import HookConfig
from pytest_cdc_hooks.findings import Finding, not_understood_message
from pytest_cdc_hooks.source import SourceError, read_source

if TYPE_CHECKING:
    from pytest_cdc_hooks.workers import JobFailed, WorkerPool

__all__ = ["LoadedSchema", "display_path", "failed_finding", "load_schema", "read_text"]


def display_path(path: Path | str) -> str:
    """The path as the user gave it (pre-commit passes paths relative to the repository)."""
    return str(path)


#: Larger files are data dumps rather than migrations or queries; parsing them would make a
#: commit wait for minutes.
MAX_BYTES = 4 * 1024 * 1024


def read_text(path: Path, shown: str) -> tuple[bytes, str | None, Finding | None]:
    """File bytes and text, or a CDC002 finding saying why it cannot be read."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            message = (
                f"file is {size / 1048576:.1f} MB, over the {MAX_BYTES // 1048576} MB limit: "
                "not checked; split it or exclude it from the hook"
            )
            return b"", None, Finding(shown, 1, 1, "CDC002", message, "warning")
        data, text = read_source(path)
    except OSError as error:
        reason = error.strerror or str(error)
        return b"", None, Finding(shown, 1, 1, "CDC002", f"cannot read file: {reason}")
    if isinstance(text, SourceError):
        return data, None, Finding(shown, text.line, text.col, "CDC002", text.message)
    return data, text, None


class LoadedSchema:
    def __init__(self, schema: Any, fingerprint: str) -> None:
        self.schema = schema  # a pytest_cdc_hooks.schema.Schema
        self.fingerprint = fingerprint
        self.findings: list[Finding] = []
        self.stats = [0, 0, 0, 0]
        self.files = 0


def load_schema(config: HookConfig, cache: ResultCache, pool: WorkerPool) -> LoadedSchema:
    """Replay every configured DDL file in migration order into one schema model.

    Files not in the cache are parsed by ``pool`` (bounded per statement, in parallel when
    many); a pool kept open for the lint afterwards still has them in its parse memo.
    """
    from pytest_cdc_hooks.schema import Schema
    from pytest_cdc_hooks.workers import JobFailed

    schema = Schema()
    digest = hashlib.sha256()
    loaded = LoadedSchema(schema, "")
    files: list[tuple[str, str, str, str | None]] = []  # shown, dialect, key, text if missing
    for path in config.ddl_files():
        shown = config.relative(path)
        dialect = config.dialect_for(path)
        data, text, problem = read_text(path, shown)
        if problem is not None:
            loaded.findings.append(problem)
            continue
        key = content_key(data, dialect, shown, "schema-ops")
        digest.update(key.encode())
        files.append((shown, dialect, key, None if cache.get(key) is not None else text))
    missing = [(shown, (text, dialect, shown)) for shown, dialect, _, text in files if text]
    computed = dict(zip([m[0] for m in missing], pool.map(_file_ops, missing), strict=True))
    for shown, _dialect, key, _text in files:
        entry = computed.get(shown)
        if isinstance(entry, JobFailed):
            loaded.findings.append(failed_finding(shown, entry, "modelled"))
            # the model may be wrong about any table now
            entry = {"ops": [_uncertain(shown, 1)], "not_understood": [], "stats": [0, 0, 0, 0]}
        elif entry is not None:
            if shown not in pool.gave_up:  # a time-out depends on the machine: try again later
                cache.put(key, entry)
        else:
            entry = cache.get(key)
        for op in entry["ops"]:
            schema.apply(op)
        for line, col, reason, about in entry["not_understood"]:
            message = not_understood_message(reason, "modelled")
            loaded.findings.append(Finding(shown, line, col, "CDC000", message, "warning", about))
        loaded.stats = [a + b for a, b in zip(loaded.stats, entry["stats"], strict=True)]
        loaded.files += 1
    loaded.fingerprint = digest.hexdigest()[:16]
    return loaded


def failed_finding(shown: str, failed: JobFailed, what: str) -> Finding:
    """A file the hook could not process at all: a warning on it, never a traceback."""
    return Finding(
        shown,
        1,
        1,
        "CDC000",
        f"file not {what}: the hook failed on it ({failed.message}); please report this",
        "warning",
    )


def _uncertain(shown: str, line: int) -> dict[str, Any]:
    return {"op": "uncertain", "table": "", "path": shown, "line": line}


def _file_ops(text: str, dialect: str, shown: str) -> dict[str, Any]:
    from pytest_cdc_hooks import workers
    from pytest_cdc_hooks.ddl import extract_ops, uncertain_op
    from pytest_cdc_hooks.findings import fingerprint, line_col, line_starts
    from pytest_cdc_hooks.lint import SCHEMA_KINDS, analyze
    from pytest_cdc_hooks.parsing import statement_kind

    parsed, _issues, stats = analyze(text, dialect, SCHEMA_KINDS)
    starts = line_starts(text)
    ops: list[dict[str, Any]] = []
    not_understood: list[tuple[int, int, str, str]] = []
    for p in parsed:
        if p.status == "not_understood":
            line, col = line_col(text, p.offset, starts)
            not_understood.append((line, col, p.reason, fingerprint(p.stmt.text)))
            kind = statement_kind(p.stmt.text)
            if kind.startswith(("CREATE", "ALTER", "DROP")):
                # the model may now be wrong about this table: findings about it must say so
                ops.append(uncertain_op(p.stmt.text, dialect, shown, line))
            continue
        workers.statement(p.stmt.start)
        line, _ = line_col(text, p.stmt.start, starts)
        for tree in p.trees:
            ops.extend(extract_ops(tree, dialect, shown, line))
    return {"ops": ops, "not_understood": not_understood, "stats": stats.as_list()}
