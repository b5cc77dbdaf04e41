"""pytest plugin: plan snapshots, a query-plan regression gate.

The ``cdc_plan_snapshot`` fixture snapshots the statements it is given, the marker of the same
name every statement a test runs through cdc connections (as ``cdc_no_table_scan`` checks
them).  Shapes are kept in ``__cdc_plans__/<module>.json`` beside the test module
(:mod:`pytest_cdc.plans.snapshot`); a changed shape fails the test with both trees side by
side, worst change first, unless ``--cdc-plan-update`` rewrites the snapshots.

Regressions go into pytest's own report (the failure, and a ``cdc_plan_regression`` user
property that JUnit XML carries) and, with ``--cdc-plan-report=FILE.md``, into a markdown
table for ``$GITHUB_STEP_SUMMARY``.  Under pytest-xdist each worker writes what its tests
recorded (the files are merged under a lock); the controller collects reports and stale
entries and writes the markdown.

Listed in :data:`pytest_cdc.plugin.pytest_plugins`: nothing here imports a driver or sqlglot
until a test snapshots a statement.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cdc.plugin.options import cdc_group, path_setting
from pytest_cdc.plugin.queries import warn_unchecked
from pytest_cdc.plugin.snapshot_run import (
    COUNTS,
    MARKER,
    REGRESSION,
    SnapshotRun,
    SnapshotSettings,
    snapshot_of,
)

if TYPE_CHECKING:
    from pytest_cdc.database import QueryEvent
    from pytest_cdc.plans.shape import PlanShape, ShapeRules
    from pytest_cdc.plans.snapshot import Outcome

__all__ = ["PlanSnapshot", "SnapshotSettings", "cdc_plan_snapshot", "resolve_settings"]

ENV_UPDATE = "PYTEST_CDC_PLAN_UPDATE"
ENV_REPORT = "PYTEST_CDC_PLAN_REPORT"
_OPTIONS = ("mode", "ignore", "keep_gather", "max_cost_ratio")


_RUN = pytest.StashKey[SnapshotRun]()
_OUTCOMES = pytest.StashKey[list["Outcome"]]()


# -- options ---------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = cdc_group(parser)
    group.addoption(
        "--cdc-plan-update",
        dest="cdc_plan_update",
        action="store_true",
        default=None,
        help="rewrite the plan snapshots (__cdc_plans__/*.json) with the plans of this run"
        " instead of failing on a changed plan; also drops snapshots of tests that are gone."
        f" [ini: cdc_plan_update, env: {ENV_UPDATE}]",
    )
    group.addoption(
        "--cdc-plan-report",
        dest="cdc_plan_report",
        default=None,
        metavar="FILE.md",
        help="write the plan regressions of the run as a markdown table to FILE.md (e.g."
        f" $GITHUB_STEP_SUMMARY). [ini: cdc_plan_report, env: {ENV_REPORT}]",
    )
    parser.addini("cdc_plan_update", type="bool", default=None, help="rewrite plan snapshots")
    parser.addini("cdc_plan_report", default=None, help="markdown file for plan regressions")


def resolve_settings(
    config: pytest.Config, environ: Mapping[str, str] | None = None
) -> SnapshotSettings:
    """CLI > ini > env > default for each setting; a relative report path is taken from where
    it was given (the invocation directory, the ini file's directory, the working directory)."""
    from pytest_cdc.settings import env_bool

    env = os.environ if environ is None else environ
    update: bool | None = config.getoption("cdc_plan_update")
    if update is None:
        update = config.getini("cdc_plan_update")
    if update is None:
        update = env_bool(ENV_UPDATE, env.get(ENV_UPDATE))
    report = path_setting(config, "cdc_plan_report", ENV_REPORT, env)
    return SnapshotSettings(update=bool(update), report=report)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(mode='index-possible', ignore=(), keep_gather=False, max_cost_ratio=None):"
        " snapshot the plan shape of every SELECT, UPDATE and DELETE the test runs through a"
        " cdc connection into __cdc_plans__/<module>.json, and fail when one changed. ignore"
        " takes 'join-order', 'join-method', 'index-name'; max_cost_ratio=1.1 also fails on"
        " a cost over 110% of the recorded one.",
    )
    from pytest_cdc.errors import CdcError

    try:
        run = SnapshotRun(config, resolve_settings(config))
    except CdcError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_RUN] = run
    config.pluginmanager.register(run, "cdc-plan-snapshots")


