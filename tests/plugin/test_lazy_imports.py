"""The plugin costs nothing when unused: no driver, parser or metrics library is imported."""

from __future__ import annotations

import pytest

HEAVY = ("psycopg2", "pyodbc", "sqlglot", "testcontainers", "hypothesis", "prometheus_client")

CONFTEST = """
import sys

def pytest_sessionfinish(session):
    heavy = {heavy!r}
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
    print("HEAVY", loaded)
"""


@pytest.fixture
def isolated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # Only our plugin: other installed plugins (hypothesis's own, pytest-postgresql) import
    # these modules themselves and would hide what pytest-cdc does.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeconftest(CONFTEST.format(heavy=HEAVY))
    return pytester


def _heavy(result: pytest.RunResult) -> str:
    return next(line for line in result.outlines if "HEAVY" in line).split("HEAVY ", 1)[1]


def test_unused_plugin_imports_nothing_heavy(isolated: pytest.Pytester) -> None:
    isolated.makepyfile("def test_plain(): assert 1 + 1 == 2")
    result = isolated.runpytest_subprocess("-p", "pytest_cdc.plugin", "-s", "--cdc-db=embedded")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["cdc: default = embedded PostgreSQL (started on first use)*"])
    assert _heavy(result) == "[]"


def test_the_check_sees_a_driver_when_a_fixture_is_used(isolated: pytest.Pytester) -> None:
    isolated.makepyfile("def test_db(cdc_db): assert cdc_db.fetchval('select 1') == 1")
    result = isolated.runpytest_subprocess("-p", "pytest_cdc.plugin", "-s")
    result.assert_outcomes(passed=1)
    assert "psycopg2" in _heavy(result)
