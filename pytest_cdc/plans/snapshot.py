"""Plan snapshot files: ``__cdc_plans__/<module>.json`` beside a test module.

One entry per test and statement.  A statement's key is its text with comments dropped,
literals replaced by ``?`` (a list of them by one) and blanks collapsed, behind the database
name: another literal is the same entry.  Entries hold the plan's shape
(:mod:`pytest_cdc.plans.shape`) and, apart, its estimated cost and rows.

Files are written so that the same suite gives the same bytes on any machine and run (keys
sorted, numbers rounded, nothing about the server version or the time), and so that several
processes (pytest-xdist workers) can write one file: each merges what it recorded into the
file as it is on disk, under an exclusive lock on the directory, and replaces the file
atomically.

Everything here works without pytest; the plugin (:mod:`pytest_cdc.plugin.snapshots`) decides
when to check and when to write.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_cdc.asserts import MODES
from pytest_cdc.database import CdcConnection, dialect_of
from pytest_cdc.errors import ConfigError, PlanError, did_you_mean
from pytest_cdc.plans.shape import PlanShape, ShapeNode, ShapeRules, rounded, shape_of
from pytest_cdc.plans.shape_diff import Change, compare_shapes, render_side_by_side

__all__ = [
    "DIRECTORY",
    "FORMAT",
    "Outcome",
    "SnapshotStore",
    "WriteSummary",
    "snapshot_path",
    "statement_key",
    "statement_rules",
    "take_shape",
]

DIRECTORY = "__cdc_plans__"
FORMAT = "pytest-cdc-plan-snapshots/1"
UPDATE_HINT = "rerun with --cdc-plan-update to accept the new plan"

# -- statements ----------------------------------------------------------------------------

_TOKENS = re.compile(
    r"""
    (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<string>[Ee]'(?:\\.|''|[^'\\])*'|[Nn]?'(?:''|[^'])*')
  | (?P<dollar>\$(?P<tag>[A-Za-z_]\w*)?\$.*?\$(?P=tag)?\$)
  | (?P<word>"(?:""|[^"])*"|\[[^\]\n]*\]|[A-Za-z_][\w$]*|\$\d+|%\(\w+\)s|%s|@@?\w+|:\w+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.S | re.X,
)
_LIST = re.compile(r"\?(?:\s*,\s*\?)+")
_DIRECTIVE = re.compile(r"^(?:--|/\*)\s*cdc:\s*(?P<body>.*?)\s*(?:\*/)?\s*$", re.S)
DIRECTIVES = ("plan-skip", "plan-ignore", "plan-keep", "plan-max-cost-ratio")


def _tokens(sql: str) -> Iterator[tuple[str, str]]:
    for match in _TOKENS.finditer(sql):
        kind = match.lastgroup or "other"
        yield ("dollar" if kind == "tag" else kind), match.group()


def statement_key(sql: str, database: str = "") -> str:
    """``[database] text`` with comments dropped, literals as ``?`` and blanks collapsed."""
    text = _normalised(sql)
    return f"[{database}] {text}" if database else text


# A suite runs the same statements over and over (loops, parametrized tests): both readings of
# a statement's text are pure, so each text is read once.
@functools.lru_cache(maxsize=4096)
def _normalised(sql: str) -> str:
    parts: list[str] = []
    for kind, text in _tokens(sql):
        if kind == "comment" or kind == "space":
            if parts and parts[-1] != " ":
                parts.append(" ")
        elif kind in ("string", "dollar", "number"):
            parts.append("?")
        else:
            parts.append(text)
    return _LIST.sub("?", "".join(parts)).strip().rstrip(";").rstrip()


