"""The plan snapshots of one pytest run: which tests each module has, writing the files at
the end (each xdist worker what its tests recorded), stale entries, the markdown report and
the terminal summary.  One :class:`SnapshotRun` per config, registered as a plugin, so its
hooks see the run they belong to (nested pytester runs have their own).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_cdc.plans.snapshot import SnapshotStore

MARKER = "cdc_plan_snapshot"
#: user properties (JUnit XML carries them): one per changed statement, and a test's counts
REGRESSION = "cdc_plan_regression"
COUNTS = "cdc_plan_snapshots"


@dataclass(frozen=True)
class SnapshotSettings:
    """``update``: rewrite snapshots instead of failing; ``report``: the markdown file."""

    update: bool = False
    report: Path | None = None


def _reason(exc: BaseException) -> str:
    from pytest_cdc.errors import first_line

    return getattr(exc, "strerror", None) or first_line(exc)


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def snapshot_of(item: pytest.Item) -> tuple[Path, str] | None:
    """The snapshot file and test name of ``item`` (None for what is not a test function)."""
    if not isinstance(item, pytest.Function) or "::" not in item.nodeid:
        return None
    from pytest_cdc.plans.snapshot import snapshot_path

    return snapshot_path(item.path), item.nodeid.split("::", 1)[1]


class SnapshotRun:
    """What this process knows of the run's snapshots; registered as a plugin per config, so
    its hooks see the run they belong to (nested pytester runs have their own)."""

    def __init__(self, config: pytest.Config, settings: SnapshotSettings) -> None:
        self.config = config
        self.settings = settings
        self.store: SnapshotStore | None = None
        #: snapshot file -> every test of its module this process collected
        self.collected: dict[Path, set[str]] = {}
        #: snapshot files whose module was only partly collected or selected
        self.partial: set[Path] = set()
        #: snapshot file -> test -> whether it passed (every test this process ran)
        self.finished: dict[Path, dict[str, bool]] = {}
        self.counts: dict[str, int] = {}
        self.regressions: list[dict[str, Any]] = []
        self.stale: set[tuple[str, str]] = set()
        self.written: set[str] = set()
        #: snapshot files that could not be written, and why
        self.problems: set[str] = set()

    def snapshots(self) -> SnapshotStore:
        if self.store is None:
            from pytest_cdc.plans.snapshot import SnapshotStore

            self.store = SnapshotStore(update=self.settings.update)
        return self.store

    # -- which tests each module has --------------------------------------------------------
    def pytest_itemcollected(self, item: pytest.Item) -> None:
        where = snapshot_of(item)
        if where is not None:
            self.collected.setdefault(where[0], set()).add(where[1])

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            where = snapshot_of(item)
            if where is not None:
                self.partial.add(where[0])

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # A module that failed to collect (or a class in it) lost tests: none is stale.
        if report.failed and report.fspath.endswith(".py"):
            from pytest_cdc.plans.snapshot import snapshot_path

            self.partial.add(snapshot_path(self.config.rootpath / report.fspath))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        from pytest_cdc.plans.snapshot import snapshot_path

        # ``pytest file.py::test_x`` collects only the tests named: the module's others exist.
        for arg in self.config.args:
            if "::" in arg:
                module = Path(arg.split("::", 1)[0])
                if not module.is_absolute():
                    module = self.config.invocation_params.dir / module
                self.partial.add(snapshot_path(module.resolve()))

    # -- reports ------------------------------------------------------------------------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" or is_worker(self.config):
            return  # under xdist the controller sees every worker's reports
        for name, value in report.user_properties:
            if name == COUNTS:
                for status, count in json.loads(str(value)).items():
                    self.counts[status] = self.counts.get(status, 0) + int(count)
            elif name == REGRESSION:
                self.regressions.append({"test": report.nodeid, **json.loads(str(value))})

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """pytest-xdist: a worker is done; take the stale entries and files it found."""
        output = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT)
        if output:
            data = json.loads(output)
            self.stale |= {(str(a), str(b)) for a, b in data["stale"]}
            self.written |= set(data["written"])
            self.problems |= set(data["problems"])

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._write_snapshots()
        if not is_worker(self.config) and self.settings.report is not None:
            _write_report(self, self.settings.report)

    def _write_snapshots(self) -> None:
        from pytest_cdc.errors import CdcError
        from pytest_cdc.plans.snapshot import stale_files

        # Nothing to do (and nothing to import) unless a test snapshotted or snapshots exist.
        directories = {path.parent for path in self.collected if path.parent.is_dir()}
        if self.store is None and not directories:
            return
        store = self.snapshots()
        for path, tests in self.finished.items():
            if path.parent in directories or path in store.captured:
                for test, passed in tests.items():
                    store.finish_test(path, test, passed=passed)
        stale: set[tuple[str, str]] = set()
        written: set[str] = set()
        problems: set[str] = set()
        for path in store.paths():
            complete = None if path in self.partial else self.collected.get(path, set())
            shown = self._shown(path)
            try:
                summary = store.write(path, collected=complete)
            except (CdcError, OSError) as exc:  # a broken or unwritable file: the others go on
                problems.add(f"{shown} not written: {_reason(exc)}")
                continue
            stale |= {(shown, test) for test in summary.stale_tests}
            stale |= {(shown, f"{test}: {key}") for test, key in summary.stale_statements}
            if summary.written:
                written.add(shown)
        for directory in sorted(directories):
            try:
                for orphan in stale_files(directory, remove=self.settings.update):
                    stale.add((self._shown(orphan), "its test module is gone"))
            except OSError as exc:
                problems.add(f"{self._shown(directory)}: {_reason(exc)}")
        if is_worker(self.config):
            self.config.workeroutput[_WORKER_OUTPUT] = json.dumps(  # type: ignore[attr-defined]
                {"stale": sorted(stale), "written": sorted(written), "problems": sorted(problems)}
            )
        self.stale |= stale
        self.written |= written
        self.problems |= problems

    def _shown(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.config.rootpath))
        except ValueError:
            return str(path)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for problem in sorted(self.problems):
            terminalreporter.write_line(f"cdc: {problem}", red=True)
        if not (self.counts or self.stale or self.written):
            return
        counts = ", ".join(f"{self.counts[k]} {k}" for k in sorted(self.counts)) or "none"
        terminalreporter.write_line(f"cdc: plan snapshots: {counts}")
        for shown in sorted(self.written):
            terminalreporter.write_line(f"cdc: wrote {shown}")
        verb = "removed" if self.settings.update else "stale (rerun with --cdc-plan-update)"
        for shown, what in sorted(self.stale):
            terminalreporter.write_line(f"cdc: {verb}: {shown}: {what}")


_WORKER_OUTPUT = "cdc_plan_snapshot_files"


def _cell(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text.replace("|", "\\|")


def _write_report(run: SnapshotRun, path: Path) -> None:
    """The markdown summary: counts, a table of regressions worst change first, stale entries."""
    lines = ["## Plan snapshots", ""]
    counts = ", ".join(f"{run.counts[k]} {k}" for k in sorted(run.counts)) or "none taken"
    lines += [f"Statements: {counts}.", ""]
    if run.regressions:
        lines += ["| Test | Statement | Worst change | Other changes |", "|---|---|---|---|"]
        for row in run.regressions:
            changes = list(row.get("changes", [])) or ["plan changed"]
            lines.append(
                f"| {_cell(row['test'])} | `{_cell(row['statement'])}` | {_cell(changes[0])}"
                f" | {_cell('; '.join(changes[1:])) or '-'} |"
            )
        lines += ["", "Rerun with `--cdc-plan-update` to accept the new plans.", ""]
    else:
        lines += ["No plan regressions.", ""]
    if run.stale:
        lines += ["Stale snapshots (removed by `--cdc-plan-update`):", ""]
        lines += [f"- `{_cell(file)}`: {_cell(what)}" for file, what in sorted(run.stale)]
        lines.append("")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines), encoding="utf-8")
    except OSError as exc:
        warnings.warn(
            pytest.PytestWarning(
                f"pytest-cdc: cannot write the plan report to {str(path)!r}:"
                f" {exc.strerror or exc}; fix --cdc-plan-report"
            ),
            stacklevel=1,
        )
