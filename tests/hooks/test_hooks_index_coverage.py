"""cdc-index-coverage on example projects (ok_/bad_, both dialects) and its edge cases."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from pytest_cdc_hooks.index_coverage import main

PROJECTS = Path(__file__).resolve().parent / "files" / "coverage"
FINDING = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<code>CDC\d{3}) (?P<msg>.+)$")
SQLGLOT = {"postgres": "postgres", "tsql": "tsql"}


def project(name: str, into: Path) -> Path:
    target = into / name
    shutil.copytree(PROJECTS / name, target)
    return target


def run(
    where: Path, args: list[str], capsys: pytest.CaptureFixture[str], mp: pytest.MonkeyPatch
) -> tuple[int, list[re.Match[str]]]:
    mp.chdir(where)
    code = main(args)
    out = capsys.readouterr().out.splitlines()
    matches = [FINDING.match(line) for line in out]
    assert all(matches), out
    return code, [m for m in matches if m]


def fix_ddl(message: str) -> str:
    start = message.index("CREATE ")
    return re.sub(r" \(uncertain: .*\)$", "", message[start:])


def parses(ddl: str, dialect: str) -> None:
    # sqlglot 30 cannot read T-SQL "WHERE ... WITH (...)"; the generated fixes have no filter
    tree = sqlglot.parse_one(ddl, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(tree, exp.Create), ddl


@pytest.mark.parametrize("dialect", ["postgres", "tsql"])
def test_ok_project_is_clean(
    dialect: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    where = project(f"ok_{dialect}", tmp_path)
    assert run(where, ["--strict"], capsys, monkeypatch) == (0, [])


EXPECTED = {
    "postgres": [
        ("migrations/V1__orders.sql", 1, "CDC202"),
        ("migrations/V1__orders.sql", 1, "CDC203"),
        ("migrations/V1__orders.sql", 1, "CDC204"),
        ("pyproject.toml", 13, "CDC201"),
        ("queries/recon.sql", 1, "CDC205"),
        ("queries/recon.sql", 2, "CDC206"),
        ("queries/recon.sql", 3, "CDC205"),
    ],
    "tsql": [
        ("migrations/V1__customers.sql", 3, "CDC202"),
        ("migrations/V1__customers.sql", 3, "CDC203"),
        ("migrations/V1__customers.sql", 3, "CDC204"),
        ("queries/recon.sql", 1, "CDC205"),
        ("queries/recon.sql", 2, "CDC206"),
        ("queries/recon.sql", 3, "CDC205"),
    ],
}


@pytest.mark.parametrize("dialect", ["postgres", "tsql"])
def test_bad_project_reports_every_rule_with_a_fix(
    dialect: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    where = project(f"bad_{dialect}", tmp_path)
    code, found = run(where, [], capsys, monkeypatch)
    assert code == 1
    assert [(m["path"], int(m["line"]), m["code"]) for m in found] == EXPECTED[dialect]
    for m in found:
        if m["code"] != "CDC201":
            ddl = fix_ddl(m["msg"])
            parses(ddl, SQLGLOT[dialect])
            if dialect == "postgres":
                assert ddl.startswith(
                    ("CREATE INDEX CONCURRENTLY", "CREATE UNIQUE INDEX CONCURRENTLY")
                )
            else:
                assert ddl.endswith("WITH (ONLINE = ON)")


def test_json_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project("bad_postgres", tmp_path))
    assert main(["--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert {d["code"] for d in data} == {"CDC201", "CDC202", "CDC203", "CDC204", "CDC205", "CDC206"}
    assert next(d for d in data if d["code"] == "CDC206")["severity"] == "warning"


def test_query_fixed_by_the_suggested_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    where = project("bad_postgres", tmp_path)
    _, found = run(where, [], capsys, monkeypatch)
    fixes = {fix_ddl(m["msg"]) for m in found if m["code"] in ("CDC202", "CDC203", "CDC204")}
    with (where / "migrations" / "V3__fix.sql").open("w", encoding="utf-8") as f:
        f.write(";\n".join(sorted(fixes)) + ";\n")
        f.write("CREATE INDEX CONCURRENTLY ix_orders_customer ON orders (customer_id);\n")
    _, found = run(where, [], capsys, monkeypatch)
    assert [m["code"] for m in found] == ["CDC201"]


def test_only_passed_query_files_are_checked_unless_ddl_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    where = project("bad_postgres", tmp_path)
    (where / "queries" / "other.sql").write_text("SELECT 1;\n", encoding="utf-8")
    _, found = run(where, ["queries/other.sql"], capsys, monkeypatch)
    assert "queries/recon.sql" not in {m["path"] for m in found}
    _, found = run(where, ["migrations/V2__drop.sql"], capsys, monkeypatch)
    assert "queries/recon.sql" in {m["path"] for m in found}


def test_not_understood_ddl_never_becomes_a_missing_index_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    where = project("ok_postgres", tmp_path)
    # sqlglot reads this valid PostgreSQL as a raw Command: the key index it makes is invisible
    v1 = where / "migrations" / "V1__orders.sql"
    v1.write_text(
        v1.read_text(encoding="utf-8").replace(
            "ALTER TABLE ONLY public.orders ADD CONSTRAINT orders_pkey PRIMARY KEY (order_id);",
            "CREATE UNIQUE INDEX CONCURRENTLY orders_pkey_ix ON public.orders (order_id);\n"
            "ALTER TABLE public.orders ADD CONSTRAINT orders_pkey PRIMARY KEY USING INDEX "
            "orders_pkey_ix;\nDROP INDEX CONCURRENTLY orders_pkey_ix;",
        ),
        encoding="utf-8",
    )
    code, found = run(where, [], capsys, monkeypatch)
    assert code == 0
    by_code = {m["code"]: m for m in found}
    # the key index and the join on the key look missing, but only as warnings that say why
    assert set(by_code) == {"CDC000", "CDC202", "CDC205"}
    assert by_code["CDC000"]["line"] == "9"
    for doubted in ("CDC202", "CDC205"):
        assert (
            "(uncertain: DDL at migrations/V1__orders.sql:9 was not understood"
            in by_code[doubted]["msg"]
        )
    assert run(where, ["--strict"], capsys, monkeypatch)[0] == 1


def test_tables_but_no_ddl_is_a_config_error(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (isolated / "pyproject.toml").write_text(
        '[tool.pytest-cdc]\n[[tool.pytest-cdc.reconciliation-tables]]\nname = "t"\nkey = ["id"]\n',
        encoding="utf-8",
    )
    assert main([]) == 2
    assert "ddl is empty" in capsys.readouterr().err


def test_unknown_table_key_suggests_the_right_one(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (isolated / "pyproject.toml").write_text(
        '[tool.pytest-cdc]\nddl = ["*.sql"]\n[[tool.pytest-cdc.reconciliation-tables]]\n'
        'name = "t"\nkey = ["id"]\ntimestmap = "updated_at"\n',
        encoding="utf-8",
    )
    assert main([]) == 2
    assert "did you mean 'timestamp'?" in capsys.readouterr().err


def test_no_tables_configured_is_clean(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (isolated / "q.sql").write_text("SELECT * FROM t;\n", encoding="utf-8")
    assert main(["q.sql"]) == 0
    assert capsys.readouterr().out == ""


def test_repeated_run_uses_the_cache(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    where = project("bad_tsql", tmp_path)
    first = run(where, [], capsys, monkeypatch)
    import pytest_cdc_hooks.lint as lint

    def broken(*args: object, **kwargs: object) -> None:
        raise AssertionError("nothing changed: no file may be parsed again")

    monkeypatch.setattr(lint, "analyze", broken)
    monkeypatch.setattr("pytest_cdc_hooks.usage.analyze", broken)
    second = run(where, [], capsys, monkeypatch)
    assert [m.group() for m in second[1]] == [m.group() for m in first[1]]


def test_many_migrations_parse_in_parallel_with_the_same_result(
    isolated: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pytest_cdc_hooks.workers as workers

    (isolated / "pyproject.toml").write_text(
        '[tool.pytest-cdc]\nddl = ["m/*.sql"]\nqueries = ["q/*.sql"]\n'
        '[[tool.pytest-cdc.reconciliation-tables]]\nname = "t5"\nkey = ["id"]\n'
        'timestamp = "ts"\n',
        encoding="utf-8",
    )
    (isolated / "m").mkdir()
    (isolated / "q").mkdir()
    for i in range(80):
        (isolated / "m" / f"V{i}.sql").write_text(
            f"CREATE TABLE t{i} (id int PRIMARY KEY, ts timestamptz, v text);\n"
            f"CREATE INDEX CONCURRENTLY ix_t{i}_v ON t{i} (v);\n"
            f"ALTER TABLE t{i} ADD CONSTRAINT x UNIQUE USING INDEX ix_t{i}_v;\n",
            encoding="utf-8",
        )
    (isolated / "q" / "q.sql").write_text("SELECT id FROM t5 WHERE v = $1;\n", encoding="utf-8")
    monkeypatch.setattr(workers, "PARALLEL_MIN_JOBS", 10**6)
    serial = (main(["--no-cache", "--format", "json"]), capsys.readouterr().out)
    monkeypatch.setattr(workers, "PARALLEL_MIN_JOBS", 2)
    parallel = (main(["--no-cache", "--format", "json"]), capsys.readouterr().out)
    assert parallel == serial
    codes = [f["code"] for f in json.loads(serial[1])]
    assert codes.count("CDC000") == 80
    assert "CDC203" in codes


def coverage_project(root: Path, dialect: str, table: str, migration: str, query: str) -> None:
    (root / "pyproject.toml").write_text(
        f'[tool.pytest-cdc]\ndefault-dialect = "{dialect}"\n'
        'ddl = ["m/*.sql"]\nqueries = ["q/*.sql"]\n'
        f'[[tool.pytest-cdc.reconciliation-tables]]\nname = "{table}"\nkey = ["id"]\n',
        encoding="utf-8",
    )
    (root / "m").mkdir()
    (root / "q").mkdir()
    (root / "m" / "V1.sql").write_text(migration, encoding="utf-8")
    (root / "q" / "q.sql").write_text(query, encoding="utf-8")


def test_a_table_whose_create_table_was_not_understood_is_only_uncertain(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    coverage_project(
        isolated,
        "mssql",
        "Purchasing.Suppliers",
        "CREATE TABLE Purchasing.Suppliers (\n"
        "    id int NOT NULL PRIMARY KEY,\n"
        "    phone nvarchar(20) MASKED WITH (FUNCTION = 'default()') NULL\n"
        ");\n",
        "SELECT phone FROM Purchasing.Suppliers WHERE id = 1;\n",
    )
    assert main([]) == 0  # warnings: the parser could not read the table, it exists
    out = capsys.readouterr().out
    assert (
        "CDC201 reconciliation table 'Purchasing.Suppliers' is not created by any file matching "
        "ddl = ['m/*.sql']: fix the name or the ddl globs (uncertain: DDL at m/V1.sql:3 was not "
        "understood, the table may exist)"
    ) in out


@pytest.mark.parametrize(
    "migration",
    [
        "CREATE TABLE orders (note text);\n"
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS id uuid NOT NULL "
        "DEFAULT gen_random_uuid() PRIMARY KEY;\n",
        "CREATE TABLE orders (id uuid NOT NULL, note text);\n"
        "ALTER TABLE orders ADD PRIMARY KEY (id);\n",
        "CREATE TABLE orders (id uuid NOT NULL, note text);\n"
        "DO $$ BEGIN\n  ALTER TABLE orders ADD CONSTRAINT orders_id_key UNIQUE (id);\n"
        "EXCEPTION WHEN duplicate_object THEN NULL;\nEND $$;\n",
    ],
    ids=["add-column-primary-key", "add-primary-key", "add-constraint-in-do-block"],
)
def test_keys_added_by_alter_table_are_modelled(
    isolated: Path, capsys: pytest.CaptureFixture[str], migration: str
) -> None:
    coverage_project(
        isolated, "postgres", "orders", migration, "SELECT note FROM orders WHERE id = $1;\n"
    )
    assert main(["--strict"]) == 0, capsys.readouterr().out


def test_a_constraint_dropped_in_a_do_block_is_gone(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    coverage_project(
        isolated,
        "postgres",
        "orders",
        "CREATE TABLE orders (id bigint PRIMARY KEY, code text UNIQUE, deleted boolean);\n"
        "CREATE INDEX CONCURRENTLY ix_orders_code_live ON orders (code) WHERE NOT deleted;\n"
        "DO $$ BEGIN\n  ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_code_key;\nEND $$;\n"
        "ALTER TABLE orders DROP COLUMN deleted_at_unused;\n",
        "SELECT id FROM orders WHERE code = $1;\n",
    )
    assert main([]) == 0  # CDC206 is a warning
    out = capsys.readouterr().out
    assert (
        "q/q.sql:1:16: CDC206 query on 'orders' filters or joins on code; only partial index"
        in (out)
    )


def test_a_dropped_column_takes_its_indexes(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    coverage_project(
        isolated,
        "postgres",
        "orders",
        "CREATE TABLE orders (id bigint PRIMARY KEY, code text);\n"
        "CREATE INDEX CONCURRENTLY ix_orders_code ON orders (code);\n"
        "ALTER TABLE orders DROP COLUMN code;\nALTER TABLE orders ADD COLUMN code text;\n",
        "SELECT id FROM orders WHERE code = $1;\n",
    )
    assert main([]) == 1
    assert "CDC205 query on 'orders' filters or joins on code but no index leads with it" in (
        capsys.readouterr().out
    )


def test_a_pyproject_change_alone_checks_every_query(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    where = project("bad_postgres", tmp_path)
    # pre-commit passes pyproject.toml alone when only the reconciliation tables changed
    code, found = run(where, ["pyproject.toml"], capsys, monkeypatch)
    assert code == 1
    assert "queries/recon.sql" in {m["path"] for m in found}
    assert all(m["code"] != "CDC000" for m in found)  # the TOML was not read as SQL


def test_noqa_suppresses_coverage_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    where = project("bad_postgres", tmp_path)
    _, before = run(where, [], capsys, monkeypatch)
    recon = where / "queries" / "recon.sql"
    lines = recon.read_text(encoding="utf-8").splitlines()
    lines[0] += "  -- noqa: CDC205"
    recon.write_text("\n".join(lines) + "\n", encoding="utf-8")
    v1 = where / "migrations" / "V1__orders.sql"
    v1.write_text("-- cdc: noqa: CDC203\n" + v1.read_text(encoding="utf-8"), encoding="utf-8")
    pyproject = where / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8").splitlines()
    line = next(m for m in before if m["code"] == "CDC201")["line"]
    text[int(line) - 1] += "  # noqa: CDC201"
    pyproject.write_text("\n".join(text) + "\n", encoding="utf-8")
    _, after = run(where, [], capsys, monkeypatch)

    def seen(found: list[re.Match[str]]) -> set[tuple[str, str]]:
        # V1 moved down a line (the file-level noqa): query findings keep their lines
        return {
            (m["path"], m["line"] + m["code"] if m["path"].startswith("queries") else m["code"])
            for m in found
        }

    assert seen(before) - seen(after) == {
        ("queries/recon.sql", "1CDC205"),
        ("migrations/V1__orders.sql", "CDC203"),
        ("pyproject.toml", "CDC201"),
    }
    # line 3 of recon.sql has its own CDC205, not suppressed
    assert ("queries/recon.sql", "3CDC205") in seen(after)


def test_a_key_naming_a_missing_column_is_reported_not_indexed(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    coverage_project(
        isolated,
        "postgres",
        "orders",
        "CREATE TABLE orders (order_id bigint, updated_at timestamptz);\n",
        "SELECT 1;\n",
    )
    pyproject = isolated / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('key = ["id"]', 'key = ["orderid"]\ntimestamp = "updated"'),
        encoding="utf-8",
    )
    assert main([]) == 1
    out = capsys.readouterr().out
    assert (
        "pyproject.toml:6:1: CDC207 reconciliation table 'orders' has no column 'orderid' "
        "(did you mean 'order_id'?): fix key in [tool.pytest-cdc.reconciliation-tables]"
    ) in out
    assert "has no column 'updated' (did you mean 'updated_at'?): fix timestamp" in out
    assert '"orderid"' not in out  # no index DDL on a column that does not exist
    assert "CDC202" not in out and "CDC203" not in out


@pytest.mark.parametrize("hook", ["coverage", "lint"])
def test_unknown_codes_in_ignore_are_an_error(
    isolated: Path, capsys: pytest.CaptureFixture[str], hook: str
) -> None:
    from pytest_cdc_hooks import sql_lint

    (isolated / "pyproject.toml").write_text(
        '[tool.pytest-cdc]\nignore = ["CDC1O1"]\n', encoding="utf-8"
    )
    entry = main if hook == "coverage" else sql_lint.main
    assert entry([]) == 2
    err = capsys.readouterr().err
    assert "unknown rule code 'CDC1O1' in ignore in " in err
    assert "(did you mean 'CDC101'?)" in err
    assert err.count("\n") == 1


def test_unknown_code_in_the_ignore_option(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_cdc_hooks import sql_lint

    assert sql_lint.main(["--ignore", "CDC101,cdc2O5"]) == 2
    assert "unknown rule code 'CDC2O5' in --ignore (did you mean 'CDC205'?)" in (
        capsys.readouterr().err
    )