def statement_rules(sql: str, base: ShapeRules) -> ShapeRules:
    """``base`` with the statement's own ``-- cdc: plan-...`` comments applied:

    ``plan-skip`` leaves it out; ``plan-ignore=join-order,index-name`` adds aspects to ignore;
    ``plan-keep=gather`` keeps gather nodes; ``plan-max-cost-ratio=1.1`` sets the cost gate.
    Other words after ``cdc:`` (``noqa`` of the hooks) are not ours and are left alone.
    """
    words = _directive_words(sql)
    if not words:
        return base
    ignore, keep_gather, ratio = set(base.ignore), base.keep_gather, base.max_cost_ratio
    skip = False
    for word in words:
        name, _, value = word.partition("=")
        if not name.startswith("plan-"):
            continue
        if name not in DIRECTIVES:
            raise ConfigError(
                f"unknown directive {name!r} in a '-- cdc:' comment"
                f"{did_you_mean(name, DIRECTIVES)}; known: {', '.join(DIRECTIVES)}"
            )
        values = [v for v in value.split(",") if v]
        if name == "plan-skip":
            skip = True
        elif name == "plan-ignore":
            ignore.update(values)
        elif name == "plan-keep":
            if values != ["gather"]:
                raise ConfigError(f"{word!r}: plan-keep takes 'gather'")
            keep_gather = True
        else:
            try:
                ratio = float(value)
            except ValueError:
                raise ConfigError(f"{word!r}: plan-max-cost-ratio takes a number") from None
    return ShapeRules(frozenset(ignore), keep_gather, ratio, skip)


@functools.lru_cache(maxsize=4096)
def _directive_words(sql: str) -> tuple[str, ...]:
    if "cdc:" not in sql:
        return ()
    words: list[str] = []
    for kind, text in _tokens(sql):
        match = _DIRECTIVE.match(text) if kind == "comment" else None
        if match is not None:
            words += [w for w in re.split(r"\s+", match.group("body")) if w]
    return tuple(words)


def take_shape(
    db: Any, sql: str, params: Any = None, *, mode: str = "index-possible", keep_gather: bool
) -> PlanShape:
    """The shape of ``sql``'s plan on ``db`` (a CdcConnection or driver connection), taken in
    ``mode`` as the scan assertions take plans."""
    if mode not in MODES:
        raise ConfigError(f"unknown plan mode {mode!r}: use 'index-possible' or 'planner'")
    try:
        dialect = dialect_of(db)
    except TypeError as exc:
        raise PlanError(f"{exc}: pass a CdcConnection, psycopg2 or pyodbc connection") from None
    raw = db.raw if isinstance(db, CdcConnection) else db
    plan = dialect.snapshot_plan(raw, sql, params, mode)
    return shape_of(plan, dialect.shape_conventions(), keep_gather=keep_gather)


# -- entries -------------------------------------------------------------------------------


def snapshot_path(module: Path) -> Path:
    """Where the snapshots of test module ``module`` live."""
    return module.parent / DIRECTORY / f"{module.stem}.json"


def to_entry(shape: PlanShape, mode: str) -> dict[str, Any]:
    estimates = {
        k: rounded(v) for k, v in (("cost", shape.cost), ("rows", shape.rows)) if v is not None
    }
    return {
        "dialect": shape.dialect,
        "mode": mode,
        "plan": [root.to_dict() if root is not None else None for root in shape.statements],
        "estimates": estimates,
    }


def from_entry(entry: Any, where: Callable[[], str]) -> tuple[PlanShape, str]:
    """The shape and mode an entry records; ``where`` names it in an error."""
    try:
        if not isinstance(entry, dict) or not isinstance(entry.get("plan"), list):
            raise PlanError("no 'plan' list")
        estimates = entry.get("estimates") or {}
        statements = tuple(
            ShapeNode.from_dict(root) if root is not None else None for root in entry["plan"]
        )
        shape = PlanShape(
            dialect=str(entry.get("dialect", "")),
            statements=statements,
            cost=estimates.get("cost"),
            rows=estimates.get("rows"),
        )
        return shape, str(entry.get("mode", ""))
    except PlanError as exc:
        raise PlanError(
            f"{where()}: a broken snapshot entry ({exc}); delete it and rerun with"
            " --cdc-plan-update"
        ) from None


