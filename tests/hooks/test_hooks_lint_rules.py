"""Every cdc-sql-lint rule on its ok_/bad_ example files, in both dialects, through main()."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_cdc_hooks.rules import CORE_CODES, builtin_registry
from pytest_cdc_hooks.sql_lint import main

FILES = Path(__file__).resolve().parent / "files"
DIALECTS = ("postgres", "tsql")
RULE_CODES = [rule.code for rule in builtin_registry()]
# CDC002 (unreadable files) needs bytes that do not belong in a .sql example: see robustness.
EXAMPLE_CODES = [*RULE_CODES, "CDC000", "CDC001"]
#: (code, dialect) of every example pair: a rule has examples in the dialects it checks
EXAMPLES = [
    (code, dialect)
    for code in EXAMPLE_CODES
    for dialect in DIALECTS
    if code not in RULE_CODES or dialect in builtin_registry().get(code).dialects
]
FINDING = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<code>[A-Z]+\d+) (?P<msg>.+)$")


def example(kind: str, code: str, dialect: str) -> Path:
    return FILES / f"{kind}_{code.lower()}_{dialect}.sql"


@pytest.mark.parametrize(("code", "dialect"), EXAMPLES)
def test_bad_example_fails_with_its_code(
    code: str, dialect: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = example("bad", code, dialect)
    assert main(["--no-cache", "--strict", "--dialect", dialect, str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out, "a bad example must produce findings"
    codes = set()
    lines = path.read_text(encoding="utf-8").count("\n") + 1
    for line in out:
        m = FINDING.match(line)
        assert m, line
        assert m["path"] == str(path)
        assert 1 <= int(m["line"]) <= lines
        assert int(m["col"]) >= 1
        codes.add(m["code"])
    assert codes == {code}, out


@pytest.mark.parametrize(("code", "dialect"), EXAMPLES)
def test_ok_example_is_clean(code: str, dialect: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = example("ok", code, dialect)
    assert main(["--no-cache", "--strict", "--dialect", dialect, str(path)]) == 0
    assert capsys.readouterr().out == ""


def test_every_rule_has_examples_in_both_dialects() -> None:
    missing = [
        example(kind, code, dialect).name
        for code, dialect in EXAMPLES
        for kind in ("ok", "bad")
        if not example(kind, code, dialect).is_file()
    ]
    assert not missing


def test_no_orphan_example_files() -> None:
    known = {example(k, c, d).name for c, d in EXAMPLES for k in ("ok", "bad")}
    orphans = [p.name for p in FILES.glob("*.sql") if p.name not in known]
    assert not orphans, "example files for rules that do not exist"


def test_not_understood_is_a_warning_unless_strict(capsys: pytest.CaptureFixture[str]) -> None:
    path = example("bad", "CDC000", "postgres")
    assert main(["--no-cache", "--dialect", "postgres", str(path)]) == 0
    assert "CDC000" in capsys.readouterr().out


def test_list_rules_names_every_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list-rules"]) == 0
    out = capsys.readouterr().out
    for code in [*RULE_CODES, *CORE_CODES]:
        assert code in out
