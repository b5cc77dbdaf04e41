"""pytest plugin: one test item a table pair of the replica (``pytest --cdc-replica``).

The items are named ``replica::<schema>.<table>``, so ``-k``, ``--lf``, xdist, ``--junitxml``
and every CI integration of pytest work on them as on any test.  A table whose data differs
fails with its report as the message; a table without a key (or still changing, live CDC)
is skipped with the reason.  The source and target are the databases named ``source`` and
``target`` (``--cdc-db source=URL --cdc-db target=URL``); the mapping (and its validation
settings) is ``[tool.pytest-cdc.replica]`` of the given file or of the nearest
pyproject.toml.

Listed in :data:`pytest_cdc.plugin.pytest_plugins`; nothing is read from a database unless
the option is set.  The schema comparison runs once a process, at collection (each xdist
worker collects the same items from the same catalogs).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cdc.errors import CdcError, first_line
from pytest_cdc.plugin.options import cdc_group

if TYPE_CHECKING:
    from pytest_cdc.replica.report import ReplicaReport, TableResult
    from pytest_cdc.replica.run import _Run
    from pytest_cdc.replica.tiers import TableCheck

ENV_REPLICA = "PYTEST_CDC_REPLICA"
_TRUE = ("1", "true", "yes", "on")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = cdc_group(parser)
    group.addoption(
        "--cdc-replica",
        dest="cdc_replica",
        nargs="?",
        const="",
        default=None,
        metavar="MAPPING",
        help="validate the replica: one test item a table pair (replica::schema.table) between"
        " the databases named source and target; MAPPING is the file with"
        " [tool.pytest-cdc.replica] (default: the nearest pyproject.toml)."
        f" [ini: cdc_replica (a file, or true), env: {ENV_REPLICA}]",
    )
    parser.addini(
        "cdc_replica", default=None, help="replica mapping file (or true) for --cdc-replica"
    )


def replica_setting(config: pytest.Config) -> str | None:
    """The mapping file to validate with ("" for the nearest pyproject.toml), or None when
    replica items are off.  CLI > ini > env."""
    given = config.getoption("cdc_replica")
    if given is not None:
        return str(given)
    for value, base in (
        (config.getini("cdc_replica"), config.inipath.parent if config.inipath else None),
        (os.environ.get(ENV_REPLICA), None),
    ):
        if not value:
            continue
        text = str(value).strip()
        if text.lower() in _TRUE:
            return ""
        if text.lower() in ("0", "false", "no", "off"):
            return None
        return str(base / text) if base is not None else text
    return None


class ReplicaRunState:
    """This process's replica run: the planned checks and the results so far."""

    def __init__(self, run: _Run | None, report: ReplicaReport, error: str = "") -> None:
        self.run, self.report, self.error = run, report, error
        self.results: list[TableResult] = []
        #: Table items collected (a checkpoint is stored only when all ran here).
        self.planned = 0


_RUN = pytest.StashKey[ReplicaRunState]()


class ReplicaFailed(Exception):
    def __init__(self, result: TableResult) -> None:
        super().__init__(result.reason or result.state)
        self.result = result