@dataclass
class Outcome:
    """What checking one statement against its snapshot found.  ``status``: "new" (nothing
    recorded yet), "same", "updated" (changed, and updating) or "changed"."""

    status: str
    key: str
    shape: PlanShape
    changes: list[Change] = field(default_factory=list)
    message: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == "changed"


def _display(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def _message(
    key: str, sql: str, recorded: PlanShape, now: PlanShape, changes: list[Change], path: Path
) -> str:
    lines = [f"plan changed: {key}", *(f"    {c.text}" for c in changes), "", "statement:"]
    lines += ["    " + line for line in sql.strip().splitlines()]
    titles = (f"recorded ({_display(path)})", "now")
    lines += ["", render_side_by_side(recorded, now, titles=titles)]
    return "\n".join([*lines, "", UPDATE_HINT])


# -- the store -------------------------------------------------------------------------------


@dataclass
class WriteSummary:
    """What writing one file did or found."""

    path: Path
    written: bool = False
    stale_tests: list[str] = field(default_factory=list)
    stale_statements: list[tuple[str, str]] = field(default_factory=list)


class SnapshotStore:
    """The snapshots one process checks against, and what it recorded, per file.

    With ``update`` a changed plan is recorded instead of failing, and writing replaces the
    entries of every test that passed with what it recorded (so statements it no longer runs
    go), and drops tests the collection no longer has.
    """

    def __init__(self, *, update: bool = False) -> None:
        self.update = update
        self._files: dict[Path, dict[str, dict[str, Any]]] = {}
        #: path -> test -> key -> (status, entry)
        self.captured: dict[Path, dict[str, dict[str, tuple[str, dict[str, Any]]]]] = {}
        #: path -> test -> passed
        self.finished: dict[Path, dict[str, bool]] = {}
        #: id of a recorded entry -> (the entry, its shape, its mode): parsed once per run
        self._parsed: dict[int, tuple[Any, PlanShape, str]] = {}

    def recorded(self, path: Path) -> dict[str, dict[str, Any]]:
        if path not in self._files:
            self._files[path] = read_snapshots(path)
        return self._files[path]

    def check(
        self,
        path: Path,
        test: str,
        database: str,
        sql: str,
        shape: PlanShape,
        *,
        mode: str,
        rules: ShapeRules,
        table_rows: Callable[[str], int | None] | None = None,
    ) -> Outcome:
        """Check ``shape`` against the snapshot of (``test``, statement) and record it."""
        key = statement_key(sql, database)
        captured = self.captured.setdefault(path, {}).setdefault(test, {})
        if key in captured:  # the same statement again (another literal, a loop)
            return Outcome(captured[key][0], key, shape)
        old = self.recorded(path).get(test, {}).get(key)
        if old is None:
            captured[key] = ("new", to_entry(shape, mode))
            return Outcome("new", key, shape)
        parsed = self._parsed.get(id(old))
        if parsed is None or parsed[0] is not old:
            shape_mode = from_entry(old, lambda: f"{_display(path)}: {test}: {key}")
            parsed = self._parsed[id(old)] = (old, *shape_mode)
        _, recorded, recorded_mode = parsed
        if (
            recorded.statements == shape.statements
            and rules.max_cost_ratio is None
            and (recorded.dialect, recorded_mode) == (shape.dialect, mode)
        ):
            changes = []  # the common case, without building the comparison
        elif (recorded.dialect, recorded_mode) != (shape.dialect, mode):
            changes = [
                Change(
                    0,
                    f"recorded on {recorded.dialect or '?'} in mode {recorded_mode or '?'},"
                    f" now {shape.dialect} in mode {mode}",
                )
            ]
        else:
            changes = compare_shapes(recorded, shape, rules, table_rows=table_rows)
        if not changes:
            captured[key] = ("same", old)
            return Outcome("same", key, shape)
        if self.update:
            captured[key] = ("updated", to_entry(shape, mode))
            return Outcome("updated", key, shape, changes)
        captured[key] = ("changed", old)
        message = _message(key, sql, recorded, shape, changes, path)
        return Outcome("changed", key, shape, changes, message)

    def finish_test(self, path: Path, test: str, *, passed: bool) -> None:
        self.finished.setdefault(path, {})[test] = passed

    def paths(self) -> list[Path]:
        return sorted(set(self.captured) | set(self.finished))

    def write(self, path: Path, *, collected: set[str] | None = None) -> WriteSummary:
        """Merge what this process recorded for ``path`` into the file on disk.

        ``collected``: every test of the module (None when the run saw only some of them):
        the tests a file holds beyond those are stale.
        """
        captured = self.captured.get(path, {})
        finished = self.finished.get(path, {})
        summary = WriteSummary(path)
        if not path.parent.is_dir() and not any(
            status == "new" or status == "updated"
            for entries in captured.values()
            for status, _ in entries.values()
        ):
            return summary
        path.parent.mkdir(parents=True, exist_ok=True)
        with locked(path.parent):
            tests = read_snapshots(path)
            before = dump(tests) if path.exists() else None
            for test, passed in sorted(finished.items()):
                seen = captured.get(test, {})
                if passed and test in tests:
                    stale = sorted(set(tests[test]) - set(seen))
                    summary.stale_statements += [(test, key) for key in stale]
            for test, entries in captured.items():
                current = tests.setdefault(test, {})
                if self.update and finished.get(test):
                    current.clear()  # what the test runs now, and nothing it no longer runs
                for key, (status, entry) in entries.items():
                    if status == "new" or (self.update and status in ("updated", "same")):
                        current[key] = entry
            if self.update:
                for test, passed in finished.items():
                    if passed and test not in captured:
                        tests.pop(test, None)
            if collected is not None:
                summary.stale_tests = sorted(t for t in tests if tests[t] and t not in collected)
                if self.update:
                    for test in summary.stale_tests:
                        del tests[test]
            for test in [t for t, entries in tests.items() if not entries]:
                del tests[test]
            summary.written = _replace(path, tests, before)
        return summary


def stale_files(directory: Path, *, remove: bool) -> list[Path]:
    """Snapshot files in ``directory`` whose test module is gone (removed with ``remove``)."""
    found: list[Path] = []
    if not directory.is_dir():
        return found
    with locked(directory):
        for path in sorted(directory.glob("*.json")):
            if not (directory.parent / f"{path.stem}.py").exists():
                found.append(path)
                if remove:
                    path.unlink()
    return found


# -- files ---------------------------------------------------------------------------------


def read_snapshots(path: Path) -> dict[str, dict[str, Any]]:
    """test -> statement key -> entry, from ``path`` ({} when there is no file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise PlanError(f"cannot read snapshot file {str(path)!r}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PlanError(
            f"snapshot file {str(path)!r} is not valid json ({exc}): restore it from version"
            " control, or delete it and rerun with --cdc-plan-update"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PlanError(
            f'{str(path)!r} is not a pytest-cdc plan snapshot file (no "format": {FORMAT!r})'
        )
    tests = data.get("tests", {})
    if not isinstance(tests, dict) or not all(isinstance(v, dict) for v in tests.values()):
        raise PlanError(f"snapshot file {str(path)!r}: 'tests' is not an object of objects")
    return tests


def dump(tests: Mapping[str, Mapping[str, Any]]) -> str:
    """The file's text: sorted keys, two-space indent, a final newline."""
    return json.dumps({"format": FORMAT, "tests": tests}, indent=2, sort_keys=True) + "\n"


def _replace(path: Path, tests: dict[str, dict[str, Any]], before: str | None) -> bool:
    if not tests:
        if before is None:
            return False
        path.unlink()
        return True
    text = dump(tests)
    if text == before:
        return False
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return True


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on ``directory`` (flock on the directory itself: no lock file to
    leave behind in a repository), held while a file in it is read, merged and replaced."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
