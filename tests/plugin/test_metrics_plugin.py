"""The metrics plugin: --cdc-metrics-file and --cdc-pushgateway, run through pytester."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import require_server, server_url

# Imported here, in the outer process, so that pytester's in-process runs (which forget the
# modules they import) all share this one module and its session registry.
from pytest_cdc import metrics
from pytest_cdc.plugin import metrics as metrics_plugin
from pytest_cdc.plugin.metrics import ENV_FILE, ENV_PUSHGATEWAY, resolve_settings

URL = server_url()

# The inner runs load only this plugin (and not the rest of pytest-cdc), by module name.
PLUGIN = ("-p", "no:cdc", "-p", "pytest_cdc.plugin.metrics")
# This module imported the plugin already, so the inner run cannot assertion-rewrite it.
QUIET = ("-W", "ignore::pytest.PytestAssertRewriteWarning")

TEST_WITH_POOL = f"""
from pytest_cdc.connectors.psycopg2 import Psycopg2Connector
from pytest_cdc.metrics import session_metrics
from pytest_cdc.pool import ConnectionPool

def test_uses_a_pool():
    url = {URL!r}
    pool = ConnectionPool(Psycopg2Connector(url), max_size=1, name="plugin-pool",
                          metrics=session_metrics())
    with pool.connection() as conn:
        pass
    pool.close()
"""


@pytest.fixture
def server() -> None:
    require_server()


def closed_port_url(auth: str = "") -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://{auth}127.0.0.1:{port}"


@pytest.mark.usefixtures("server")
def test_metrics_file_written_at_session_end(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TEST_WITH_POOL)
    outer = metrics.session_metrics()
    result = pytester.runpytest(*PLUGIN, *QUIET, "--cdc-metrics-file=out/pool.prom")
    result.assert_outcomes(passed=1)
    assert metrics.session_metrics() is outer  # the inner run gave the outer one back
    text = (pytester.path / "out" / "pool.prom").read_text()
    assert 'db_connection_acquire_seconds_count{pool="plugin-pool"} 1.0' in text
    assert "# TYPE db_connection_pool_size gauge" in text


@pytest.mark.usefixtures("server")
def test_metrics_file_has_no_created_series(pytester: pytest.Pytester) -> None:
    # prometheus_client adds a `_created` timestamp series to each counter and histogram:
    # noise in a textfile that is rewritten every run.
    pytester.makepyfile(TEST_WITH_POOL)
    result = pytester.runpytest(*PLUGIN, *QUIET, "--cdc-metrics-file=pool.prom")
    result.assert_outcomes(passed=1)
    text = (pytester.path / "pool.prom").read_text()
    assert "db_connection_pool_timeouts_total" in text
    assert "db_connection_health_check_seconds_count" in text
    assert "_created" not in text


def test_failed_push_is_a_warning_not_a_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest(*PLUGIN, *QUIET, f"--cdc-pushgateway={closed_port_url()}")
    assert result.ret == 0
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*pytest-cdc: could not push metrics to*refused*"])


def test_push_warning_masks_credentials(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok():\n    pass\n")
    url = closed_port_url("ci:placeholder-token@")
    result = pytester.runpytest(*PLUGIN, *QUIET, f"--cdc-pushgateway={url}")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*could not push metrics to 'http://ci:***@127.0.0.1:*"])
    assert "placeholder-token" not in result.stdout.str()


def test_env_var_enables_the_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = tmp_path / "env.prom"
    monkeypatch.setenv(ENV_FILE, str(target))
    pytester.makepyfile("def test_ok():\n    pass\n")
    pytester.runpytest(*PLUGIN, *QUIET).assert_outcomes(passed=1)
    assert "db_connection_pool_size" in target.read_text()


@pytest.mark.parametrize(
    ("args", "ini", "env", "expected"),
    [
        ((), None, "env.prom", "env.prom"),
        ((), "ini.prom", "env.prom", "ini.prom"),
        (("--cdc-metrics-file=cli.prom",), "ini.prom", "env.prom", "cli.prom"),
        ((), None, None, None),
    ],
)
def test_metrics_file_precedence(
    pytester: pytest.Pytester,
    args: tuple[str, ...],
    ini: str | None,
    env: str | None,
    expected: str | None,
) -> None:
    if ini:
        pytester.makeini(f"[pytest]\ncdc_metrics_file = {ini}\n")
    config = pytester.parseconfig(*PLUGIN, *args)
    environ = {ENV_FILE: str(pytester.path / env)} if env else {}
    settings = resolve_settings(config, environ)
    if expected is None:
        assert settings.file is None
        assert not settings.enabled
    else:
        assert settings.file == pytester.path / expected


@pytest.mark.parametrize(
    ("args", "ini", "env", "expected"),
    [
        ((), None, "http://env:9091", "http://env:9091"),
        ((), "http://ini:9091", "http://env:9091", "http://ini:9091"),
        (("--cdc-pushgateway=http://cli:9091",), "http://ini:9091", None, "http://cli:9091"),
    ],
)
def test_pushgateway_precedence(
    pytester: pytest.Pytester,
    args: tuple[str, ...],
    ini: str | None,
    env: str | None,
    expected: str,
) -> None:
    if ini:
        pytester.makeini(f"[pytest]\ncdc_pushgateway = {ini}\n")
    config = pytester.parseconfig(*PLUGIN, *args)
    environ = {ENV_PUSHGATEWAY: env} if env else {}
    assert resolve_settings(config, environ).pushgateway == expected


def test_options_are_in_the_cdc_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(*PLUGIN, "--help")
    result.stdout.fnmatch_lines(
        ["*pytest-cdc*", "*--cdc-metrics-file=PATH*", "*--cdc-pushgateway=URL*"]
    )


def test_plugin_import_is_light() -> None:
    code = (
        "import sys, pytest_cdc.plugin.metrics\n"
        "heavy = {'prometheus_client', 'psycopg2', 'pyodbc', 'sqlglot'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert metrics_plugin.JOB == "pytest-cdc"


@pytest.mark.usefixtures("server")
def test_cdc_fixtures_report_their_pool(pytester: pytest.Pytester) -> None:
    # Through the whole plugin: the fixtures' pool registers with the session metrics.
    pytester.makepyfile("def test_query(cdc_db):\n    assert cdc_db.fetchval('SELECT 1') == 1\n")
    result = pytester.runpytest(*QUIET, f"--cdc-db={URL}", "--cdc-metrics-file=m.prom")
    result.assert_outcomes(passed=1)
    text = (pytester.path / "m.prom").read_text()
    assert re.search(r'^db_connection_acquire_seconds_count\{pool="[^"]+"\} 1\.0$', text, re.M)
