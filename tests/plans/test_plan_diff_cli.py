"""``pytest-cdc plan diff OLD NEW``: saved plans compared with the rules of plan snapshots,
exit 0 same, 1 changed, 2 error with one line on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_cdc.cli import main
from pytest_cdc.database import CdcConnection

HERE = Path(__file__).resolve().parent
#: Saved plans: tests/plans/files/ once the test layout lands, tests/plans/ before.
PLANS = next(p for p in (HERE / "files", HERE) if (p / "ok_pg15_disabled.json").exists())


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["plan", "diff", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_15_and_18_ways_of_marking_a_disabled_node_are_the_same(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        [str(PLANS / "ok_pg15_disabled.json"), str(PLANS / "ok_pg18_disabled.json")], capsys
    )
    assert (code, err) == (0, "")
    assert out.startswith("same plan shape: ")


def test_a_live_plan_and_its_analyzed_twin_with_buffers_are_the_same(
    cdc_db: CdcConnection, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cdc_db.execute("create table t (id int primary key, v text)")
    cdc_db.execute("insert into t select g, 'x' from generate_series(1, 100) g")
    sql = "select * from t where id in (1, 2)"
    plain = cdc_db.fetchval(f"explain (format json) {sql}")
    analysed = cdc_db.fetchval(f"explain (format json, analyze, buffers) {sql}")
    (tmp_path / "old.json").write_text(json.dumps(plain))
    (tmp_path / "new.json").write_text(json.dumps(analysed))
    code, out, _ = run([str(tmp_path / "old.json"), str(tmp_path / "new.json")], capsys)
    assert code == 0, out
    cdc_db.execute("create index ix_t_v on t (v)")
    cdc_db.execute("set local enable_seqscan = off; set local enable_indexscan = off")
    (tmp_path / "new.json").write_text(
        json.dumps(cdc_db.fetchval("explain (format json) select * from t where v = 'x'"))
    )
    code, out, _ = run([str(tmp_path / "old.json"), str(tmp_path / "new.json")], capsys)
    assert code == 1
    assert (
        out.splitlines()[1]
        == "    index 't_pkey' on 't' is no longer used: now Index Scan on t using ix_t_v [seek]"
    )


def test_a_changed_plan_exits_1_with_the_worst_change_first(
    capsys: pytest.CaptureFixture[str],
) -> None:
    old, new = PLANS / "ok_mssql_seek_lookup.sqlplan", PLANS / "ok_mssql_table_scan.sqlplan"
    code, out, err = run([str(old), str(new)], capsys)
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert lines[0] == f"plan changed: {old} -> {new}"
    assert lines[1] == "    new scan: Table Scan on dbo.Change Log [scan] (was not read)"
    assert any(line.startswith("Nested Loops (Inner Join)") and " ! " in line for line in lines)
    code, out, _ = run([str(old), str(new), "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 1 and not data["same"] and data["changes"][0]["severity"] == 1
    assert data["old"]["tree"][0] == "Nested Loops (Inner Join)"


def test_ignored_aspects_and_the_cost_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = json.loads((PLANS / "ok_pg_seq_scan.json").read_text())
    text = json.dumps(plan)
    (tmp_path / "old.json").write_text(text)
    renamed = text.replace('"customers_pkey"', '"customers_id_idx"')
    (tmp_path / "renamed.json").write_text(renamed)
    files = [str(tmp_path / "old.json"), str(tmp_path / "renamed.json")]
    assert run(files, capsys)[0] == 1
    assert run([*files, "--ignore", "index-name"], capsys)[0] == 0
    costly = json.loads(text)
    costly[0]["Plan"]["Total Cost"] *= 1.5
    (tmp_path / "costly.json").write_text(json.dumps(costly))
    files = [str(tmp_path / "old.json"), str(tmp_path / "costly.json")]
    assert run(files, capsys)[0] == 0  # costs are compared only when asked
    code, out, _ = run([*files, "--max-cost-ratio", "1.1"], capsys)
    assert code == 1 and "x the recorded" in out and "(max_cost_ratio=1.1)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["only.json"], "plan diff takes two plan files, got 1: plan diff OLD NEW"),
        (["nope.json", "nope2.json"], "plan file 'nope.json' does not exist"),
        (
            ["{pg}", "{mssql}", "--ignore", "join-orders"],
            "unknown plan aspect 'join-orders' (did you mean 'join-order'?): ignore takes"
            " join-order, join-method, index-name",
        ),
        (
            ["{pg}", "{mssql}"],
            "cannot compare a postgresql plan ({pg}) with a mssql plan ({mssql})",
        ),
    ],
)
def test_errors_exit_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    names = {"pg": str(PLANS / "ok_pg_seq_scan.json"), "mssql": str(PLANS / "ok_mssql_udf.sqlplan")}
    code, out, err = run([a.format(**names) for a in args], capsys)
    assert (code, out) == (2, "")
    assert err == f"pytest-cdc plan: error: {message.format(**names)}\n"