def _run(config: pytest.Config) -> SnapshotRun:
    return config.stash[_RUN]


def _rules(*, ignore: Any = (), keep_gather: Any = False, max_cost_ratio: Any = None) -> ShapeRules:
    from pytest_cdc.plans.shape import ShapeRules

    return ShapeRules.of(ignore=ignore, keep_gather=keep_gather, max_cost_ratio=max_cost_ratio)


def _check(
    item: pytest.Item, db: Any, sql: str, params: Any, *, mode: str, rules: ShapeRules
) -> Outcome | None:
    """Snapshot one statement of ``item``'s test; None when a comment leaves it out."""
    from pytest_cdc.errors import ConfigError, PlanError
    from pytest_cdc.plans.snapshot import statement_rules, take_shape

    where = snapshot_of(item)
    if where is None:
        raise ConfigError(f"{MARKER} works in test functions only, not in {item.nodeid!r}")
    rules = statement_rules(sql, rules)
    if rules.skip:
        return None
    shape = take_shape(db, sql, params, mode=mode, keep_gather=rules.keep_gather)
    database = str(getattr(db, "name", "") or "")
    store = _run(item.config).snapshots()
    try:
        outcome = store.check(
            *where, database, sql, shape, mode=mode, rules=rules, table_rows=_table_rows(db)
        )
    except PlanError as exc:  # a broken snapshot file fails the test, it is no plan problem
        raise ConfigError(str(exc)) from None
    item.stash.setdefault(_OUTCOMES, []).append(outcome)
    return outcome


def _table_rows(db: Any) -> Any:
    """A live row count (statistics first) for naming a newly scanned table's size."""

    def rows(relation: str) -> int | None:
        from pytest_cdc.database import CdcConnection, dialect_of

        raw = db.raw if isinstance(db, CdcConnection) else db
        try:
            return dialect_of(db).row_count(raw, relation)
        except Exception:  # only for the message: a table it cannot count stays unsized
            return None

    return rows


def _failure(outcomes: Iterable[Outcome], head: str) -> str:
    bad = sorted(
        (o for o in outcomes if o.failed), key=lambda o: o.changes[0] if o.changes else (9, "")
    )
    return "\n\n".join([head, *(o.message or "" for o in bad)])


class PlanSnapshot:
    """The ``cdc_plan_snapshot`` fixture.

    ``cdc_plan_snapshot(db, sql, params)`` records the plan shape of one statement, or fails
    the test when it differs from the recorded one; ``with cdc_plan_snapshot.capture(): ...``
    snapshots every statement the block runs through cdc connections and fails at its end.
    """

    def __init__(self, item: pytest.Item) -> None:
        self._item = item

    def __call__(
        self,
        db: Any,
        sql: str,
        params: Any = None,
        *,
        mode: str = "index-possible",
        ignore: str | Iterable[str] = (),
        keep_gather: bool = False,
        max_cost_ratio: float | None = None,
    ) -> PlanShape | None:
        """The statement's shape (None when a ``-- cdc: plan-skip`` comment leaves it out)."""
        __tracebackhide__ = True
        from pytest_cdc.errors import ConfigError, fail

        try:
            rules = _rules(ignore=ignore, keep_gather=keep_gather, max_cost_ratio=max_cost_ratio)
            outcome = _check(self._item, db, sql, params, mode=mode, rules=rules)
        except ConfigError as exc:  # the test's own mistake: one line, no traceback
            fail(f"{MARKER}: {exc}")
        if outcome is None:
            return None
        if outcome.failed:
            fail(outcome.message or "plan changed")
        return outcome.shape

    def load_statistics(self, db: Any, stats: str | os.PathLike[str] | Mapping[str, Any]) -> int:
        """Load a statistics file (written by ``pytest-cdc export-stats``; a relative path is
        taken from the test module's directory) into ``db`` in its transaction, so that plans
        in ``mode="planner"`` follow production's distributions.  PostgreSQL 18 or newer."""
        from pytest_cdc.plans.statistics import load_statistics

        if not isinstance(stats, Mapping):
            stats = self._item.path.parent / stats
        return load_statistics(db, stats)

    def capture(
        self,
        *,
        mode: str = "index-possible",
        ignore: str | Iterable[str] = (),
        keep_gather: bool = False,
        max_cost_ratio: float | None = None,
    ) -> AbstractContextManager[list[Outcome]]:
        """Snapshot what the ``with`` block runs; the outcomes so far are the value."""
        rules = _rules(ignore=ignore, keep_gather=keep_gather, max_cost_ratio=max_cost_ratio)
        return _capturing(self._item, mode, rules)


