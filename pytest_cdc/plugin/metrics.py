"""pytest plugin: write the pool metrics to a file, or push them, when the session ends.

Listed in :data:`pytest_cdc.plugin.pytest_plugins`, so it is imported when pytest starts:
prometheus_client is imported only when ``--cdc-metrics-file`` or ``--cdc-pushgateway`` is set.
Pools created by the fixtures pass ``metrics=pytest_cdc.metrics.session_metrics()``, which is
None unless one of the two is set.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cdc.plugin.options import cdc_group, path_setting

if TYPE_CHECKING:
    from pytest_cdc.metrics import PoolMetrics

ENV_FILE = "PYTEST_CDC_METRICS_FILE"
ENV_PUSHGATEWAY = "PYTEST_CDC_PUSHGATEWAY"
JOB = "pytest-cdc"


@dataclass(frozen=True)
class MetricsSettings:
    """Where the session's pool metrics go; both None means metrics are off."""

    file: Path | None = None
    pushgateway: str | None = None

    @property
    def enabled(self) -> bool:
        return self.file is not None or self.pushgateway is not None


_SETTINGS: pytest.StashKey[MetricsSettings] = pytest.StashKey()
_PREVIOUS: pytest.StashKey[PoolMetrics | None] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = cdc_group(parser)
    group.addoption(
        "--cdc-metrics-file",
        dest="cdc_metrics_file",
        default=None,
        metavar="PATH",
        help="write the connection pool metrics in Prometheus text format to PATH when the"
        " session ends (for a node_exporter textfile collector or a CI artifact)."
        f" [ini: cdc_metrics_file, env: {ENV_FILE}]",
    )
    group.addoption(
        "--cdc-pushgateway",
        dest="cdc_pushgateway",
        default=None,
        metavar="URL",
        help="push the connection pool metrics to this Prometheus Pushgateway when the session"
        " ends (job 'pytest-cdc'); a failed push is a warning, not a failed run."
        f" [ini: cdc_pushgateway, env: {ENV_PUSHGATEWAY}]",
    )
    parser.addini("cdc_metrics_file", default=None, help="file for the pool metrics")
    parser.addini("cdc_pushgateway", default=None, help="Pushgateway URL for the pool metrics")


def resolve_settings(
    config: pytest.Config, environ: Mapping[str, str] | None = None
) -> MetricsSettings:
    """CLI > ini > env for each setting; relative paths from where each was given."""
    env = os.environ if environ is None else environ
    file = path_setting(config, "cdc_metrics_file", ENV_FILE, env)
    push = (
        config.getoption("cdc_pushgateway")
        or config.getini("cdc_pushgateway")
        or env.get(ENV_PUSHGATEWAY)
        or None
    )
    return MetricsSettings(file=file, pushgateway=str(push) if push else None)


def _worker_id(config: pytest.Config) -> str | None:
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else None


def _is_xdist_controller(config: pytest.Config) -> bool:
    # The controller runs no tests and so has no pools; its workers report instead.
    return _worker_id(config) is None and bool(getattr(config.option, "numprocesses", None))


def pytest_configure(config: pytest.Config) -> None:
    settings = resolve_settings(config)
    config.stash[_SETTINGS] = settings
    if settings.enabled and not _is_xdist_controller(config):
        from pytest_cdc import metrics

        # Nested runs (pytester) get their own registry and give the outer one back after.
        config.stash[_PREVIOUS] = metrics.session_metrics()
        metrics.enable_session_metrics()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _PREVIOUS in config.stash:
        from pytest_cdc import metrics

        metrics.disable_session_metrics(config.stash[_PREVIOUS])


_WRITTEN: pytest.StashKey[Path] = pytest.StashKey()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    written = config.stash.get(_WRITTEN, None)
    if written is not None:
        terminalreporter.write_line(f"cdc: pool metrics written to {written}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if _PREVIOUS not in config.stash:
        return
    settings = config.stash[_SETTINGS]
    from pytest_cdc import metrics
    from pytest_cdc.urls import mask_password

    registry = metrics.session_registry()
    if registry is None:
        return
    worker = _worker_id(config)
    if settings.file is not None:
        path = settings.file
        if worker is not None:
            # One file per xdist worker, still ending in .prom for the textfile collector.
            path = path.with_name(f"{path.stem}.{worker}{path.suffix}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            metrics.write_metrics_file(str(path), registry)
            config.stash[_WRITTEN] = path
        except OSError as exc:
            warnings.warn(
                pytest.PytestWarning(
                    f"pytest-cdc: cannot write metrics to {str(path)!r}: {exc.strerror or exc};"
                    " fix --cdc-metrics-file"
                ),
                stacklevel=1,
            )
    if settings.pushgateway is not None:
        try:
            metrics.push_metrics(
                settings.pushgateway,
                registry,
                job=JOB,
                grouping_key={"worker": worker} if worker else None,
            )
        except Exception as exc:
            reason = mask_password(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            warnings.warn(
                pytest.PytestWarning(
                    f"pytest-cdc: could not push metrics to"
                    f" {mask_password(settings.pushgateway)!r}: {reason};"
                    " the test results are not affected"
                ),
                stacklevel=1,
            )
