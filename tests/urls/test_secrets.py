"""Passwords with every character a URL treats specially never leak, through any surface:
URL parsing and masking, driver messages, the plugin's header and failures, JUnit XML, logs,
the metrics file, ``--showlocals``, and the reconcile CLI's report."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_cdc.dialects import parse_url
from pytest_cdc.errors import UrlError
from pytest_cdc.urls import mask_password

#: Every character with a meaning in a URL or a libpq/ODBC connection string.
SPECIAL = "@:/?#[]%&=+;' \"\\{}$!*(),"
HOSTILE = "Pw1@x:/y?z#w[1]%41&a=b+c;d'e f\"g\\h{i}$j!k*(l),m-Placeholder9"


def fragments(password: str) -> list[str]:
    """Pieces a partial leak would show: runs of 6 characters."""
    return [password[i : i + 6] for i in range(0, len(password) - 5, 3)]


def leaked(password: str, text: str) -> list[str]:
    return [piece for piece in [password, *fragments(password)] if piece in text]


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(SPECIAL + "abcXYZ019"), min_size=1, max_size=30).map(
        lambda core: "Zq" + core + "Q9"
    )
)
def test_encoded_passwords_parse_exactly_and_never_show(password: str) -> None:
    url = parse_url(f"postgresql://app:{quote(password, safe='')}@db.example:5432/erp")
    assert url.password == password and url.host == "db.example" and url.port == 5432
    for text in (url.masked, str(url), repr(url), mask_password(url.raw)):
        assert password not in text and quote(password, safe="") not in text


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(SPECIAL + "abcXYZ019"), min_size=6, max_size=30).map(
        lambda core: "Zq" + core + "Q9"
    )
)
def test_unencoded_passwords_parse_by_the_last_at_or_are_refused_masked(password: str) -> None:
    raw = f"postgresql://app:{password}@db.example:5432/erp"
    try:
        url = parse_url(raw)
    except UrlError as exc:
        message = str(exc)
        assert "percent-encode" in message or "bad port" in message or "no host" in message
        assert not leaked(password, message), message
        return
    # Accepted: then it was read right, whole, and is masked whole.
    if url.host == "db.example":
        assert url.password is not None
        assert not leaked(password, url.masked), url.masked
    assert not leaked(password, mask_password(raw))


def test_an_at_sign_in_the_password_is_masked_whole() -> None:
    assert mask_password("postgresql://u:pa@ss@h/db") == "postgresql://u:***@h/db"
    url = parse_url("postgresql://postgres:Placeholder@PW@127.0.0.1:5432/db")
    assert (url.password, url.host, url.masked) == (
        "Placeholder@PW",
        "127.0.0.1",
        "postgresql://postgres:***@127.0.0.1:5432/db",
    )


@pytest.mark.parametrize(
    "password", ["place/holder-pw", "place#holder-pw", "place?holder-pw", "12/holder-pw"]
)
def test_a_password_that_cuts_the_url_short_is_refused(password: str) -> None:
    with pytest.raises(UrlError, match="percent-encode") as info:
        parse_url(f"postgresql://u:{password}@h/db")
    assert "holder-pw" not in str(info.value)


def test_a_driver_message_quoting_the_password_is_scrubbed() -> None:
    parse_url(f"postgresql://u:{quote('Quoted%zz-Secret', safe='')}@h/db")
    # libpq quotes a malformed percent escape back; whatever quotes a parsed password is masked.
    assert mask_password('invalid percent-encoded token: "Quoted%zz-Secret"') == (
        'invalid percent-encoded token: "***"'
    )


SUITE = """
import logging

def test_reachable(cdc_connect):
    assert cdc_connect("ok").fetchval("select 1") == 1

def test_unreachable(cdc_connect):
    cdc_connect("down")

def test_locals(cdc_databases, cdc_settings):
    handles = dict(cdc_databases)
    print(cdc_settings, handles)
    for handle in handles.values():
        logging.getLogger("x").warning("db %s %r", handle.describe(), handle)
    assert False, "fail on purpose so that every report section is written"
"""


@pytest.mark.parametrize("encoded", [True, False], ids=["percent-encoded", "as-typed"])
def test_no_surface_of_the_plugin_shows_the_password(
    pytester: pytest.Pytester, tmp_path: Path, encoded: bool
) -> None:
    # The server trusts every local connection, so the password is accepted and ignored: the
    # reachable database gets a full header line, the unreachable one a failure message.
    password = HOSTILE if encoded else "Placeholder@PW-unguessable"
    written = quote(password, safe="") if encoded else password
    pytester.makepyfile(test_x=SUITE)
    junit, log, metrics = tmp_path / "junit.xml", tmp_path / "run.log", tmp_path / "m.prom"
    result = pytester.runpytest_subprocess(
        f"--cdc-db=ok=postgresql://postgres:{written}@127.0.0.1:5432/postgres",
        f"--cdc-db=down=postgresql://postgres:{written}@127.0.0.1:1/postgres",
        f"--junitxml={junit}",
        f"--log-file={log}",
        f"--cdc-metrics-file={metrics}",
        "-rA",
        "-v",
        "--showlocals",
        "-l",
        "-s",
    )
    result.assert_outcomes(passed=1, failed=2)
    texts = {
        "stdout": result.stdout.str(),
        "stderr": result.stderr.str(),
        "junit": junit.read_text(),
        "log": log.read_text(),
        "metrics": metrics.read_text(),
    }
    assert "cdc: ok = postgresql://postgres:***@127.0.0.1:5432/postgres" in texts["stdout"]
    for where, text in texts.items():
        assert not leaked(password, text), f"the password leaked into {where}"
        assert not leaked(written, text), f"the password leaked into {where}"


def test_a_url_the_plugin_refuses_is_shown_masked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(cdc_db): pass")
    result = pytester.runpytest_subprocess(
        "--cdc-db=x=postgresql://postgres:place/holder-pw2@127.0.0.1:5432/postgres"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stdout.str() + result.stderr.str()
    assert "percent-encode" in text and "holder-pw2" not in text


def test_the_reconcile_report_shows_sources_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import connect, load, schemas, server_url_with

    from pytest_cdc.cli import main

    url = server_url_with(password=HOSTILE)
    conn = connect()
    try:
        with schemas(conn, 2) as pair:
            for schema in pair:
                load(conn, f'"{schema}".t', "id int PRIMARY KEY, v text", [(1, "a")])
            out = tmp_path / "r.json"
            code = main(
                [
                    "reconcile",
                    "--source",
                    url,
                    "--target",
                    url,
                    "--table",
                    f"{pair[0]}.t={pair[1]}.t",
                    "--key",
                    "id",
                    "--format",
                    "json",
                    "--output",
                    str(out),
                ]
            )
    finally:
        conn.close()
    assert code == 0
    report = json.loads(out.read_text())
    assert report["source"] == server_url_with(password="MASKED").replace("MASKED", "***")
    for text in (out.read_text(), *capsys.readouterr()):
        assert not leaked(HOSTILE, text) and not leaked(quote(HOSTILE, safe=""), text)
