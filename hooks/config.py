"""The ``[tool.pytest-cdc]`` table of ``pyproject.toml``, as the hooks read it.

Unknown keys are errors with a "did you mean" hint: a misspelt ``reconcilation-tables`` would
otherwise silently turn the index-coverage hook into a no-op that always passes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from pytest_cdc.errors import ConfigError, UnsupportedDialect, did_you_mean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the package still installs on 3.10
    import tomli as tomllib

__all__ = ["HookConfig", "ReconciliationTable", "find_pyproject", "load_config"]

TABLE = "tool.pytest-cdc"
TOP_KEYS = frozenset(
    {
        "dialects",
        "default-dialect",
        "ddl",
        "queries",
        "reconciliation-tables",
        "ignore",
        "strict",
        "cache",
        "statement-timeout",
        "baseline",
    }
)
TABLE_KEYS = frozenset(
    {"name", "key", "timestamp", "status", "dialect", "active-filter", "checksum-columns"}
)
#: Seconds one statement may take (parse and rules) before the hooks give up on it.  sqlglot
#: parses a normal statement in milliseconds and a 4,000-term generated one in about a second.
DEFAULT_STATEMENT_TIMEOUT = 10.0
#: Keys of the same table read by other parts of pytest-cdc (the pytest plugin): accepted here.
OTHER_KEYS: frozenset[str] = frozenset({"replica"})  # pytest_cdc.schema (docs/schema.md)


class ReconciliationTable(NamedTuple):
    name: str
    key: tuple[str, ...]
    timestamp: str | None = None
    status: str | None = None
    dialect: str | None = None
    active_filter: str | None = None
    checksum_columns: tuple[str, ...] = ()
    #: 1-based line of the entry in pyproject.toml, for findings about the table itself.
    line: int = 1


class HookConfig:
    """The hooks' settings.  A plain class, not a dataclass: every hook run starts a process,
    and importing dataclasses (and inspect behind it) is a noticeable part of a cached run."""

    def __init__(
        self,
        root: Path,
        pyproject: Path | None = None,
        *,
        dialects: tuple[tuple[str, str], ...] = (),
        default_dialect: str = "postgres",
        ddl: tuple[str, ...] = (),
        queries: tuple[str, ...] = (),
        tables: tuple[ReconciliationTable, ...] = (),
        ignore: tuple[str, ...] = (),
        strict: bool = False,
        cache: bool = True,
        statement_timeout: float | None = None,
        baseline: Path | None = None,
        raw: str = "",
    ) -> None:
        self.root = root
        self.pyproject = pyproject
        self.dialects = dialects
        self.default_dialect = default_dialect
        self.ddl = ddl
        self.queries = queries
        self.tables = tables
        self.ignore = ignore
        self.strict = strict
        self.cache = cache
        #: seconds one statement may take; None: the default; 0: no bound
        self.statement_timeout = statement_timeout
        #: baseline file (findings recorded there do not fail the hooks)
        self.baseline = baseline
        self._raw = raw
        self._root_prefix = os.path.join(os.path.abspath(root), "")
        self._relative_cache: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"HookConfig(root={str(self.root)!r}, pyproject={str(self.pyproject)!r})"

    def relative(self, path: str | Path) -> str:
        """``path`` relative to the project root, with forward slashes (for glob matching)."""
        key = os.fspath(path)
        found = self._relative_cache.get(key)
        if found is None:
            absolute = os.path.abspath(key)
            if absolute.startswith(self._root_prefix):
                found = absolute[len(self._root_prefix) :]
            else:
                found = key
            found = found.replace(os.sep, "/")
            self._relative_cache[key] = found
        return found

    def ddl_stamp(self) -> str:
        """Changes when any DDL file is added, removed or touched (cheap: stat only)."""
        digest = hashlib.sha256()
        for path in self.ddl_files():
            st = path.stat()
            digest.update(f"{path}\x00{st.st_size}\x00{st.st_mtime_ns}\x00".encode())
        return digest.hexdigest()[:16]

    def dialect_for(self, path: str | Path) -> str:
        rel = self.relative(path)
        for pattern, dialect in self.dialects:
            if _glob_regex(pattern).match(rel):
                return dialect
        return self.default_dialect

    def is_ddl(self, path: str | Path) -> bool:
        rel = self.relative(path)
        return any(_glob_regex(p).match(rel) for p in self.ddl)

    def is_query(self, path: str | Path) -> bool:
        rel = self.relative(path)
        if self.queries:
            return any(_glob_regex(p).match(rel) for p in self.queries)
        return not self.is_ddl(path)

    def ddl_files(self) -> list[Path]:
        return _expand(self.root, self.ddl)

    def query_files(self) -> list[Path]:
        return _expand(self.root, self.queries)

    def fingerprint(self) -> str:
        """Changes whenever a setting that could change a finding changes."""
        return hashlib.sha256(self._raw.encode()).hexdigest()[:16]


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """``**`` spans directories, ``*`` and ``?`` stay within one; a trailing ``/**`` matches all."""
    out = []
    i = 0
    pattern = pattern.strip().lstrip("./") if pattern.startswith("./") else pattern.strip()
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _natural(path: Path) -> list[object]:
    # Migration order: V2__x.sql before V10__y.sql.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.as_posix())]


def _expand(root: Path, patterns: Iterable[str]) -> list[Path]:
    found: dict[Path, None] = {}
    for pattern in patterns:
        for path in root.glob(pattern):
            if path.is_file():
                found.setdefault(path, None)
    return sorted(found, key=lambda p: _natural(p.relative_to(root)))


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above ``start``."""
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(path: str | Path | None = None, cwd: Path | None = None) -> HookConfig:
    """Read ``[tool.pytest-cdc]`` from ``path`` or the nearest pyproject.toml above ``cwd``."""
    cwd = Path.cwd() if cwd is None else cwd
    if path is None:
        pyproject = find_pyproject(cwd)
        if pyproject is None:
            return HookConfig(root=cwd)
    else:
        pyproject = Path(path)
        if not pyproject.is_file():
            raise ConfigError(f"config file {str(pyproject)!r} does not exist: fix --config")
    try:
        text = pyproject.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {str(pyproject)!r}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{pyproject}: invalid toml: {error}") from None
    section = data.get("tool", {}).get("pytest-cdc", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{pyproject}: [{TABLE}] must be a table")
    return _parse(section, pyproject, text)


def _unknown(key: str, known: Iterable[str], where: str, pyproject: Path) -> ConfigError:
    hint = did_you_mean(key, sorted(known))
    names = ", ".join(sorted(known))
    return ConfigError(f"{pyproject}: unknown key {key!r} in [{where}]{hint}; known keys: {names}")


def _strings(value: Any, key: str, pyproject: Path) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ConfigError(f"{pyproject}: [{TABLE}] {key} must be a list of strings, got {value!r}")


def _dialect(value: Any, key: str, pyproject: Path) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{pyproject}: [{TABLE}] {key} must be a dialect name, got {value!r}")
    # The one registry of names and aliases (postgres, pg, tsql, sqlserver, ...), which also
    # knows the dialects third parties register.
    from pytest_cdc.dialects import get_dialect

    try:
        return get_dialect(value).sqlglot_dialect
    except UnsupportedDialect as error:
        raise ConfigError(f"{pyproject}: [{TABLE}] {key}: {error}") from None


def _parse(section: Mapping[str, Any], pyproject: Path, text: str) -> HookConfig:
    for key in section:
        if key not in TOP_KEYS and key not in OTHER_KEYS:
            raise _unknown(key, TOP_KEYS, TABLE, pyproject)
    dialects_raw = section.get("dialects", {})
    if not isinstance(dialects_raw, dict):
        raise ConfigError(
            f'{pyproject}: [{TABLE}] dialects must map globs to dialects: {{ "db/**" = "tsql" }}'
        )
    dialects = tuple(
        (glob, _dialect(value, f"dialects.{glob!r}", pyproject))
        for glob, value in dialects_raw.items()
    )
    default = _dialect(section.get("default-dialect", "postgres"), "default-dialect", pyproject)
    tables_raw = section.get("reconciliation-tables", [])
    if not isinstance(tables_raw, list) or not all(isinstance(t, dict) for t in tables_raw):
        raise ConfigError(
            f"{pyproject}: reconciliation-tables must be an array of tables: "
            f"use [[{TABLE}.reconciliation-tables]]"
        )
    tables = tuple(_table(t, pyproject, text) for t in tables_raw)
    for flag in ("strict", "cache"):
        if not isinstance(section.get(flag, False), bool):
            raise ConfigError(f"{pyproject}: [{TABLE}] {flag} must be true or false")
    ignore = _strings(section.get("ignore", []), "ignore", pyproject)
    timeout = section.get("statement-timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0
    ):
        raise ConfigError(
            f"{pyproject}: [{TABLE}] statement-timeout must be a number of seconds "
            f"(0: no bound), got {timeout!r}"
        )
    baseline = section.get("baseline")
    if baseline is not None and (not isinstance(baseline, str) or not baseline.strip()):
        raise ConfigError(f"{pyproject}: [{TABLE}] baseline must be a file name, got {baseline!r}")
    raw = json.dumps(section, sort_keys=True, default=str)
    return HookConfig(
        root=pyproject.parent,
        pyproject=pyproject,
        dialects=dialects,
        default_dialect=default,
        ddl=_strings(section.get("ddl", []), "ddl", pyproject),
        queries=_strings(section.get("queries", []), "queries", pyproject),
        tables=tables,
        ignore=tuple(code.upper() for code in ignore),
        strict=bool(section.get("strict", False)),
        cache=bool(section.get("cache", True)),
        statement_timeout=float(timeout) if timeout is not None else None,
        baseline=pyproject.parent / baseline if baseline else None,
        raw=raw,
    )


def _table(raw: Mapping[str, Any], pyproject: Path, text: str) -> ReconciliationTable:
    where = f"[{TABLE}.reconciliation-tables]"
    for key in raw:
        if key not in TABLE_KEYS:
            raise _unknown(key, TABLE_KEYS, f"{TABLE}.reconciliation-tables", pyproject)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f'{pyproject}: every {where} needs name = "schema.table"')
    columns = _strings(raw.get("key", []), f"reconciliation-tables {name!r} key", pyproject)
    if not columns:
        raise ConfigError(f'{pyproject}: {where} {name!r} needs key = ["id"]')
    optional: dict[str, str | None] = {}
    for field_name in ("timestamp", "status", "active-filter"):
        value = raw.get(field_name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(
                f"{pyproject}: {where} {name!r} {field_name} must be a column name string"
            )
        optional[field_name] = value
    dialect = raw.get("dialect")
    match = re.search(r"^\s*name\s*=\s*[\"']" + re.escape(name) + r"[\"']", text, re.M)
    return ReconciliationTable(
        name=name.strip(),
        key=columns,
        timestamp=optional["timestamp"],
        status=optional["status"],
        dialect=_dialect(dialect, "dialect", pyproject) if dialect is not None else None,
        active_filter=optional["active-filter"],
        checksum_columns=_strings(raw.get("checksum-columns", []), "checksum-columns", pyproject),
        line=text.count("\n", 0, match.start()) + 1 if match else 1,
    )


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/pytest-cdc`` (``~/.cache/pytest-cdc``), or ``$PYTEST_CDC_CACHE_DIR``."""
    explicit = os.environ.get("PYTEST_CDC_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pytest-cdc"
