"""pytest plugin: the ``cdc_no_table_scan`` marker and the ``cdc_queries`` fixtures.

Listed in :data:`pytest_cdc.plugin.pytest_plugins`, so it is imported when pytest starts:
nothing here imports a driver or sqlglot until a marked test runs a statement.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from pytest_cdc.database import QueryEvent

__all__ = [
    "AssertNumQueries",
    "CdcQueries",
    "RecordedQuery",
    "cdc_assert_max_num_queries",
    "cdc_assert_num_queries",
    "cdc_queries",
]

MARKER = "cdc_no_table_scan"

# Leading comments and parentheses, then the statement's first keyword.
_FIRST_WORD = re.compile(r"^(?:\s+|--[^\n]*\n|/\*.*?\*/|\()*([A-Za-z]+)", re.S)
_FROM = re.compile(r"\bfrom\b", re.I)
_CHECKED = frozenset({"SELECT", "UPDATE", "DELETE", "WITH"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(allow=(), tables=None, mode='index-possible'): fail the test if any SELECT,"
        " UPDATE or DELETE it runs through a cdc connection needs a table scan. mode"
        " 'index-possible' proves an index can serve each statement; 'planner' checks what the"
        " planner chooses. allow names tables that may be scanned; tables limits the check.",
    )


# -- cdc_queries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedQuery:
    """One statement run through a cdc connection."""

    sql: str
    params: Any
    database: str
    many: bool = False


class CdcQueries:
    """The statements run through cdc connections while it records."""

    def __init__(self, *, verbose: bool = False) -> None:
        self.queries: list[RecordedQuery] = []
        self.verbose = verbose

    def record(self, event: QueryEvent) -> None:
        self.queries.append(
            RecordedQuery(event.sql, event.params, event.connection.name, event.many)
        )

    @contextmanager
    def capture(self) -> Iterator[CdcQueries]:
        """Record statements run inside the ``with`` block."""
        from pytest_cdc.database import listen

        with listen(self.record):
            yield self

    def on(self, database: str) -> list[RecordedQuery]:
        return [q for q in self.queries if q.database == database]

    @property
    def sql(self) -> list[str]:
        return [q.sql for q in self.queries]

    def clear(self) -> None:
        self.queries.clear()

    def __len__(self) -> int:
        return len(self.queries)

    def __iter__(self) -> Iterator[RecordedQuery]:
        return iter(self.queries)

    def __getitem__(self, index: int) -> RecordedQuery:
        return self.queries[index]

    def assert_num_queries(
        self,
        num: int,
        *,
        exact: bool = True,
        database: str | None = None,
        info: str | None = None,
    ) -> AbstractContextManager[CdcQueries]:
        """Fail unless the ``with`` block runs exactly ``num`` statements (at most ``num``
        with ``exact=False``), optionally only counting those on one named database."""
        return _assert_num_queries(
            num, exact=exact, database=database, info=info, verbose=self.verbose
        )


@contextmanager
def _assert_num_queries(
    num: int, *, exact: bool, database: str | None, info: str | None, verbose: bool
) -> Iterator[CdcQueries]:
    __tracebackhide__ = True
    captured = CdcQueries(verbose=verbose)
    with captured.capture():
        yield captured
    counted = captured.on(database) if database is not None else captured.queries
    done = len(counted)
    if (exact and done == num) or (not exact and done <= num):
        return
    where = f" on {database!r}" if database is not None else ""
    bound = "" if exact else "at most "
    noun = "query" if num == 1 else "queries"
    verb = "was" if done == 1 else "were"
    message = f"expected {bound}{num} {noun}{where} but {done} {verb} run"
    if not verbose:
        message += " (add -v to show them)"
    if info:
        message += f"\n{info}"
    if verbose:
        listing = "\n".join(
            f"  {i}. [{q.database}] {q.sql.strip()}" for i, q in enumerate(counted, 1)
        )
        message += "\n\nqueries:\n" + (listing or "  (none)")
    pytest.fail(message, pytrace=False)


class AssertNumQueries(Protocol):
    """Type of the ``cdc_assert_num_queries`` / ``cdc_assert_max_num_queries`` fixtures."""

    def __call__(
        self, num: int, *, database: str | None = None, info: str | None = None
    ) -> AbstractContextManager[CdcQueries]: ...


def _verbose(config: pytest.Config) -> bool:
    return int(config.getoption("verbose") or 0) > 0


@pytest.fixture
def cdc_queries(pytestconfig: pytest.Config) -> Generator[CdcQueries, None, None]:
    """Every statement the test runs through cdc connections, in order."""
    queries = CdcQueries(verbose=_verbose(pytestconfig))
    with queries.capture():
        yield queries


@pytest.fixture
def cdc_assert_num_queries(pytestconfig: pytest.Config) -> AssertNumQueries:
    """``with cdc_assert_num_queries(3): ...`` fails unless exactly 3 statements ran."""
    verbose = _verbose(pytestconfig)

    def assert_num(
        num: int, *, database: str | None = None, info: str | None = None
    ) -> AbstractContextManager[CdcQueries]:
        return _assert_num_queries(num, exact=True, database=database, info=info, verbose=verbose)

    return assert_num


@pytest.fixture
def cdc_assert_max_num_queries(pytestconfig: pytest.Config) -> AssertNumQueries:
    """``with cdc_assert_max_num_queries(3): ...`` fails when more than 3 statements ran."""
    verbose = _verbose(pytestconfig)

    def assert_max(
        num: int, *, database: str | None = None, info: str | None = None
    ) -> AbstractContextManager[CdcQueries]:
        return _assert_num_queries(num, exact=False, database=database, info=info, verbose=verbose)

    return assert_max


# -- the marker ----------------------------------------------------------------------------


def checked_statement(sql: str) -> str | None:
    """The statement's first keyword, upper-cased, when the marker checks it."""
    match = _FIRST_WORD.match(sql)
    if match is None:
        return None
    word = match.group(1).upper()
    if word not in _CHECKED:
        return None  # DDL, INSERT ... VALUES, SET, transaction control
    if word in ("SELECT", "WITH") and not _FROM.search(sql):
        return None  # SELECT 1, SELECT now(): no table to scan
    return word