@contextmanager
def _capturing(item: pytest.Item, mode: str, rules: ShapeRules) -> Iterator[list[Outcome]]:
    __tracebackhide__ = True
    watcher = _Watcher(item, mode, rules)
    from pytest_cdc.database import listen

    with listen(watcher):
        yield watcher.outcomes
    watcher.finish()


class _Watcher:
    """Snapshots each statement a cdc connection is about to run (once per statement)."""

    def __init__(self, item: pytest.Item, mode: str, rules: ShapeRules) -> None:
        from pytest_cdc.asserts import _check_mode

        _check_mode(mode)
        self.item, self.mode, self.rules = item, mode, rules
        self.outcomes: list[Outcome] = []
        self.unexplained: list[str] = []
        self.mistakes: list[str] = []

    def __call__(self, event: QueryEvent) -> None:
        from pytest_cdc.errors import ConfigError, first_line
        from pytest_cdc.plugin.queries import checked_statement

        if checked_statement(event.sql) is None:
            return
        params = event.params
        if event.many:
            params = params[0] if params else None
        try:
            outcome = _check(
                self.item, event.connection, event.sql, params, mode=self.mode, rules=self.rules
            )
        except ConfigError as exc:  # a bad -- cdc: comment: the test's mistake, said after it
            self.mistakes.append(f"{event.sql.strip()[:80]!r}: {exc}")
            return
        except Exception as exc:  # the statement itself will report real errors
            self.unexplained.append(f"{event.sql.strip()[:80]!r}: {first_line(exc)}")
            return
        if outcome is not None:
            self.outcomes.append(outcome)

    def finish(self) -> None:
        __tracebackhide__ = True
        if self.mistakes:
            pytest.fail(f"{MARKER}: " + "\n".join(self.mistakes), pytrace=False)
        failed = [o for o in self.outcomes if o.failed]
        if failed:
            head = f"{MARKER}: {len(failed)} of {len(self.outcomes)} statements changed plan"
            pytest.fail(_failure(self.outcomes, head), pytrace=False)
        if self.unexplained:
            warn_unchecked(MARKER, "snapshot", self.unexplained)


@pytest.fixture
def cdc_plan_snapshot(request: pytest.FixtureRequest) -> PlanSnapshot:
    """Snapshot plan shapes: ``cdc_plan_snapshot(cdc_db, "SELECT ...", params)``."""
    return PlanSnapshot(request.node)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return (yield)
    from pytest_cdc.errors import ConfigError

    if marker.args or set(marker.kwargs) - set(_OPTIONS):
        pytest.fail(f"{MARKER} takes keyword arguments only: {', '.join(_OPTIONS)}", pytrace=False)
    options = dict(marker.kwargs)
    mode = str(options.pop("mode", "index-possible"))
    try:
        watcher = _Watcher(item, mode, _rules(**options))
    except ConfigError as exc:
        pytest.fail(f"{MARKER}: {exc}", pytrace=False)
    from pytest_cdc.database import listen

    with listen(watcher):
        result = yield
    watcher.finish()
    return result


# -- reports ---------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    if call.when == "call" and _OUTCOMES in item.stash:
        outcomes = item.stash[_OUTCOMES]
        counts: dict[str, int] = {}
        for outcome in outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        item.user_properties.append((COUNTS, json.dumps(counts, sort_keys=True)))
        for outcome in outcomes:
            if outcome.failed:
                item.user_properties.append(
                    (
                        REGRESSION,
                        json.dumps(
                            {"statement": outcome.key, "changes": [c.text for c in outcome.changes]}
                        ),
                    )
                )
    report = yield
    if call.when == "call":
        where = snapshot_of(item)
        if where is not None:
            _run(item.config).finished.setdefault(where[0], {})[where[1]] = report.passed
    return report
