"""``--cdc-load NAME=FILE``: a source and a target schema differ (issue 17: every file went into
every database).  Every database's files load first, then its own; CLI, ini and env alike."""

from __future__ import annotations

import pytest

CHECK = """
def _tables(conn):
    return sorted(r[0] for r in conn.fetchall(
        "select table_name::text from information_schema.tables where table_schema = 'public'"))

def test_tables(cdc_connect):
    for name in ("default", "source", "target"):
        print("TABLES", name, _tables(cdc_connect(name)))
"""


@pytest.fixture
def files(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("PYTEST_CDC_LOAD", raising=False)
    monkeypatch.delenv("PYTEST_CDC_DB", raising=False)
    pytester.makefile(".sql", common="create table common (id int);")
    pytester.makefile(".sql", src="create table orders_src (id int);")
    pytester.makefile(".sql", tgt="create table orders_tgt (id int);")
    pytester.makepyfile(test_load=CHECK)
    return pytester


def _tables(result: pytest.RunResult) -> dict[str, str]:
    result.assert_outcomes(passed=1)
    found = {}
    for line in result.outlines:
        if "TABLES " in line:
            _, name, tables = line[line.index("TABLES ") :].split(" ", 2)
            found[name] = tables
    return found


EXPECTED = {
    "default": "['common']",
    "source": "['common', 'orders_src']",
    "target": "['common', 'orders_tgt']",
}
DBS = ["--cdc-db=source=embedded", "--cdc-db=target=embedded"]


def test_cli(files: pytest.Pytester) -> None:
    loads = ["--cdc-load=source=src.sql", "--cdc-load=common.sql", "--cdc-load=target=tgt.sql"]
    result = files.runpytest("-s", *DBS, *loads)
    assert _tables(result) == EXPECTED
    result.stdout.fnmatch_lines(["cdc: source = *"])


def test_ini(files: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    files.makeini(
        "[pytest]\ncdc_db =\n    source=embedded\n    target=embedded\n"
        "cdc_load =\n    common.sql\n    source=src.sql\n    target = tgt.sql\n"
    )
    sub = files.path / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)  # ini paths are relative to the rootdir, wherever pytest starts
    result = files.runpytest("-s", str(files.path / "test_load.py"))
    assert _tables(result) == EXPECTED


def test_env(files: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_CDC_LOAD", "common.sql source=src.sql target=tgt.sql")
    assert _tables(files.runpytest("-s", *DBS)) == EXPECTED


def test_unknown_name_is_a_usage_error_with_did_you_mean(files: pytest.Pytester) -> None:
    result = files.runpytest(*DBS, "--cdc-load=taget=tgt.sql")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--cdc-load 'taget=tgt.sql' names database 'taget', which is not configured"
            " (did you mean 'target'?); configured: default, source, target"
        ]
    )


def test_a_file_whose_name_holds_an_equals_sign_is_a_file(files: pytest.Pytester) -> None:
    files.path.joinpath("source=odd.sql").write_text("create table odd (id int);")
    result = files.runpytest("-s", *DBS, "--cdc-load=source=odd.sql")
    assert _tables(result)["target"] == "['odd']"


def test_missing_file_of_one_database(files: pytest.Pytester) -> None:
    result = files.runpytest(*DBS, "--cdc-load=source=nope.sql")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--cdc-load file '*nope.sql' does not exist*"])