class _ScanChecker:
    def __init__(
        self, *, allow: Any = (), tables: Any = None, mode: str = "index-possible"
    ) -> None:
        from pytest_cdc.asserts import _check_mode

        _check_mode(mode)
        self.allow, self.tables, self.mode = allow, tables, mode
        self.seen: set[tuple[int, str]] = set()
        self.checked = 0
        self.failures: list[str] = []
        self.unexplained: list[str] = []

    def __call__(self, event: QueryEvent) -> None:
        if checked_statement(event.sql) is None:
            return
        key = (id(event.connection), event.sql)
        if key in self.seen:
            return  # the same statement in a loop: its plan does not change within a test
        self.seen.add(key)
        from pytest_cdc.asserts import scan_failure
        from pytest_cdc.errors import first_line

        params = event.params
        if event.many:
            params = params[0] if params else None
        self.checked += 1
        try:
            _, message = scan_failure(
                event.connection,
                event.sql,
                params,
                tables=self.tables,
                allow=self.allow,
                mode=self.mode,
            )
        except Exception as exc:  # the statement itself will report real errors
            self.unexplained.append(f"{event.sql.strip()[:80]!r}: {first_line(exc)}")
            return
        if message is not None:
            self.failures.append(f"[{event.connection.name}] {message}")

    def report(self) -> str:
        head = f"{MARKER}: {len(self.failures)} of {self.checked} checked statements scan a table"
        return "\n\n".join([head, *self.failures])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return (yield)
    if marker.args:
        raise pytest.UsageError(
            f"{item.nodeid}: {MARKER} takes keyword arguments only: allow=, tables=, mode="
        )
    from pytest_cdc.database import listen
    from pytest_cdc.errors import ConfigError

    try:
        checker = _ScanChecker(**marker.kwargs)
    except (ConfigError, TypeError) as exc:
        raise pytest.UsageError(f"{item.nodeid}: {MARKER}: {exc}") from None
    with listen(checker):
        result = yield
    if checker.failures:
        pytest.fail(checker.report(), pytrace=False)
    if checker.unexplained:
        # Not a failure (the statement itself may have failed, or held several statements),
        # but a statement the marker could not check must not pass unnoticed.
        warn_unchecked(MARKER, "explain", checker.unexplained)
    return result


def warn_unchecked(marker: str, verb: str, statements: Sequence[str]) -> None:
    """A warning naming the statements a marker or fixture could not ``verb`` (explain,
    snapshot): not a failure, but never silent."""
    import warnings

    warnings.warn(
        pytest.PytestWarning(
            f"{marker}: could not {verb} {len(statements)} statement(s): " + "; ".join(statements)
        ),
        stacklevel=2,
    )
