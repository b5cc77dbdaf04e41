"""Plan shapes: every normalisation rule of docs/plans.md, tested on real plans, live.

Each rule is checked against plans the server makes, on both PostgreSQL versions of the suite
(``cdc_db`` runs on the embedded 15 and on the wheel's 18: tests/conftest.py): the test first
shows that the raw plans really differ in what the rule is about (so it cannot pass by
accident), then that their shapes are the same.  SQL Server rules are checked on real saved
showplans (no SQL Server runs here).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_cdc.database import CdcConnection
from pytest_cdc.dialects.mssql import SqlServerDialect
from pytest_cdc.dialects.postgres.plans import DISABLE_COST, parse_explain_json
from pytest_cdc.errors import ConfigError
from pytest_cdc.plans.load import load_plan
from pytest_cdc.plans.shape import PlanShape, ShapeNode, ShapeRules, shape_of
from pytest_cdc.plans.shape_diff import compare_shapes, render_side_by_side
from pytest_cdc.plans.snapshot import statement_key, statement_rules, take_shape

SHOWPLANS = Path(__file__).resolve().parents[2].parent / "shared" / "showplans"


def major(db: CdcConnection) -> int:
    return int(db.fetchval("select current_setting('server_version_num')")) // 10000


def shape(db: CdcConnection, sql: str, mode: str = "planner", **kw: Any) -> PlanShape:
    return take_shape(db, sql, mode=mode, keep_gather=kw.get("keep_gather", False))


def raw_plan(db: CdcConnection, sql: str, options: str = "") -> dict[str, Any]:
    document = db.fetchval(f"explain (format json{options}) {sql}")
    return document[0]  # type: ignore[no-any-return]


def node_types(document: dict[str, Any]) -> list[str]:
    found = []
    stack = [document["Plan"]]
    while stack:
        node = stack.pop()
        found.append(node["Node Type"])
        stack.extend(node.get("Plans", []))
    return found


def setting(db: CdcConnection, **values: object) -> None:
    for name, value in values.items():
        db.execute(f"set local {name} = {value}")


# -- costs, rows and run-time counters -------------------------------------------------------


def test_costs_and_rows_are_not_the_shape_but_the_cost_gate_sees_them(
    cdc_db: CdcConnection,
) -> None:
    cdc_db.execute("create table t (id int primary key, v text)")
    cdc_db.execute("create index ix_t_v on t (v)")
    cdc_db.execute("insert into t select g, 'v' || (g % 7) from generate_series(1, 10) g")
    cdc_db.execute("analyze t")
    sql = "select id from t where v = 'v3' order by id"
    small = shape(cdc_db, sql, "index-possible")
    cdc_db.execute("insert into t select g, 'v' || (g % 7) from generate_series(11, 20000) g")
    cdc_db.execute("analyze t")
    big = shape(cdc_db, sql, "index-possible")
    assert big.cost is not None and small.cost is not None and big.cost > 1.1 * small.cost
    assert big.rows != small.rows
    assert big.statements == small.statements
    assert compare_shapes(small, big) == []
    (gate,) = compare_shapes(small, big, ShapeRules(max_cost_ratio=1.1))
    assert "recorded" in gate.text and "max_cost_ratio=1.1" in gate.text


def test_buffers_and_index_searches_are_not_the_shape(cdc_db: CdcConnection) -> None:
    cdc_db.execute("create table t (id int primary key, v text)")
    cdc_db.execute("insert into t select g, 'x' from generate_series(1, 100) g")
    sql = "select * from t where id in (3, 5, 7)"
    plain = raw_plan(cdc_db, sql)
    analysed = raw_plan(cdc_db, sql, ", analyze, buffers")
    text = json.dumps(analysed)
    assert "Shared Hit Blocks" in text and "Actual Rows" in text
    assert ("Index Searches" in text) == (major(cdc_db) >= 18)
    conventions = cdc_db.dialect.shape_conventions()
    a = shape_of(parse_explain_json([plain]), conventions)
    b = shape_of(parse_explain_json([analysed]), conventions)
    assert a.statements == b.statements
    assert compare_shapes(a, b) == []


# -- parallelism -------------------------------------------------------------------------------

PARALLEL = {
    "parallel_setup_cost": 0,
    "parallel_tuple_cost": 0,
    "min_parallel_table_scan_size": 0,
    "min_parallel_index_scan_size": 0,
}


@pytest.mark.parametrize(
    "sql",
    [
        "select count(*) from big",
        "select big.id from big join other on other.id = big.other_id where big.v < 50",
        "select id, v from big where v < 10 order by other_id",
    ],
    ids=["partial-aggregate", "parallel-hash-join", "gather-merge"],
)
def test_workers_and_gathers_are_not_the_shape(cdc_db: CdcConnection, sql: str) -> None:
    cdc_db.execute("create table other (id int primary key, name text)")
    cdc_db.execute("create table big (id int primary key, other_id int, v int)")
    cdc_db.execute("insert into other select g, 'n' from generate_series(1, 200) g")
    cdc_db.execute(
        "insert into big select g, g % 200 + 1, g % 100 from generate_series(1, 20000) g"
    )
    cdc_db.execute("analyze big; analyze other")
    setting(cdc_db, max_parallel_workers_per_gather=0)
    serial_raw = node_types(raw_plan(cdc_db, sql))
    serial = shape(cdc_db, sql)
    setting(cdc_db, max_parallel_workers_per_gather=4, **PARALLEL)
    parallel_raw = node_types(raw_plan(cdc_db, sql))
    parallel = shape(cdc_db, sql)
    assert not any(t.startswith("Gather") for t in serial_raw)
    assert any(t.startswith("Gather") for t in parallel_raw), parallel_raw
    assert compare_shapes(serial, parallel) == [], render_side_by_side(serial, parallel)
    kept = shape(cdc_db, sql, keep_gather=True)
    assert any(n.op.startswith("Gather") for n in kept.nodes())
    setting(cdc_db, max_parallel_workers_per_gather=1)
    one_worker = shape(cdc_db, sql, keep_gather=True)
    assert compare_shapes(kept, one_worker) == []  # worker counts are never in a shape


# -- decorations -------------------------------------------------------------------------------


def test_materialize_and_memoize_are_not_the_shape(cdc_db: CdcConnection) -> None:
    cdc_db.execute("create table outer_t (id int primary key, k int)")
    cdc_db.execute("create table inner_t (id int primary key, k int, pad text)")
    cdc_db.execute("create index ix_inner_k on inner_t (k)")
    cdc_db.execute("insert into outer_t select g, g % 10 from generate_series(1, 2000) g")
    cdc_db.execute("insert into inner_t select g, g % 500, 'p' from generate_series(1, 5000) g")
    cdc_db.execute("analyze outer_t; analyze inner_t")
    setting(cdc_db, enable_hashjoin="off", enable_mergejoin="off")
    cases = [
        ("select * from outer_t o join inner_t i on i.k = o.k", "enable_memoize", "Memoize"),
        (
            "select * from outer_t o join inner_t i on i.k + 0 < o.k",
            "enable_material",
            "Materialize",
        ),
    ]
    for sql, knob, decoration in cases:
        setting(cdc_db, **{knob: "on"})
        decorated = shape(cdc_db, sql)
        assert decoration in node_types(raw_plan(cdc_db, sql)), sql
        setting(cdc_db, **{knob: "off"})
        assert decoration not in node_types(raw_plan(cdc_db, sql)), sql
        bare = shape(cdc_db, sql)
        assert compare_shapes(decorated, bare) == [], render_side_by_side(decorated, bare)


def test_bitmap_index_only_and_index_scans_are_one_index_read(cdc_db: CdcConnection) -> None:
    cdc_db.execute("create table t (id int primary key, v int, pad text)")
    cdc_db.execute("create index ix_t_v on t (v)")
    cdc_db.execute("insert into t select g, g % 1000, 'p' from generate_series(1, 10000) g")
    cdc_db.execute("analyze t")
    sql = "select v from t where v between 10 and 40"
    seen = {}
    for knobs in (
        {"enable_bitmapscan": "off", "enable_indexonlyscan": "off"},
        {"enable_indexscan": "off", "enable_indexonlyscan": "off"},
        {"enable_bitmapscan": "off"},
    ):
        setting(cdc_db, enable_bitmapscan="on", enable_indexscan="on", enable_indexonlyscan="on")
        setting(cdc_db, enable_seqscan="off", **knobs)
        top = next(t for t in node_types(raw_plan(cdc_db, sql)) if "Scan" in t)
        seen[top] = shape(cdc_db, sql)
    assert set(seen) == {"Index Scan", "Bitmap Heap Scan", "Index Only Scan"}
    shapes = list(seen.values())
    assert all(compare_shapes(shapes[0], other) == [] for other in shapes[1:])
    (root,) = shapes[0].statements
    assert root == ShapeNode("Index Scan", relation="t", index="ix_t_v", access="seek")


def test_an_index_read_without_a_condition_is_a_scan(cdc_db: CdcConnection) -> None:
    cdc_db.execute("create table t (id int primary key, v int)")
    cdc_db.execute("insert into t select g, g from generate_series(1, 1000) g")
    cdc_db.execute("analyze t")
    setting(cdc_db, enable_seqscan="off")
    raw = raw_plan(cdc_db, "select count(*) from t")
    assert "Index Cond" not in json.dumps(raw)
    assert node_types(raw)[1] in ("Bitmap Heap Scan", "Index Only Scan")
    (root,) = shape(cdc_db, "select count(*) from t", "index-possible").statements
    assert root is not None
    assert root.children == (ShapeNode("Index Scan", relation="t", index="t_pkey", access="scan"),)


# -- joins ---------------------------------------------------------------------------------------


def test_right_joins_are_their_left_mirror(cdc_db: CdcConnection) -> None:
    cdc_db.execute("create table l (id int, name text)")
    cdc_db.execute("create table r (id int, l_id int)")
    setting(cdc_db, enable_mergejoin="off", enable_nestloop="off")
    sql = "select * from l left join r on r.l_id = l.id"
    shapes, join_types = [], set()
    for l_rows, r_rows in ((10, 20000), (20000, 10)):
        cdc_db.execute("truncate l, r")
        cdc_db.execute(f"insert into l select g, 'n' from generate_series(1, {l_rows}) g")
        cdc_db.execute(f"insert into r select g, g % 10 from generate_series(1, {r_rows}) g")
        cdc_db.execute("analyze l; analyze r")
        join_types.add(raw_plan(cdc_db, sql)["Plan"]["Join Type"])
        shapes.append(shape(cdc_db, sql))
    assert join_types == {"Left", "Right"}
    assert compare_shapes(*shapes) == [], render_side_by_side(*shapes)
    assert [n.relation for n in shapes[0].nodes() if n.relation] == ["l", "r"]


# -- partitions ----------------------------------------------------------------------------------


def test_partitions_and_their_indexes_are_named_by_the_parent(cdc_db: CdcConnection) -> None:
    cdc_db.execute("create table ev (id int, at date) partition by range (at)")
    cdc_db.execute(
        "create table ev_2024 partition of ev for values from ('2024-01-01') to ('2025-01-01')"
    )
    cdc_db.execute(
        "create table ev_2025 partition of ev for values from ('2025-01-01') to ('2026-01-01')"
    )
    cdc_db.execute("create index ix_ev_id on ev (id)")
    cdc_db.execute(
        "insert into ev select g, date '2024-06-01' + g % 400 from generate_series(1, 800) g"
    )
    sql = "select * from ev e where id = 5"
    raw = json.dumps(raw_plan(cdc_db, sql))
    assert "ev_2024" in raw and "ev_2025" in raw and "ev_2024_id_idx" in raw
    two = shape(cdc_db, sql, "index-possible")
    parent = ShapeNode("Index Scan", relation="ev", index="ix_ev_id", access="seek")
    assert two.statements == (parent,)
    cdc_db.execute(
        "create table ev_2026 partition of ev for values from ('2026-01-01') to ('2027-01-01')"
    )
    assert compare_shapes(two, shape(cdc_db, sql, "index-possible")) == []
    pruned = shape(cdc_db, "select * from ev where id = 5 and at = '2024-07-01'", "index-possible")
    assert compare_shapes(two, pruned) == []


# -- disabled nodes --------------------------------------------------------------------------------


def test_disabled_nodes_look_the_same_on_every_version(cdc_db: CdcConnection) -> None:
    cdc_db.execute("create table nokey (id int, v text)")
    cdc_db.execute("insert into nokey select g, 'x' from generate_series(1, 50) g")
    cdc_db.execute("analyze nokey")
    sql = "select * from nokey where id = 3"
    setting(cdc_db, enable_seqscan="off")
    node = raw_plan(cdc_db, sql)["Plan"]
    if major(cdc_db) >= 18:
        assert node["Disabled"] is True and node["Total Cost"] < DISABLE_COST
    else:
        assert "Disabled" not in node and node["Total Cost"] >= DISABLE_COST
    cdc_db.execute("reset enable_seqscan")
    possible = shape(cdc_db, sql, "index-possible")
    planner = shape(cdc_db, sql, "planner")
    assert possible.statements == (
        ShapeNode("Seq Scan", relation="nokey", access="scan", disabled=True),
    )
    assert possible.cost == planner.cost  # 1e10 taken off again on 15


# -- statement keys and directives --------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("select * from t where id = 1", "SELECT * FROM t WHERE id = 2"),
        ("select * from t where s = 'a''b'", "select * from t where s = E'x\\'y'"),
        ("select * from t where id in (1, 2, 3)", "select * from t where id in (4)"),
        ("select * from t -- why\n where x = $$a$$", "select * from t where x = $q$b$q$"),
        ("select * from t where d > 1.5e3", "select  *\n from t where d >  .5"),
    ],
)
def test_literals_and_comments_do_not_make_new_entries(a: str, b: str) -> None:
    assert statement_key(a).lower() == statement_key(b).lower()


def test_statement_keys_keep_what_matters() -> None:
    assert statement_key("select * from t1 where c2 = $1", "src") == (
        "[src] select * from t1 where c2 = $1"
    )
    assert statement_key('select "a1" from t where x = %s') != statement_key(
        'select "a2" from t where x = %s'
    )
    assert statement_key("select * from t where id = %(id)s;") == (
        "select * from t where id = %(id)s"
    )


def test_directives_in_comments() -> None:
    base = ShapeRules()
    assert statement_rules("select 1 -- cdc: plan-skip", base).skip
    rules = statement_rules(
        "select 1 /* cdc: plan-ignore=join-order,index-name plan-keep=gather */"
        " -- cdc: plan-max-cost-ratio=1.25 noqa: CDC101",
        ShapeRules(ignore=frozenset({"join-method"})),
    )
    assert rules.ignore == {"join-order", "index-name", "join-method"}
    assert rules.keep_gather and rules.max_cost_ratio == 1.25 and not rules.skip
    for bad, message in (
        ("-- cdc: plan-ignor=join-order", "did you mean 'plan-ignore'"),
        ("-- cdc: plan-ignore=joins", "unknown plan aspect 'joins'"),
        ("-- cdc: plan-keep=workers", "plan-keep takes 'gather'"),
        ("-- cdc: plan-max-cost-ratio=lots", "takes a number"),
        ("-- cdc: plan-max-cost-ratio=-1", "not a positive number"),
    ):
        with pytest.raises(ConfigError, match=re.escape(message)):
            statement_rules(f"select 1 {bad}", base)


def test_ignored_aspects_make_shapes_alike() -> None:
    def node(op: str, join: str | None = None, **kw: Any) -> ShapeNode:
        return ShapeNode(op, join=join, **kw)

    a_scan = node("Index Scan", relation="a", index="ix_a", access="seek")
    b_scan = node("Index Scan", relation="b", index="ix_b", access="seek")
    b_other = node("Index Scan", relation="b", index="ix_b2", access="seek")
    old = PlanShape("postgresql", (node("Hash Join", "Inner", children=(a_scan, b_scan)),))
    swapped = PlanShape("postgresql", (node("Nested Loop", "Inner", children=(b_other, a_scan)),))
    assert [c.text for c in compare_shapes(old, swapped)] == [
        "index 'ix_b' on 'b' is no longer used: now Index Scan on b using ix_b2 [seek]",
        "join method changed: Hash Join (Inner) -> Nested Loop (Inner)",
        "join order changed: a, b -> b, a",
    ]
    rules = ShapeRules(ignore=frozenset({"join-order", "join-method", "index-name"}))
    assert compare_shapes(old, swapped, rules) == []
    assert compare_shapes(old, swapped, ShapeRules(ignore=frozenset({"join-order"}))) != []


def test_the_worst_change_comes_first_and_names_the_index() -> None:
    seek = ShapeNode("Index Scan", relation="orders", index="ix_orders_status", access="seek")
    scan = ShapeNode("Seq Scan", relation="orders", access="scan", disabled=True)
    sort = ShapeNode("Sort", children=(scan,))
    before = PlanShape("postgresql", (seek,))
    after = PlanShape("postgresql", (sort,))
    changes = compare_shapes(before, after, table_rows=lambda relation: 123456)
    assert changes[0].text == (
        "index 'ix_orders_status' on 'orders' is no longer used: now Seq Scan on orders"
        " [scan, disabled] (123,456 rows)"
    )
    assert [c.text for c in changes[1:]] == ["new Sort"]
    side = render_side_by_side(before, after, titles=("recorded", "now"))
    assert side.splitlines() == [
        "recorded                                           | now",
        "Index Scan on orders using ix_orders_status [seek] ! Sort",
        " " * 51 + ">   -> Seq Scan on orders [scan, disabled]",
    ]


# -- SQL Server: real showplans -------------------------------------------------------------

MSSQL = SqlServerDialect().shape_conventions()


@pytest.fixture
def recommendations() -> str:
    path = SHOWPLANS / "sqltoolsservice__TestShowPlanRecommendations.xml"
    if not path.exists():
        pytest.skip(f"needs the shared showplan samples in {SHOWPLANS}")
    return path.read_bytes().decode("utf-8-sig")


def test_sqlserver_compute_scalar_goes_and_right_outer_joins_are_mirrored(
    recommendations: str,
) -> None:
    plan = load_plan(SHOWPLANS / "sqltoolsservice__TestShowPlanRecommendations.xml")
    assert any(n.operator == "Compute Scalar" for n in plan.nodes())
    assert any(n.logical_operator == "Right Outer Join" for n in plan.nodes())
    got = shape_of(plan, MSSQL)
    ops = {n.op for n in got.nodes()}
    joins = {n.join for n in got.nodes() if n.join}
    assert "Compute Scalar" not in ops
    assert "Right Outer Join" not in joins and "Left Outer Join" in joins
    # The same plan written with the join's inputs the other way round is the same shape.
    from pytest_cdc.dialects.mssql.plans import parse_showplan

    mirrored = parse_showplan(_swap_first_right_join(recommendations))
    assert any(n.logical_operator == "Left Outer Join" for n in mirrored.nodes())
    assert compare_shapes(got, shape_of(mirrored, MSSQL)) == []


def _swap_first_right_join(xml: str) -> str:
    """The showplan with its first Right Outer Join written as the Left Outer Join of its two
    inputs in the other order (what SQL Server may choose on another machine)."""
    import xml.etree.ElementTree as ET

    ns = "{http://schemas.microsoft.com/sqlserver/2004/07/showplan}"
    ET.register_namespace("", ns[1:-1])
    root = ET.fromstring(xml)
    for relop in root.iter(f"{ns}RelOp"):
        if relop.get("LogicalOp") == "Right Outer Join":
            relop.set("LogicalOp", "Left Outer Join")
            hash_el = relop.find(f"{ns}Hash")
            assert hash_el is not None
            inputs = hash_el.findall(f"{ns}RelOp")
            assert len(inputs) == 2
            for child in inputs:
                hash_el.remove(child)
            hash_el.extend(reversed(inputs))
            break
    return ET.tostring(root, encoding="unicode")


def test_sqlserver_parallelism_is_not_the_shape(recommendations: str) -> None:
    """A stand-in for a parallel plan (no SQL Server here to make one): the real plan with
    its first join under a Gather Streams exchange and a partial aggregate."""
    plan = load_plan(SHOWPLANS / "sqltoolsservice__TestShowPlanRecommendations.xml")
    wrapped = re.sub(
        r'(<RelOp [^>]*PhysicalOp="Hash Match"[^>]*>)',
        lambda m: (
            '<RelOp NodeId="900" PhysicalOp="Parallelism" LogicalOp="Gather Streams"'
            ' EstimateRows="1" EstimatedTotalSubtreeCost="1"><OutputList/><Parallelism>'
            + m.group(1)
        ),
        recommendations,
        count=1,
    )
    # close the two elements after the Hash Match's own end tag
    start = wrapped.index('PhysicalOp="Parallelism"')
    depth, pos = 0, wrapped.index("<RelOp", start + 1)
    for match in re.finditer(r"<RelOp\b|</RelOp>", wrapped[pos:]):
        depth += 1 if match.group() != "</RelOp>" else -1
        if depth == 0:
            end = pos + match.end()
            wrapped = wrapped[:end] + "</Parallelism></RelOp>" + wrapped[end:]
            break
    parallel = load_plan_text(wrapped)
    assert any(n.operator == "Parallelism" for n in parallel.nodes())
    assert compare_shapes(shape_of(plan, MSSQL), shape_of(parallel, MSSQL)) == []
    kept = shape_of(parallel, MSSQL, keep_gather=True)
    assert compare_shapes(shape_of(plan, MSSQL), kept) != []


def load_plan_text(xml: str) -> Any:
    from pytest_cdc.dialects.mssql.plans import parse_showplan

    return parse_showplan(xml)


def test_every_rule_docs_plans_lists_names_a_test_that_exists() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "plans.md").read_text()
    table = docs.split("### Normalisation rules", 1)[1].split("### Statistics", 1)[0]
    named = set(re.findall(r"`(test_\w+)`", table))
    defined = {
        match
        for path in Path(__file__).resolve().parent.glob("test_*.py")
        for match in re.findall(r"^def (test_\w+)", path.read_text(), re.M)
    }
    assert len(named) >= 10 and named <= defined, named - defined
