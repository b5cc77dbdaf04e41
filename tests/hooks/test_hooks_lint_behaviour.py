"""cdc-sql-lint behaviour: suppression, formats, configuration, plugins, caching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pytest_cdc_hooks.lint
from pytest_cdc_hooks.config import load_config
from pytest_cdc_hooks.rules import Rule
from pytest_cdc_hooks.sql_lint import lint_files, main


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


BAD = "SELECT * FROM orders;\nUPDATE orders SET a = 1;\n"


def test_noqa_on_the_line(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(isolated / "q.sql", "SELECT * FROM orders; -- noqa\nUPDATE orders SET a = 1;\n")
    assert main([str(f)]) == 1
    out = capsys.readouterr().out
    assert "CDC101" not in out
    assert "q.sql:2:1: CDC102" in out


def test_noqa_with_codes_only_suppresses_those(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = write(isolated / "q.sql", "SELECT * FROM t WHERE lower(a) = 'x'; -- noqa: CDC103\n")
    assert main([str(f)]) == 1
    out = capsys.readouterr().out
    assert "CDC101" in out
    assert "CDC103" not in out


def test_file_level_noqa(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(isolated / "q.sql", "-- cdc: noqa: CDC101, CDC102\n" + BAD)
    assert main([str(f)]) == 0
    g = write(isolated / "r.sql", "-- cdc: noqa\n" + BAD)
    assert main([str(g)]) == 0
    assert capsys.readouterr().out == ""


def test_json_format(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(isolated / "q.sql", BAD)
    assert main(["--format", "json", str(f)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [(d["line"], d["col"], d["code"]) for d in data] == [(1, 8, "CDC101"), (2, 1, "CDC102")]
    assert data[0]["path"] == str(f)
    assert data[0]["severity"] == "error"


def test_json_format_when_clean_is_an_empty_list(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = write(isolated / "q.sql", "SELECT a FROM t WHERE id = 1;\n")
    assert main(["--format", "json", str(f)]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_github_format(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(isolated / "q.sql", BAD)
    assert main(["--format", "github", str(f)]) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"::error file={f},line=1,col=8,title=CDC101::SELECT *")


def test_sarif_format(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(isolated / "q.sql", BAD)
    assert main(["--format", "sarif", str(f)]) == 1
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["name"] == "cdc-sql-lint"
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {"CDC101", "CDC102"}
    region = run["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 1, "startColumn": 8}


def test_unknown_config_key_is_a_usage_error(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(isolated / "pyproject.toml", '[tool.pytest-cdc]\nqueris = ["*.sql"]\n')
    f = write(isolated / "q.sql", "SELECT 1;\n")
    assert main([str(f)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'queris'" in err
    assert "did you mean 'queries'?" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('dialects = { "*.sql" = "oracle" }', "unknown dialect 'oracle'"),
        ("ddl = 3", "ddl must be a list of strings"),
        ("[[tool.pytest-cdc.reconciliation-tables]]\nname = 't'\nkeys = ['id']", "'keys'"),
        ("[[tool.pytest-cdc.reconciliation-tables]]\nname = 't'", "needs key"),
        ("strict = 'yes'", "strict must be true or false"),
        ("ddl = [", "invalid toml"),
    ],
)
def test_config_errors_exit_2(
    isolated: Path, capsys: pytest.CaptureFixture[str], toml: str, expected: str
) -> None:
    write(isolated / "pyproject.toml", f"[tool.pytest-cdc]\n{toml}\n")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert err.count("\n") == 1


def test_unknown_dialect_option_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dialect", "oracel"]) == 2
    assert "unknown dialect 'oracel'" in capsys.readouterr().err


def test_config_picks_dialect_by_glob_and_ignores_codes(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        isolated / "pyproject.toml",
        '[tool.pytest-cdc]\ndialects = { "db/mssql/**" = "mssql" }\nignore = ["CDC101"]\n',
    )
    # GO only separates batches in T-SQL: parsed as PostgreSQL this is not understood
    tsql = "SELECT * FROM dbo.t WITH (NOLOCK) WHERE id = 1\nGO\n"
    f = write(isolated / "db" / "mssql" / "q.sql", tsql)
    assert main([str(f.relative_to(isolated))]) == 1
    out = capsys.readouterr().out
    assert "CDC107 NOLOCK" in out
    assert "CDC101" not in out
    assert "CDC000" not in out


def test_ignore_option(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(isolated / "q.sql", BAD)
    assert main(["--ignore", "CDC101,CDC102", str(f)]) == 0


def test_ddl_role_skips_query_rules(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(isolated / "pyproject.toml", '[tool.pytest-cdc]\nddl = ["migrations/*.sql"]\n')
    f = write(isolated / "migrations" / "V1.sql", "INSERT INTO b SELECT * FROM a;\n")
    assert main([str(f.relative_to(isolated))]) == 0


def test_strict_from_config(isolated: Path) -> None:
    write(isolated / "pyproject.toml", "[tool.pytest-cdc]\nstrict = true\n")
    f = write(isolated / "q.sql", "ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX ix;\n")
    assert main([str(f)]) == 1
    assert main(["--no-cache", str(f)]) == 1


def test_schema_from_configured_ddl_feeds_type_rules(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(isolated / "pyproject.toml", '[tool.pytest-cdc]\nddl = ["ddl/*.sql"]\n')
    write(isolated / "ddl" / "1.sql", "CREATE TABLE acct (no varchar(9) PRIMARY KEY);\n")
    f = write(isolated / "q.sql", "SELECT no FROM acct WHERE no = 42;\n")
    assert main([str(f)]) == 1
    assert "CDC105" in capsys.readouterr().out


class NoFooPlugin:
    """A third-party plugin object: a plain pytest_cdc_* method, no marker import needed."""

    def pytest_cdc_register_lint_rules(self, registry: object) -> None:
        def check(ctx: object, tree: object) -> list[tuple[object, str | None]]:
            from sqlglot import exp

            assert isinstance(tree, exp.Expression)
            return [(t, None) for t in tree.find_all(exp.Table) if t.name == "foo"]

        registry.add(Rule("XYZ001", "no-foo", "table foo is deprecated", check))  # type: ignore[attr-defined]


def test_plugin_registers_a_rule(isolated: Path) -> None:
    sql = "SELECT a FROM foo WHERE id = 1;\nSELECT a FROM bar WHERE id = 1;\n"
    f = write(isolated / "q.sql", sql)
    config = load_config(cwd=isolated)
    findings, _ = lint_files([str(f)], config, extra_plugins=(NoFooPlugin(),), use_cache=False)
    assert [(x.line, x.col, x.code, x.message) for x in findings] == [
        (1, 15, "XYZ001", "table foo is deprecated")
    ]


def test_plugin_cannot_replace_a_builtin_rule(isolated: Path) -> None:
    class Clash:
        def pytest_cdc_register_lint_rules(self, registry: object) -> None:
            registry.add(Rule("CDC101", "x", "y", lambda c, t: []))  # type: ignore[attr-defined]

    f = write(isolated / "q.sql", "SELECT 1;\n")
    from pytest_cdc.errors import ConfigError

    with pytest.raises(ConfigError, match="registered twice"):
        lint_files([str(f)], load_config(cwd=isolated), extra_plugins=(Clash(),), use_cache=False)


def test_second_run_is_served_from_the_cache(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    f = write(isolated / "q.sql", BAD)
    assert main([str(f)]) == 1
    first = capsys.readouterr().out

    def broken(*args: object, **kwargs: object) -> None:
        raise AssertionError("lint_text must not run for an unchanged file")

    monkeypatch.setattr(pytest_cdc_hooks.lint, "lint_text", broken)
    assert main([str(f)]) == 1
    assert capsys.readouterr().out == first
    # a changed file is linted again (in a worker process, which reports the failure)
    f.write_text("SELECT a FROM t WHERE id = 1;\n", encoding="utf-8")
    main([str(f)])
    assert "lint_text must not run" in capsys.readouterr().out


def test_cache_key_includes_settings(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(isolated / "q.sql", BAD)
    assert main([str(f)]) == 1
    write(isolated / "pyproject.toml", '[tool.pytest-cdc]\nignore = ["CDC101", "CDC102"]\n')
    assert main([str(f)]) == 0


def test_plugin_found_through_its_entry_point(
    isolated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An installed distribution with a ``pytest_cdc`` entry point adds a rule to main()."""
    site = tmp_path / "site"
    dist = site / "acme_cdc_rules-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-cdc-rules\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pytest_cdc]\nacme = acme_cdc_rules\n")
    (site / "acme_cdc_rules.py").write_text(
        "from sqlglot import exp\n"
        "from pytest_cdc_hooks.rules import Rule\n\n"
        "def check(ctx, tree):\n"
        "    for t in tree.find_all(exp.Table):\n"
        "        if t.name.startswith('legacy_'):\n"
        "            yield t, None\n\n"
        "def pytest_cdc_register_lint_rules(registry):\n"
        "    registry.add(Rule('ACME001', 'no-legacy', 'legacy table', check))\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(site))
    f = write(isolated / "q.sql", "SELECT a FROM legacy_orders WHERE id = 1;\n")
    assert main([str(f)]) == 1
    assert capsys.readouterr().out == f"{f}:1:15: ACME001 legacy table\n"
    assert main(["--list-rules"]) == 0
    assert "ACME001  no-legacy: legacy table" in capsys.readouterr().out


def test_many_files_lint_in_parallel_with_the_same_result(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pytest_cdc_hooks.workers as workers

    write(isolated / "pyproject.toml", '[tool.pytest-cdc]\nddl = ["m/*.sql"]\n')
    write(isolated / "m" / "V1.sql", "CREATE TABLE acct (no varchar(9) PRIMARY KEY);\n")
    files = [
        str(write(isolated / f"q{i}.sql", f"SELECT * FROM acct WHERE no = {i};\n" + BAD))
        for i in range(70)
    ]
    monkeypatch.setattr(workers, "PARALLEL_MIN_JOBS", 10**6)
    serial = (main(["--no-cache", *files]), capsys.readouterr().out)
    monkeypatch.setattr(workers, "PARALLEL_MIN_JOBS", 2)
    parallel = (main(["--no-cache", *files]), capsys.readouterr().out)
    assert parallel == serial
    assert serial[1].count("CDC105") == 70  # the schema reached the workers


def test_a_mistyped_statement_is_still_reported(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = write(
        isolated / "q.sql",
        "CREATE FUNCTION f() RETURNS int AS $$ select 1 $$ LANGUAGE sql STRICT PARALLEL SAFE;\n"
        "SELEC order_id FROM orders;\n",
    )
    assert main(["--strict", str(f)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert out[0].startswith(f"{f}:2:16: CDC000 not understood")  # at FROM
