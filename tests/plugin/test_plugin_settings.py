"""Where settings come from: CLI > ini > env > embedded default (pytester runs)."""

from __future__ import annotations

import re

import pytest
from helpers import masked_server_url, server_dsn, server_url

SERVER = server_url()
SHOW = """
def test_show(cdc_settings):
    print("DBS", sorted(cdc_settings.databases.items()), cdc_settings.databases_source)
    print("KEEP", cdc_settings.keep, "PGBIN", cdc_settings.pg_bin, "LOAD", cdc_settings.load)
"""


def _shown(result: pytest.RunResult, key: str) -> str:
    line = next(line for line in result.outlines if f"{key} " in line)
    return line[line.index(f"{key} ") :]


@pytest.fixture
def show(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for var in ("PYTEST_CDC_DB", "PYTEST_CDC_KEEP", "PYTEST_CDC_PG_BIN", "PYTEST_CDC_LOAD"):
        monkeypatch.delenv(var, raising=False)
    pytester.makepyfile(test_show=SHOW)
    return pytester


def test_default_is_embedded(show: pytest.Pytester) -> None:
    result = show.runpytest("-s")
    assert _shown(result, "DBS") == "DBS [('default', 'embedded')] default"
    result.stdout.fnmatch_lines(["cdc: default = embedded PostgreSQL (started on first use)*"])


def test_env_used_when_nothing_else(show: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_CDC_DB", f"source={SERVER} target=embedded")
    monkeypatch.setenv("PYTEST_CDC_KEEP", "no")
    result = show.runpytest("-s")
    assert _shown(result, "DBS") == (
        f"DBS [('default', 'embedded'), ('source', '{SERVER}'), ('target', 'embedded')] env"
    )
    assert _shown(result, "KEEP").startswith("KEEP False")


def test_ini_beats_env(show: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_CDC_DB", "postgresql://env@127.0.0.1:1/env")
    monkeypatch.setenv("PYTEST_CDC_KEEP", "1")
    show.makeini(f"[pytest]\ncdc_db =\n    {SERVER}\n    other=embedded\ncdc_keep = false\n")
    result = show.runpytest("-s")
    assert _shown(result, "DBS") == f"DBS [('default', '{SERVER}'), ('other', 'embedded')] ini"
    assert _shown(result, "KEEP").startswith("KEEP False")


def test_cli_beats_ini(show: pytest.Pytester) -> None:
    show.makeini("[pytest]\ncdc_db = postgresql://ini@127.0.0.1:1/ini\ncdc_pg_bin = /ini/bin\n")
    result = show.runpytest(
        "-s", f"--cdc-db=target={SERVER}", "--cdc-keep", "--cdc-pg-bin=/cli/bin"
    )
    assert _shown(result, "DBS") == f"DBS [('default', 'embedded'), ('target', '{SERVER}')] cli"
    assert _shown(result, "KEEP").startswith("KEEP True PGBIN /cli/bin")


def test_env_pg_bin_and_load(show: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_CDC_PG_BIN", "/env/bin")
    schema = show.makefile(".sql", schema="create table t (id int);")
    monkeypatch.setenv("PYTEST_CDC_LOAD", str(schema))
    result = show.runpytest("-s")
    assert _shown(result, "KEEP") == f"KEEP False PGBIN /env/bin LOAD ('{schema}',)"


def test_header_shows_reachable_server(show: pytest.Pytester) -> None:
    result = show.runpytest(f"--cdc-db={SERVER}")
    result.stdout.re_match_lines(
        [
            rf"cdc: default = {re.escape(masked_server_url())}:"
            r" PostgreSQL \d+\.\d+, ready in \d+\.\d\d s"
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cdc-db=mysql://root@h/x"], "*database 'default': unknown scheme 'mysql'*"),
        (["--cdc-db=a=postgresql://u@h:0/x"], "*database 'a': bad port 0*"),
        (["--cdc-db=x=embedded", "--cdc-db=x=embedded"], "*database 'x' is given twice*"),
        (["--cdc-load=/no/such/file.sql"], "*--cdc-load file '/no/such/file.sql' does not exist*"),
    ],
)
def test_config_errors_are_one_line_usage_errors(
    show: pytest.Pytester, args: list[str], message: str
) -> None:
    result = show.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_bad_env_boolean(show: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_CDC_KEEP", "maybe")
    result = show.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: PYTEST_CDC_KEEP='maybe' is not a boolean*"])


def test_overriding_cdc_settings_in_a_conftest_changes_the_databases(
    pytester: pytest.Pytester,
) -> None:
    # cdc_session read the settings from the stash, not from the fixture, so an override
    # had no effect although the README said it had.
    port = int(server_dsn().get("port", 5432))
    pytester.makeconftest(
        f"""
        import pytest
        from pytest_cdc.settings import CdcSettings

        @pytest.fixture(scope="session")
        def cdc_settings():
            return CdcSettings(databases={{"default": {SERVER!r}}})
        """
    )
    pytester.makepyfile(
        f"""
        def test_the_server_not_the_embedded_one(cdc_db, cdc_databases):
            assert cdc_db.fetchval("SELECT inet_server_port()") == {port}
            assert cdc_databases["default"].kind == "url"
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
