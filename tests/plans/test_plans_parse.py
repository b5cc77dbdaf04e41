"""Plan parsing: PostgreSQL JSON plans and SQL Server showplans (hand-written and real)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_cdc.dialects.mssql.plans import decode_showplan, parse_showplan
from pytest_cdc.dialects.postgres.plans import map_partitions, parse_explain_json
from pytest_cdc.errors import PlanFileError, PlanFormatError
from pytest_cdc.plans.load import load_plan
from pytest_cdc.plans.render import render_plan

HERE = Path(__file__).resolve().parent
SHOWPLANS = Path(__file__).resolve().parents[2] / ".." / "shared" / "showplans"


def real(name: str) -> Path:
    path = SHOWPLANS / name
    if not path.exists():
        pytest.skip(f"real showplans not present beside the repo ({SHOWPLANS})")
    return path


# -- PostgreSQL ----------------------------------------------------------------------------


def test_pg_seq_scan_is_a_scan_and_index_scan_a_seek() -> None:
    plan = load_plan(HERE / "ok_pg_seq_scan.json")
    assert plan.dialect == "postgresql"
    scans = [(n.operator, n.relation, n.alias) for n in plan.scans()]
    assert scans == [("Seq Scan", "orders", "o")]
    assert [(n.operator, n.index) for n in plan.seeks()] == [("Index Scan", "customers_pkey")]
    assert plan.root is not None
    assert plan.root.logical_operator == "Inner"
    assert plan.cost == pytest.approx(35.52)
    assert plan.relations() == {"orders", "customers"}
    assert not plan.actual


def test_pg_parallel_seq_scans_on_partitions_map_to_parent() -> None:
    plan = load_plan(HERE / "ok_pg_parallel_partitions.json")
    scans = plan.scans()
    assert [n.operator for n in scans] == ["Parallel Seq Scan", "Parallel Seq Scan"]
    mapped = map_partitions(plan, {"events_2024": "events", "events_2025": "events"})
    assert {(n.relation, n.partition) for n in mapped.scans()} == {
        ("events", "events_2024"),
        ("events", "events_2025"),
    }
    assert "Parallel Seq Scan on events (partition events_2024)" in render_plan(mapped)
    assert map_partitions(plan, {}) is plan


@pytest.mark.parametrize("name", ["ok_pg15_disabled.json", "ok_pg18_disabled.json"])
def test_disabled_seq_scan_both_generations(name: str) -> None:
    plan = load_plan(HERE / name)
    (node,) = plan.scans()
    assert node.disabled
    assert "[disabled]" in render_plan(plan)


def test_pg_analyze_totals_loops_and_flags_disk_sort() -> None:
    plan = load_plan(HERE / "ok_pg_analyze_sort_disk.json")
    assert plan.actual
    root = plan.root
    assert root is not None
    (child,) = root.children
    assert child.actual_rows == 100000
    assert child.loops == 4
    assert plan.execution_time_ms == pytest.approx(185.7)
    assert any("sort spilled to disk" in w for w in plan.warnings)


def test_pg_index_scan_without_cond_is_a_full_scan_unless_limited() -> None:
    node = {
        "Node Type": "Index Scan",
        "Index Name": "t_pkey",
        "Relation Name": "t",
        "Total Cost": 60.0,
        "Plan Rows": 1000,
    }
    assert parse_explain_json([{"Plan": node}]).scans()
    limited = {"Node Type": "Limit", "Total Cost": 1.0, "Plan Rows": 10, "Plans": [node]}
    assert not parse_explain_json([{"Plan": limited}]).scans()


def test_pg_json_accepts_text_bytes_and_objects() -> None:
    text = (HERE / "ok_pg_seq_scan.json").read_text()
    assert parse_explain_json(text).scans() == parse_explain_json(text.encode()).scans()
    with pytest.raises(PlanFormatError, match="no 'Plan' object"):
        parse_explain_json([{"rows": 1}])


# -- SQL Server: hand-written ----------------------------------------------------------------


def test_key_lookup_is_not_a_scan_and_booleans_as_digits() -> None:
    plan = load_plan(HERE / "ok_mssql_seek_lookup.sqlplan")
    assert plan.dialect == "mssql"
    assert plan.scans() == []
    assert [(n.operator, n.index) for n in plan.lookups()] == [("Key Lookup", "PK_Orders")]
    assert [(n.operator, n.schema, n.relation) for n in plan.seeks()] == [
        ("Index Seek", "dbo", "Orders")
    ]


def test_table_scan_missing_index_and_implicit_conversion() -> None:
    plan = load_plan(HERE / "ok_mssql_table_scan.sqlplan")
    (scan,) = plan.scans()
    assert (scan.operator, scan.relation, scan.index) == ("Table Scan", "Change Log", None)
    assert dict(scan.details)["TableCardinality"] == "250000"
    (mi,) = plan.missing_indexes
    assert (mi.table, mi.equality, mi.inequality, mi.include, mi.impact) == (
        "Change Log",
        ("Status",),
        ("Updated",),
        ("Id",),
        98.5,
    )
    assert any(w.startswith("implicit conversion affects seek plan") for w in plan.warnings)


def test_columnstore_scan_reported_as_columnstore_with_actual_rows() -> None:
    plan = load_plan(HERE / "ok_mssql_columnstore_actual.sqlplan")
    (scan,) = plan.scans()
    assert scan.is_columnstore
    assert "(columnstore)" in scan.label
    assert scan.actual_rows == 1_000_000
    assert scan.loops == 2
    assert plan.actual
    assert plan.execution_time_ms == 42
    assert any("spill to tempdb" in w for w in plan.warnings)


@pytest.mark.parametrize(
    ("name", "first_bytes"),
    [
        ("ok_mssql_utf16le_bom.sqlplan", b"\xff\xfe"),
        ("ok_mssql_utf16be_bom.sqlplan", b"\xfe\xff"),
        ("ok_mssql_utf8_bom.sqlplan", b"\xef\xbb\xbf"),
    ],
)
def test_encodings_decided_by_bom_not_declaration(name: str, first_bytes: bytes) -> None:
    data = (HERE / name).read_bytes()
    assert data.startswith(first_bytes)
    plan = load_plan(HERE / name)
    assert plan.scans() or plan.lookups()


def test_utf8_text_claiming_utf16_parses() -> None:
    data = (HERE / "ok_mssql_table_scan.sqlplan").read_bytes()
    assert b'encoding="utf-16"' in data
    assert not data.startswith(b"\xff\xfe")
    assert parse_showplan(data).scans()
    assert decode_showplan(data).lstrip().startswith("<ShowPlanXML")


def test_doctype_is_refused() -> None:
    with pytest.raises(PlanFileError, match="DOCTYPE or ENTITY"):
        load_plan(HERE / "bad_doctype.sqlplan")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_truncated.sqlplan", "not well-formed xml"),
        ("bad_wrong_root.xml", "root element is 'project'"),
        ("bad_truncated.json", "not a json plan"),
        ("bad_not_a_plan.json", "no 'Plan' object"),
        ("bad_empty.sqlplan", "is empty"),
        ("no_such_file.sqlplan", "does not exist"),
    ],
)
def test_bad_files_one_line_errors(name: str, message: str) -> None:
    with pytest.raises(PlanFileError, match=message) as info:
        load_plan(HERE / name)
    assert "\n" not in str(info.value)
    assert name in str(info.value)


def test_directory_is_not_a_plan() -> None:
    with pytest.raises(PlanFileError, match="is a directory"):
        load_plan(HERE)


# -- SQL Server: real plans from ../shared/showplans --------------------------------------------


def test_real_recommendations_plan_table_scans_and_missing_indexes() -> None:
    plan = load_plan(real("sqltoolsservice__TestShowPlanRecommendations.xml"))
    assert len(plan.statements) == 4
    ops = {n.operator for n in plan.scans()}
    assert ops == {"Table Scan", "Index Scan", "Clustered Index Scan"}
    assert {n.relation for n in plan.find("Table Scan")} == {"t1", "t2"}
    assert len(plan.missing_indexes) == 3
    assert {mi.table for mi in plan.missing_indexes} == {"t1", "t2"}


def test_real_vscode_plan_has_digit_booleans_and_no_declaration() -> None:
    path = real("vscode-mssql__plan.sqlplan")
    assert not path.read_bytes().lstrip().startswith(b"<?xml")
    plan = load_plan(path)
    assert plan.scans()
    assert plan.seeks()
    assert plan.lookups() == []


def test_real_inequality_index_missing_index_columns_and_aliases() -> None:
    plan = load_plan(real("html-query-plan__stack_overflow~inequality_index.sqlplan"))
    assert plan.actual
    assert {(n.relation, n.alias) for n in plan.scans()} == {("Users", "u"), ("Posts", "p")}
    (mi,) = plan.missing_indexes
    assert (mi.table, mi.equality, mi.inequality, mi.include) == (
        "Posts",
        ("PostTypeId",),
        ("Score",),
        ("CommentCount", "OwnerUserId"),
    )


@pytest.mark.parametrize(
    "name", ["html-query-plan__KeyLookup.sqlplan", "html-query-plan__rid_lookup.sqlplan"]
)
def test_real_lookups_are_not_scans(name: str) -> None:
    plan = load_plan(real(name))
    assert plan.scans() == []
    assert len(plan.lookups()) == 1
    assert len(plan.seeks()) == 1


def test_real_rid_lookup_names_the_heap() -> None:
    plan = load_plan(real("html-query-plan__rid_lookup.sqlplan"))
    (lookup,) = plan.lookups()
    assert (lookup.operator, lookup.relation) == ("RID Lookup", "DatabaseLog")


def test_real_clustered_index_seek_2008() -> None:
    plan = load_plan(real("html-query-plan__clustered_index_seek.sqlplan"))
    assert [n.operator for n in plan.nodes()] == ["Clustered Index Seek"]
    assert plan.scans() == []


def test_real_batch_mode_columnstore_with_utf8_bom() -> None:
    path = real("html-query-plan__batch_mode.sqlplan")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    (scan,) = load_plan(path).scans()
    assert scan.operator == "Clustered Index Scan"
    assert scan.is_columnstore


def test_real_utf16_index_insert() -> None:
    path = real("html-query-plan__index_insert.sqlplan")
    assert path.read_bytes().startswith(b"\xff\xfe")
    plan = load_plan(path)
    assert [n.operator for n in plan.scans()] == ["Index Scan"]


def test_real_statements_without_relops() -> None:
    plan = load_plan(real("html-query-plan__StmtCond.sqlplan"))
    assert plan.statements
    assert all(s.root is None for s in plan.statements)
    assert plan.root is None
    assert list(plan.nodes()) == []
    assert "(no operators)" in render_plan(plan)


def test_render_marks_offending_nodes_with_figures() -> None:
    plan = load_plan(HERE / "ok_mssql_table_scan.sqlplan")
    text = render_plan(plan, marked=plan.scans())
    line = next(line for line in text.splitlines() if line.startswith(">>"))
    assert "Table Scan on dbo.Change Log" in line
    assert "rows=40" in line
    assert "cost=12.5" in line
    assert "[Status]=N'open'" in text
    assert not render_plan(plan).count(">>")


def test_to_dict_round_trips_through_json() -> None:
    import json

    plan = load_plan(HERE / "ok_mssql_seek_lookup.sqlplan")
    data = json.loads(json.dumps(plan.to_dict()))
    root = data["statements"][0]["plan"]
    assert root["operator"] == "Nested Loops"
    assert [c["operator"] for c in root["children"]] == ["Index Seek", "Key Lookup"]


def test_disabled_nodes_count_in_index_possible_mode() -> None:
    from pytest_cdc.asserts import offending_scans

    disabled_index_scan = {
        "Node Type": "Bitmap Heap Scan",
        "Relation Name": "t",
        "Disabled": True,
        "Total Cost": 5.0,
        "Plan Rows": 3,
        "Recheck Cond": "(a = 1)",
    }
    plan = parse_explain_json([{"Plan": disabled_index_scan}])
    assert plan.scans() == []
    assert offending_scans(plan) == []
    assert [n.relation for n in offending_scans(plan, disabled=True)] == ["t"]
    assert offending_scans(plan, disabled=True, allow="t") == []


_TEMPLATE = (
    '<?xml version="1.0" encoding="{claim}"?>'
    '<ShowPlanXML xmlns="http://schemas.microsoft.com/sqlserver/2004/07/showplan">'
    "<BatchSequence><Batch><Statements>"
    '<StmtSimple StatementText="{text}" StatementType="SELECT"/>'
    "</Statements></Batch></BatchSequence></ShowPlanXML>"
)


@pytest.mark.parametrize("claim", ["utf-8", "utf-16"])
@pytest.mark.parametrize(
    ("prefix", "codec"),
    [
        (b"", "utf-8"),
        (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ],
)
def test_statement_text_survives_every_encoding(claim: str, prefix: bytes, codec: str) -> None:
    from xml.sax.saxutils import escape

    from hypothesis import given, settings
    from hypothesis import strategies as st

    # XML 1.0 characters only; attribute values normalise whitespace, so leave those out.
    chars = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff")

    @settings(max_examples=30, deadline=None)
    @given(st.text(chars, max_size=40))
    def check(text: str) -> None:
        doc = _TEMPLATE.format(claim=claim, text=escape(text, {'"': "&quot;"}))
        plan = parse_showplan(prefix + doc.encode(codec))
        assert plan.statements[0].text == text

    check()


def test_udf_body_is_a_statement_of_its_own() -> None:
    plan = load_plan(HERE / "ok_mssql_udf.sqlplan")
    outer, body = plan.statements
    assert [n.operator for n in outer.nodes()] == ["Compute Scalar", "Clustered Index Seek"]
    assert [n.label for n in body.nodes()] == ["Table Scan on dbo.Orders"]
    assert [n.relation for n in plan.scans()] == ["Orders"]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_bomless_utf16_is_recognised(codec: str) -> None:
    text = (HERE / "ok_mssql_seek_lookup.sqlplan").read_text(encoding="utf-8")
    assert len(parse_showplan(text.encode(codec)).lookups()) == 1


def test_bytes_that_are_neither_utf8_nor_utf16_are_refused() -> None:
    with pytest.raises(PlanFormatError, match=r"not utf-8 or utf-16 text \(byte 1\)"):
        parse_showplan(b"<\xff\xfe ShowPlanXML/>")


def test_text_input_with_bom_character() -> None:
    text = "\ufeff" + (HERE / "ok_mssql_table_scan.sqlplan").read_text(encoding="utf-8")
    assert parse_showplan(text).scans()