class ReplicaNode(pytest.Collector):
    """The parent of the items (``replica``); it collects nothing itself: the items are made
    in pytest_collection_modifyitems, once the catalogs have been read."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []


class ReplicaItem(pytest.Item):
    """One table pair (or a table only the source has)."""

    def __init__(
        self,
        *,
        state: ReplicaRunState,
        check: TableCheck | None = None,
        result: TableResult | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.state, self.check, self.planned = state, check, result

    def runtest(self) -> None:
        from pytest_cdc.replica.report import FAILING

        if self.state.error:
            raise CdcItemError(self.state.error)
        result = self.planned if self.check is None else self.check.run()
        assert result is not None
        self.state.results.append(result)
        self.user_properties.append(("cdc_replica_state", result.state))
        self.user_properties.append(("cdc_replica_rows_checked", result.rows_checked))
        self.user_properties.append(("cdc_replica_mismatches", result.mismatches))
        if result.state in FAILING:
            raise ReplicaFailed(result)
        if result.state in ("no_key", "suspended"):
            pytest.skip(f"{result.state.replace('_', ' ')}: {result.reason}")

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        if isinstance(excinfo.value, ReplicaFailed):
            return excinfo.value.result.to_text()
        if isinstance(excinfo.value, CdcItemError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        # Not a suffix of the node id: pytest would show its dots as "::" (a Python name's).
        return self.path, None, f"replica table {self.name}"


class CdcItemError(Exception):
    """The replica run could not start (one line, no traceback)."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    mapping = replica_setting(config)
    if mapping is None:
        return
    state = _start(config, mapping)
    config.stash[_RUN] = state
    config.add_cleanup(lambda: state.run.close() if state.run is not None else None)
    node = ReplicaNode.from_parent(session, name="replica", nodeid="replica")
    made: list[pytest.Item] = []
    if state.error:
        made.append(ReplicaItem.from_parent(node, name="(run)", state=state))
    else:
        assert state.run is not None
        planned: list[tuple[str, Any, Any]] = [
            (c.job.name, c, None) for c in state.run.checks()
        ] + [(r.source_table, None, r) for r in state.run.missing_results()]
        state.planned = len(planned)
        for name, check, result in sorted(planned, key=lambda p: p[0]):
            made.append(
                ReplicaItem.from_parent(node, name=name, state=state, check=check, result=result)
            )
        _metrics(state)
    # Reported like a collected module's items, so "collected N items" counts them.
    config.hook.pytest_collectreport(
        report=pytest.CollectReport(node.nodeid, "passed", None, list(made))
    )
    items.extend(made)


def _start(config: pytest.Config, mapping: str) -> ReplicaRunState:
    from pytest_cdc.plugin.stash import session_for
    from pytest_cdc.replica.report import ReplicaReport
    from pytest_cdc.replica.run import start_run
    from pytest_cdc.schema.mapping import load_mapping

    report = ReplicaReport(source="source", target="target")
    try:
        session = session_for(config)
        names = session.settings.databases
        absent = [n for n in ("source", "target") if n not in names]
        if absent:
            raise pytest.UsageError(
                "--cdc-replica compares the databases named source and target, but"
                f" {'neither is' if len(absent) == 2 else absent[0] + ' is not'} configured:"
                " pass --cdc-db source=URL --cdc-db target=URL"
            )
        replica = load_mapping(mapping or None, cwd=config.rootpath)
        source, target = session.get("source").pool, session.get("target").pool
        run = start_run(source, target, report, mapping=replica, concurrency=1)
    except CdcError as exc:
        return ReplicaRunState(None, report, f"the replica cannot be validated: {first_line(exc)}")
    return ReplicaRunState(run, report)


def _metrics(state: ReplicaRunState) -> None:
    from pytest_cdc.metrics import session_registry

    registry = session_registry()
    if registry is not None:
        from pytest_cdc.replica.metrics import register

        register(registry, lambda: state.results)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(_RUN, None)
    if state is None or not state.results:
        return
    report = state.report
    report.tables = sorted(state.results, key=lambda r: r.source_table)
    counts = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in report.counts().items())
    terminalreporter.write_line(
        f"cdc: replica {len(report.tables)} table(s) checked here: {counts};"
        f" {report.rows_checked:,} rows"
    )
    if state.run is not None and state.run.settings.state_file:
        if len(report.tables) == state.planned:
            state.run.save_checkpoints(report)
        else:
            report.checkpoints = (
                "not saved: this process checked only some tables (-k, --lf or xdist); run"
                " pytest-cdc validate for checkpointed runs"
            )
        terminalreporter.write_line(f"cdc: replica checkpoints {report.checkpoints}")
