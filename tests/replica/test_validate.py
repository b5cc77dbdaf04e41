"""validate_replica() end to end on the running server: a replica of two schemas' worth of
tables in which every way a table can end (validated, mismatched, missing, no key, an
uncomparable or incompatible column, a failed query) is present, with odd identifiers, lossy
columns and a where; then tiers, stop-early, the connection budget, the failure thresholds,
sharding and shard merging, and the report's formats.

Both sides are schemas of the one server (``helpers.server_url()``): the source's
schemas map onto the target's.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import connect, logged, schemas, server_url

from pytest_cdc.errors import ConfigError
from pytest_cdc.replica import (
    ReplicaReport,
    Shard,
    TableResult,
    merge_reports,
    shard_plan,
    validate_replica,
)
from pytest_cdc.replica.report import FAILING
from pytest_cdc.schema.report import ColumnReport, TableReport

ODD = 'Odd.Na"me \u00dcn\u00ef|x'
ODD_KEY, ODD_TEXT, ODD_NUMBER = "Key Col", 'quo"te', "\u00dcn\u00ef.c\u00f6de"
ALL_TIERS = ["schema", "count", "aggregates", "checksum"]


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclasses.dataclass
class Replica:
    """Source schemas a, b; target schemas ta, tb; and the mapping pairing them."""

    a: str
    b: str
    ta: str
    tb: str

    @property
    def mapping(self) -> dict[str, Any]:
        return {
            "schemas": {self.a: self.ta, self.b: self.tb},
            "tables": {
                f"{self.b}.windowed": {"where": "id <= 90", "target-where": "id BETWEEN 1 AND 90"},
                f"{self.a}.broken": {"where": "no_such_column > 0"},
            },
        }

    def states(self, report: ReplicaReport) -> dict[str, str]:
        short = {f"{self.a}.": "a.", f"{self.b}.": "b."}
        out = {}
        for table in report.tables:
            name = table.source_table
            for prefix, alias in short.items():
                if name.startswith(prefix):
                    name = alias + name[len(prefix) :]
            out[name] = table.state
        return out

    def table(self, report: ReplicaReport, schema: str, name: str) -> TableResult:
        wanted = f"{getattr(self, schema)}.{name}"
        return next(t for t in report.tables if t.source_table == wanted)


def build(pg: Any, r: Replica) -> None:
    cur = pg.cursor()

    def both(sql: str, source: str, target: str) -> None:
        for schema in (source, target):
            cur.execute(sql.format(s=q(schema)))

    a, ta, b, tb = r.a, r.ta, r.b, r.tb
    both(
        "CREATE TABLE {s}.orders (id int PRIMARY KEY, total numeric(12,2), placed timestamp(6),"
        " note text)",
        a,
        ta,
    )
    both(
        "INSERT INTO {s}.orders SELECT g, g * 1.5, timestamp '2020-01-01 00:00:00.000001'"
        " + g * interval '1.000001 s', 'n\u00e9' || g FROM generate_series(1, 300) AS g",
        a,
        ta,
    )
    both(
        "CREATE TABLE {s}.lines (order_id int, line int, qty int, PRIMARY KEY (order_id, line))",
        a,
        ta,
    )
    both("INSERT INTO {s}.lines SELECT g / 3, g % 3, g FROM generate_series(1, 90) AS g", a, ta)
    cur.execute(f"UPDATE {q(ta)}.lines SET qty = 1000 + qty WHERE order_id = 4 AND line = 1")
    cur.execute(f"CREATE TABLE {q(a)}.gone (id int PRIMARY KEY)")
    cur.execute(f"CREATE TABLE {q(ta)}.target_only (id int PRIMARY KEY)")
    both("CREATE TABLE {s}.nokey (a int, b text)", a, ta)
    both("INSERT INTO {s}.nokey VALUES (1, 'x'), (2, NULL)", a, ta)
    both("CREATE TABLE {s}.shapes (id int PRIMARY KEY, p point, d interval)", a, ta)
    both("INSERT INTO {s}.shapes VALUES (1, point(1, 2), interval '1 day')", a, ta)
    cur.execute(f"CREATE TABLE {q(a)}.kinds (id int PRIMARY KEY, v text)")
    cur.execute(f"CREATE TABLE {q(ta)}.kinds (id int PRIMARY KEY, v integer)")
    both("CREATE TABLE {s}.broken (id int PRIMARY KEY)", a, ta)
    both(
        f"CREATE TABLE {{s}}.{q(ODD)} ({q(ODD_KEY)} int PRIMARY KEY, {q(ODD_TEXT)} text,"
        f" {q(ODD_NUMBER)} numeric)",
        b,
        tb,
    )
    both(
        f"INSERT INTO {{s}}.{q(ODD)} SELECT g, 'q\u00e9' || g, g FROM generate_series(1, 50) AS g",
        b,
        tb,
    )
    cur.execute(f"UPDATE {q(tb)}.{q(ODD)} SET {q(ODD_NUMBER)} = 0 WHERE {q(ODD_KEY)} = 7")
    # timestamp(6) replicated as timestamp(3): lossy, compared at milliseconds.
    for name in ("lossy", "lossy_bad"):
        cur.execute(f"CREATE TABLE {q(b)}.{name} (id int PRIMARY KEY, at timestamp(6))")
        cur.execute(f"CREATE TABLE {q(tb)}.{name} (id int PRIMARY KEY, at timestamp(3))")
        both(
            f"INSERT INTO {{s}}.{name} SELECT g, timestamp '2020-01-01 00:00:00.123456'"
            " + g * interval '1 s' FROM generate_series(1, 40) AS g",
            b,
            tb,
        )
    cur.execute(f"UPDATE {q(tb)}.lossy_bad SET at = at + interval '1 ms' WHERE id = 5")
    both("CREATE TABLE {s}.windowed (id int PRIMARY KEY, v text)", b, tb)
    both("INSERT INTO {s}.windowed SELECT g, 'v' || g FROM generate_series(1, 100) AS g", b, tb)
    cur.execute(f"UPDATE {q(tb)}.windowed SET v = 'late' WHERE id > 90")
    cur.execute(f"INSERT INTO {q(tb)}.windowed VALUES (0, 'only the target has it')")


@pytest.fixture(scope="module")
def replica(pg: Any) -> Iterator[Replica]:
    with schemas(pg, 4) as names:
        r = Replica(*names)
        build(pg, r)
        yield r


@pytest.fixture(scope="module")
def report(replica: Replica) -> ReplicaReport:
    return validate_replica(server_url(), server_url(), mapping=replica.mapping)


# -- what each table ends in --------------------------------------------------------------------
EXPECTED = {
    "a.orders": "validated",
    "a.lines": "mismatched",
    "a.gone": "missing",
    "a.nokey": "no_key",
    "a.shapes": "incompatible",
    "a.kinds": "incompatible",
    "a.broken": "error",
    f"b.{ODD}": "mismatched",
    "b.lossy": "validated",
    "b.lossy_bad": "mismatched",
    "b.windowed": "validated",
}


def test_every_table_ends_in_its_state_with_one_line(
    replica: Replica, report: ReplicaReport
) -> None:
    assert not report.error and not report.stopped
    assert replica.states(report) == EXPECTED
    for table in report.tables:
        if table.state == "validated":
            assert table.reason == ""
        else:
            assert table.reason and "\n" not in table.reason, table
            assert "Traceback" not in table.reason
    assert report.target_only_tables == [f"{replica.ta}.target_only"]
    assert report.exit_code() == 2  # a table ended in an error
    assert report.counts() == {
        "mismatched": 3,
        "missing": 1,
        "incompatible": 2,
        "error": 1,
        "no_key": 1,
        "validated": 3,
    }


def test_reasons_say_what_to_do(replica: Replica, report: ReplicaReport) -> None:
    reason = {t.source_table.split(".", 1)[1]: t.reason for t in report.tables}
    assert "exclude it" in reason["gone"]
    assert "key = [...]" in reason["nokey"] and f'"{replica.a}.nokey"' in reason["nokey"]
    assert reason["shapes"].startswith("p (point), d (interval) cannot be compared")
    assert "exclude-columns" in reason["shapes"]
    assert reason["kinds"].startswith("v: incompatible:")
    assert "no_such_column" in reason["broken"] and "source" in reason["broken"]


def test_differing_rows_are_named_with_their_key(replica: Replica, report: ReplicaReport) -> None:
    lines = replica.table(report, "a", "lines")
    assert (lines.changed_count, lines.missing_count, lines.extra_count) == (1, 0, 0)
    assert lines.key == ["order_id", "line"]
    assert lines.changed[0]["key"] == ["4", "1"]
    assert list(lines.changed[0]["differences"]) == ["qty"]
    assert (lines.source_rows, lines.target_rows, lines.rows_checked) == (90, 90, 180)
    assert lines.tiers == {"schema": "passed", "count": "passed", "checksum": "failed"}
    orders = replica.table(report, "a", "orders")
    assert (orders.source_rows, orders.target_rows) == (300, 300)
    assert orders.tiers == {"schema": "passed", "count": "passed", "checksum": "passed"}


def test_odd_identifiers_are_taken_as_written(replica: Replica, report: ReplicaReport) -> None:
    odd = replica.table(report, "b", ODD)
    assert odd.target_table == f"{replica.tb}.{ODD}"
    assert odd.key == [ODD_KEY]
    assert odd.changed == [
        {"key": ["7"], "differences": {ODD_NUMBER: ["7", "0"]}},
    ]
    # A glob of the table's own name (it holds a dot) selects it.
    only = validate_replica(
        server_url(), server_url(), mapping=replica.mapping, tables=["Odd*"], tiers=ALL_TIERS
    )
    assert [t.source_table for t in only.tables] == [f"{replica.b}.{ODD}"]
    (found,) = only.tables
    assert {a["column"] for a in found.aggregates} == {ODD_NUMBER}
    assert found.tiers["checksum"] == "skipped"  # stop-early


def test_lossy_columns_are_compared_at_the_precision_both_keep(
    replica: Replica, report: ReplicaReport
) -> None:
    lossy = replica.table(report, "b", "lossy")
    assert lossy.encoding_options == {"timestamp_precision": 3}
    assert any("timestamp_precision=3" in n and "lossy" in n for n in lossy.notes), lossy.notes
    bad = replica.table(report, "b", "lossy_bad")
    assert bad.changed_count == 1 and bad.changed[0]["key"] == ["5"]
    assert bad.changed[0]["differences"]["at"] == [
        "2020-01-01 00:00:05.123",
        "2020-01-01 00:00:05.124",
    ]
    # Not allowing lossy pairs leaves them unchecked.
    strict = validate_replica(
        server_url(),
        server_url(),
        mapping=replica.mapping,
        tables=["lossy"],
        allow=["widened", "representation"],
    )
    assert replica.states(strict) == {"b.lossy": "incompatible"}
    assert strict.tables[0].tiers["checksum"] == "skipped"


def test_where_and_target_where_bound_the_rows(replica: Replica, report: ReplicaReport) -> None:
    windowed = replica.table(report, "b", "windowed")
    assert (windowed.source_rows, windowed.target_rows) == (90, 90)
    unbounded = {"schemas": replica.mapping["schemas"]}
    whole = validate_replica(server_url(), server_url(), mapping=unbounded, tables=["windowed"])
    (table,) = whole.tables
    assert (table.state, table.changed_count, table.extra_count) == ("mismatched", 10, 1)
    # The source's where alone, on both sides, leaves the target's row 0 in.
    mapping = {**unbounded, "tables": {f"{replica.b}.windowed": {"where": "id <= 90"}}}
    one_where = validate_replica(server_url(), server_url(), mapping=mapping, tables=["windowed"])
    (table,) = one_where.tables
    assert (table.state, table.extra, table.changed_count) == ("mismatched", [["0"]], 0)


def test_an_unreachable_target_is_one_line_with_no_password(replica: Replica) -> None:
    target = "postgresql://postgres:placeholder@127.0.0.1:1/test"
    found = validate_replica(server_url(), target, mapping=replica.mapping)
    assert found.tables == [] and found.exit_code() == 2
    assert "not reachable" in found.error and "127.0.0.1:1" in found.error
    for text in (found.error, found.to_text(), found.to_json(), found.to_junit()):
        assert "placeholder" not in text
    assert "\n" not in found.to_text()
    (case,) = ET.fromstring(found.to_junit()).iter("testcase")
    assert case.get("name") == "replica" and case.find("error") is not None


# -- tiers and statements -----------------------------------------------------------------------
def count_only(
    replica: Replica, tiers: list[str], tables: list[str]
) -> tuple[ReplicaReport, list[list[str]]]:
    """A run on connections that log their statements, and the statements that read the
    tables: the source's, then the target's."""
    (src, src_log), (dst, dst_log) = logged(), logged()
    try:
        found = validate_replica(src, dst, mapping=replica.mapping, tiers=tiers, tables=tables)
    finally:
        src.close()
        dst.close()
    reads = [
        list(dict.fromkeys(s for schema in schemas_ for s in log.reading(schema)))
        for log, schemas_ in (
            (src_log, (replica.a, replica.b)),
            (dst_log, (replica.ta, replica.tb)),
        )
    ]
    return found, reads


#: Every table of the replica but the one whose where fails.
READABLE = ["orders", "lines", "gone", "nokey", "shapes", "kinds", "Odd*", "lossy*", "windowed"]


@pytest.mark.parametrize("tiers", [["count"], ["schema", "count"]])
def test_count_alone_is_one_statement_a_side(replica: Replica, tiers: list[str]) -> None:
    found, reads = count_only(replica, tiers, READABLE)
    for side in reads:
        assert len(side) == 1, side
        assert side[0].startswith("SELECT (SELECT COUNT(*) FROM ")
        assert side[0].count("(SELECT COUNT(*) FROM ") == len(found.tables) - 1  # not "gone"
    lines = replica.table(found, "a", "lines")
    assert (lines.source_rows, lines.target_rows, lines.state) == (90, 90, "validated")
    assert lines.tiers["count"] == "passed"
    assert replica.table(found, "b", "windowed").source_rows == 90  # the where applies
    assert replica.table(found, "a", "gone").state == "missing"


def test_a_count_that_fails_lands_on_its_own_table(replica: Replica) -> None:
    found, reads = count_only(replica, ["count"], [*READABLE, "broken"])
    broken = replica.table(found, "a", "broken")
    assert broken.state == "error" and "no_such_column" in broken.reason
    assert broken.tiers["count"] == "failed"
    # The batch failed, so each table was counted alone; every other one has its count.
    assert len(reads[0]) == 1 + len(found.tables) - 1
    orders = replica.table(found, "a", "orders")
    assert (orders.state, orders.source_rows, orders.target_rows) == ("validated", 300, 300)


def test_the_default_tiers_count_in_the_checksum_pass(replica: Replica) -> None:
    (src, src_log), (dst, dst_log) = logged(), logged()
    try:
        found = validate_replica(src, dst, mapping=replica.mapping, tables=["orders"])
    finally:
        src.close()
        dst.close()
    assert replica.states(found) == {"a.orders": "validated"}
    assert found.tables[0].source_rows == 300
    for log in (src_log, dst_log):
        assert not [s for s in log if "SELECT (SELECT COUNT(*)" in s]


def test_stop_early_skips_the_later_tiers(replica: Replica) -> None:
    args = {"mapping": replica.mapping, "tables": ["lines", "kinds"], "tiers": ALL_TIERS}
    stopped = validate_replica(server_url(), server_url(), **args)
    lines = replica.table(stopped, "a", "lines")
    assert lines.tiers == {
        "schema": "passed",
        "count": "passed",
        "aggregates": "failed",
        "checksum": "skipped",
    }
    assert lines.changed_count == 0 and lines.aggregates
    assert lines.reason == "column aggregates differ in qty"
    kinds = replica.table(stopped, "a", "kinds")
    assert kinds.tiers == {
        "schema": "failed",
        "count": "skipped",
        "aggregates": "skipped",
        "checksum": "skipped",
    }
    going = validate_replica(server_url(), server_url(), stop_early=False, **args)
    lines = replica.table(going, "a", "lines")
    assert lines.tiers["checksum"] == "failed" and lines.changed_count == 1
    kinds = replica.table(going, "a", "kinds")
    # The key is still compared; the state stays the schema's verdict.
    assert kinds.state == "incompatible" and kinds.tiers["checksum"] == "passed"


# -- the connection budget ------------------------------------------------------------------------
class Watcher:
    """The most connections of each application name seen at once, from another connection."""

    def __init__(self, names: list[str]) -> None:
        self.names, self.peak = names, dict.fromkeys(names, 0)
        self.conn = connect()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def sample(self, *_: Any) -> None:
        cur = self.conn.cursor()
        cur.execute(
            "SELECT application_name, count(*) FROM pg_stat_activity"
            " WHERE application_name = ANY(%s) GROUP BY 1",
            (self.names,),
        )
        for name, count in cur.fetchall():
            self.peak[name] = max(self.peak[name], count)

    def _poll(self) -> None:
        while not self._stop.wait(0.002):
            self.sample()

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.conn.close()


@pytest.mark.parametrize("budget", [1, 3])
def test_never_more_connections_a_side_than_the_budget(replica: Replica, budget: int) -> None:
    tag = uuid.uuid4().hex[:8]
    names = [f"cdc_src_{tag}", f"cdc_dst_{tag}"]
    source, target = (f"{server_url()}?application_name={n}" for n in names)
    lock = threading.Lock()
    with Watcher(names) as watcher:

        def on_table(*_: Any) -> None:
            with lock:  # on_table runs as each table ends, while others are in flight
                watcher.sample()

        # Not the table whose query fails: its connection is closed, and a closed backend
        # may linger in pg_stat_activity for a moment after its replacement opens.
        found = validate_replica(
            source,
            target,
            mapping=replica.mapping,
            tables=READABLE,
            concurrency=budget,
            tiers=ALL_TIERS,
            on_table=on_table,
        )
    assert len(found.tables) == len(EXPECTED) - 1
    assert watcher.peak == dict.fromkeys(names, budget), watcher.peak
    assert found.settings["concurrency"] == budget


# -- failure thresholds ---------------------------------------------------------------------------
def differing_tables(pg: Any, pair: list[str], count: int, rows: int = 50) -> None:
    cur = pg.cursor()
    for i in range(count):
        for schema in pair:
            cur.execute(f"CREATE TABLE {q(schema)}.t{i} (id int PRIMARY KEY, v int)")
            cur.execute(
                f"INSERT INTO {q(schema)}.t{i} SELECT g, g FROM generate_series(1, {rows}) g"
            )
        cur.execute(f"UPDATE {q(pair[1])}.t{i} SET v = -v WHERE id <= 3")


def test_failure_max_count_stops_the_run_and_leaves_tables_pending(
    pg: Any, pair: list[str]
) -> None:
    differing_tables(pg, pair, 4)
    found = validate_replica(
        server_url(),
        server_url(),
        mapping={"schemas": {pair[0]: pair[1]}},
        concurrency=1,
        failure_max_count=3,
    )
    states = sorted(t.state for t in found.tables)
    assert states == ["mismatched", "pending", "pending", "pending"]
    assert "failure-max-count (3)" in found.stopped
    for table in found.tables:
        if table.state == "pending":
            assert table.reason.startswith("not checked: 3 mismatched rows reached")
            assert table.source_rows is None
    assert found.exit_code() == 2
    assert "stopped: " in found.to_text()


def test_reaching_failure_max_count_with_nothing_left_is_not_a_stop(
    pg: Any, pair: list[str]
) -> None:
    differing_tables(pg, pair, 2)
    found = validate_replica(
        server_url(),
        server_url(),
        mapping={"schemas": {pair[0]: pair[1]}},
        concurrency=2,
        failure_max_count=3,
    )
    assert [t.state for t in found.tables] == ["mismatched", "mismatched"]
    assert found.stopped == "" and found.exit_code() == 1


def test_table_failure_max_count_keeps_the_first_rows_and_exact_counts(
    pg: Any, pair: list[str]
) -> None:
    cur = pg.cursor()
    for schema in pair:
        cur.execute(f"CREATE TABLE {q(schema)}.t (id int PRIMARY KEY, v text)")
        cur.execute(f"INSERT INTO {q(schema)}.t SELECT g, 'v' || g FROM generate_series(1, 3000) g")
    cur.execute(f"DELETE FROM {q(pair[1])}.t WHERE id % 100 = 0")
    cur.execute(f"UPDATE {q(pair[1])}.t SET v = 'x' WHERE id % 100 = 1")
    cur.execute(f"INSERT INTO {q(pair[1])}.t SELECT g, 'e' FROM generate_series(5001, 5020) g")
    found = validate_replica(
        server_url(),
        server_url(),
        mapping={"schemas": {pair[0]: pair[1]}},
        table_failure_max_count=5,
    )
    (table,) = found.tables
    assert (table.missing_count, table.extra_count, table.changed_count) == (30, 20, 30)
    assert table.missing == [[str(k)] for k in (100, 200, 300, 400, 500)]
    assert table.extra == [[str(k)] for k in range(5001, 5006)]
    assert len(table.changed) == 5
    assert "80 rows differ; 5 of each kind are kept (table-failure-max-count)" in table.notes
    assert found.stopped == ""  # 80 < failure-max-count's 10,000


# -- sharding -------------------------------------------------------------------------------------
def pair_report(
    name: str, rows: int | None, key_type: str = "bigint", key: tuple[str, ...] = ("id",)
) -> TableReport:
    columns = [ColumnReport(c, key_type, c, key_type, "same") for c in ("id", "x")]
    return TableReport(
        source_table=f"s.{name}",
        target_table=f"t.{name}",
        source_name=["s", name],
        target_name=["t", name],
        key=list(key),
        target_key=list(key),
        source_rows=rows,
        columns=columns,
    )


PAIRS = [
    pair_report("huge", 15_000_000),
    pair_report("big", 5_000_000, "integer"),
    pair_report("mid", 900_000),
    *(pair_report(f"small{i}", 1000 * i) for i in range(12)),
    pair_report("never_analysed", None),
    pair_report("empty", -1),
]


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shard_plan_takes_every_table_exactly_once(count: int) -> None:
    import random

    plans = []
    for seed in range(3):
        shuffled = list(PAIRS)
        random.Random(seed).shuffle(shuffled)
        plans.append(shard_plan(shuffled, Shard(1, count)))
    assert plans[0] == plans[1] == plans[2]  # whatever order the catalog listed them in
    shards = plans[0]
    assert len(shards) == count
    parts: dict[str, set[tuple[int, int]]] = {}
    for index, jobs in enumerate(shards):
        for job in jobs:
            parts.setdefault(job.name, set()).add((job.part, job.parts))
            if job.parts > 1:
                assert job.part == index  # part i runs on shard i + 1
        # largest first within each shard
        sizes = [job.pair.source_rows or 0 for job in jobs]
        assert sizes == sorted(sizes, reverse=True)
    assert set(parts) == {p.source_table for p in PAIRS}
    # huge is above every shard's fair share (and a million rows): split over all of them;
    # big (a third of the rows) only over seven.
    split = {"s.huge": count > 1, "s.big": count == 7}
    for name, got in parts.items():
        if split.get(name):
            assert got == {(i, count) for i in range(count)}, name
        else:
            assert got == {(0, 1)}, name  # a table no shard splits runs once
    # Each table to the least loaded shard: no shard is ahead by more than a table.
    loads = [sum(j.estimate for j in jobs) for jobs in shards]
    largest = max(j.estimate for jobs in shards for j in jobs if j.parts == 1)
    assert max(loads) - min(loads) <= largest, loads


def test_only_large_single_integer_key_tables_are_split() -> None:
    # Each is above a shard's fair share and a million rows, but its key cannot be split.
    unsplittable = [
        pair_report("text_key", 10_000_000, "text"),
        pair_report("no_key", 10_000_000, key=()),
        pair_report("two_columns", 10_000_000, key=("id", "x")),
        pair_report("decimal_key", 10_000_000, "numeric(20,0)"),
    ]
    shards = shard_plan(unsplittable, Shard(1, 3))
    assert not [job for jobs in shards for job in jobs if job.parts > 1]
    for key_type in ("smallint", "integer", "bigint", "int", "tinyint"):
        shards = shard_plan([*unsplittable, pair_report("n", 30_000_000, key_type)], Shard(1, 3))
        assert {job.name for jobs in shards for job in jobs if job.parts > 1} == {"s.n"}
    # Under a million rows, or under a shard's fair share: not split.
    assert not [
        j
        for jobs in shard_plan([pair_report("m", 999_999)], Shard(1, 2))
        for j in jobs
        if j.parts > 1
    ]
    even = [pair_report(f"t{i}", 2_000_000) for i in range(8)]
    assert not [j for jobs in shard_plan(even, Shard(1, 4)) for j in jobs if j.parts > 1]
    loads = [sum(j.estimate for j in jobs) for jobs in shard_plan(even, Shard(1, 4))]
    assert loads == [4_000_000] * 4


BIG_ROWS = 3000


@pytest.fixture
def sharded(pg: Any, pair: list[str]) -> dict[str, Any]:
    """A replica whose ``big`` table the catalog says holds three million rows (planner
    statistics: the plan splits what the catalog says is large), with negative keys and
    differences spread over the key's residues."""
    cur = pg.cursor()
    src, dst = (q(s) for s in pair)
    for schema in (src, dst):
        cur.execute(
            f"CREATE TABLE {schema}.big (id bigint PRIMARY KEY, v text)"
            " WITH (autovacuum_enabled = false)"
        )
        last = BIG_ROWS - 1000
        cur.execute(
            f"INSERT INTO {schema}.big SELECT g, 'v' || g FROM generate_series(-999, {last}) g"
        )
        for i in range(5):
            cur.execute(f"CREATE TABLE {schema}.small{i} (id int PRIMARY KEY, v int)")
            rows = 10 * (i + 1)
            cur.execute(
                f"INSERT INTO {schema}.small{i} SELECT g, g FROM generate_series(1, {rows}) g"
            )
    cur.execute(f"DELETE FROM {dst}.big WHERE id IN (-999, -500, 10, 11, 12)")
    cur.execute(f"UPDATE {dst}.big SET v = 'x' WHERE id IN (-7, 0, 1, 2)")
    cur.execute(f"INSERT INTO {dst}.big VALUES (100000, 'e'), (-100000, 'e')")
    cur.execute(f"UPDATE {dst}.small3 SET v = -v WHERE id = 1")
    # Statistics now, so that no autovacuum changes them between the shards' runs.
    for schema in pair:
        cur.execute(f"ANALYZE {q(schema)}.big")
        for i in range(5):
            cur.execute(f"ANALYZE {q(schema)}.small{i}")
    cur.execute(f"UPDATE pg_class SET reltuples = 3000000 WHERE oid = '{src}.big'::regclass")
    return {"mapping": {"schemas": {pair[0]: pair[1]}}, "pair": pair}


def run_shards(sharded: dict[str, Any], count: int) -> list[ReplicaReport]:
    return [
        validate_replica(
            server_url(), server_url(), mapping=sharded["mapping"], shard=f"{i}/{count}"
        )
        for i in range(1, count + 1)
    ]


def test_shards_merge_into_the_whole_run(sharded: dict[str, Any]) -> None:
    whole = validate_replica(server_url(), server_url(), mapping=sharded["mapping"])
    shards = run_shards(sharded, 3)
    src = sharded["pair"][0]
    for report in shards:
        names = [t.source_table for t in report.tables]
        assert f"{src}.big" in names  # every shard takes a part of the big table
        big = next(t for t in report.tables if t.source_table == f"{src}.big")
        assert any("split over 3 shards by id modulo 3" in n for n in big.notes)
    # Each small table in exactly one shard.
    smalls = [t.source_table for r in shards for t in r.tables if ".small" in t.source_table]
    assert sorted(smalls) == sorted(f"{src}.small{i}" for i in range(5))
    # The JSON reports (what CI jobs hand on) merge into the whole run's verdicts.
    merged = merge_reports([ReplicaReport.from_json(r.to_json()) for r in reversed(shards)])
    assert merged.shards == ["1/3", "2/3", "3/3"]
    assert [t.source_table for t in merged.tables] == [t.source_table for t in whole.tables]
    big = next(t for t in merged.tables if t.source_table == f"{src}.big")
    assert (big.source_rows, big.target_rows) == (BIG_ROWS, BIG_ROWS - 5 + 2)
    assert (big.missing_count, big.extra_count, big.changed_count) == (5, 2, 4)
    assert sorted(int(k[0]) for k in big.missing) == [-999, -500, 10, 11, 12]
    assert sorted(int(k[0]) for k in big.extra) == [-100000, 100000]
    assert sorted(int(c["key"][0]) for c in big.changed) == [-7, 0, 1, 2]
    assert big.state == "mismatched"
    for merged_table, one in zip(merged.tables, whole.tables, strict=True):
        names = ("state", "reason", "tiers", "source_rows", "target_rows", "rows_checked")
        for name in (*names, "mismatches"):
            assert getattr(merged_table, name) == getattr(one, name), (one.source_table, name)
    assert merged.exit_code() == whole.exit_code() == 1
    assert merged.rows_checked == whole.rows_checked


def test_merging_refuses_what_is_not_one_run(sharded: dict[str, Any], pg: Any) -> None:
    shards = run_shards(sharded, 3)
    with pytest.raises(ConfigError, match=r"missing shard\(s\) 2/3"):
        merge_reports([shards[0], shards[2]])
    with pytest.raises(ConfigError, match=r"shard\(s\) 1/3 given twice"):
        merge_reports([shards[0], shards[0], shards[1], shards[2]])
    with pytest.raises(ConfigError, match="shards of different splits"):
        merge_reports([*shards, *run_shards(sharded, 2)])
    with pytest.raises(ConfigError, match="no reports"):
        merge_reports([])
    other = validate_replica(
        server_url().replace("127.0.0.1", "localhost"),
        server_url(),
        mapping=sharded["mapping"],
        shard="3/3",
    )
    with pytest.raises(ConfigError, match="different replicas"):
        merge_reports([shards[0], shards[1], other])
    # The catalog changes between the shards' runs: they planned different work.
    src = q(sharded["pair"][0])
    pg.cursor().execute(f"UPDATE pg_class SET reltuples = 2000 WHERE oid = '{src}.big'::regclass")
    late = validate_replica(server_url(), server_url(), mapping=sharded["mapping"], shard="3/3")
    assert late.settings["plan"] != shards[0].settings["plan"]
    with pytest.raises(ConfigError, match="planned different work"):
        merge_reports([shards[0], shards[1], late])


def part(state: str, shard: str, **fields: Any) -> ReplicaReport:
    """A shard's report holding one part of the split table ``s.big``."""
    table = TableResult("s.big", "t.big", state=state, **fields)
    return ReplicaReport("src", "dst", shards=[shard], tables=[table], settings={"plan": "p"})


def test_a_split_table_takes_its_worst_part() -> None:
    passed = {"schema": "passed", "count": "passed", "checksum": "passed"}
    failed = {**passed, "checksum": "failed"}
    clean = {"source_rows": 10, "target_rows": 10, "tiers": passed}
    differs = {"source_rows": 10, "target_rows": 10, "changed_count": 2, "tiers": failed}
    merged = merge_reports(
        [
            part("validated", "1/3", **clean),
            part("mismatched", "2/3", reason="rows differ: 2 changed", **differs),
            part("mismatched", "3/3", reason="rows differ: 2 changed", **differs),
        ]
    )
    (big,) = merged.tables
    assert (big.state, big.reason, big.tiers) == ("mismatched", "rows differ: 4 changed", failed)
    assert (big.source_rows, big.changed_count, merged.exit_code()) == (30, 4, 1)
    # A part that could not be checked leaves the table's verdict open: an error, exit code 2.
    broken = part("error", "3/3", reason="the target database failed", tiers=failed)
    merged = merge_reports(
        [part("validated", "1/3", **clean), part("mismatched", "2/3", **differs), broken]
    )
    (big,) = merged.tables
    assert (big.state, big.reason, merged.exit_code()) == ("error", broken.tables[0].reason, 2)
    assert big.changed_count == 2 and big.source_rows is None  # one part has no count


def test_merged_shards_are_in_order() -> None:
    reports = [part("validated", f"{i}/12") for i in range(12, 0, -1)]
    assert merge_reports(reports).shards == [f"{i}/12" for i in range(1, 13)]


# -- the report's formats -------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["finished", "stopped"])
def reports(
    request: pytest.FixtureRequest, replica: Replica, report: ReplicaReport
) -> ReplicaReport:
    """The replica's report, and one of a run stopped at its first mismatched row (the rest
    of its tables pending)."""
    if request.param == "finished":
        return report
    stopped = validate_replica(
        server_url(), server_url(), mapping=replica.mapping, concurrency=1, failure_max_count=1
    )
    assert stopped.stopped and "pending" in stopped.counts()
    return stopped


def test_json_round_trips(reports: ReplicaReport) -> None:
    report = reports
    text = report.to_json()
    assert ReplicaReport.from_json(text) == report
    data = json.loads(text)
    assert data["schema_version"] == 1 and data["exit_code"] == report.exit_code()
    assert data["counts"] == report.counts()
    # Keys a later version adds are ignored by this one.
    data["a_new_key"] = 1
    data["tables"][0]["another"] = 2
    assert ReplicaReport.from_dict(data) == report


def test_junit_has_a_testcase_a_table(reports: ReplicaReport) -> None:
    report = reports
    suite = ET.fromstring(report.to_junit()).find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {t.name for t in report.tables}
    expected = {
        "mismatched": "failure",
        "missing": "failure",
        "incompatible": "failure",
        "error": "error",
        "pending": "error",
        "no_key": "skipped",
        "suspended": "skipped",
    }
    for table in report.tables:
        children = [child.tag for child in cases[table.name]]
        assert children == ([expected[table.state]] if table.state in expected else []), table.name
        if children:
            assert cases[table.name][0].get("message") == table.reason
    counts = {k: 0 for k in ("failure", "error", "skipped")}
    for table in report.tables:
        if table.state in expected:
            counts[expected[table.state]] += 1
    assert suite.get("tests") == str(len(report.tables))
    assert {k: int(suite.get(k + "s" if k != "skipped" else k) or 0) for k in counts} == counts


def test_markdown_lists_every_table_failures_first(reports: ReplicaReport) -> None:
    report = reports
    text = report.to_markdown()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == len(report.tables)
    for table in report.tables:
        escaped = table.name.replace("|", "\\|")
        (row,) = [r for r in rows if r.startswith(f"| `{escaped}` |")]
        assert table.state.replace("_", " ") in row
    states = [r.split(" | ")[2].strip("*") for r in rows]
    failing = [s.replace(" ", "_") in FAILING for s in states]
    assert failing == sorted(failing, reverse=True)  # failures first
    assert "<details>" in text and "rows differ" in text


# -- the assertion and the mapping's settings -----------------------------------------------------
def test_assert_replica_matches_fails_with_the_report(replica: Replica) -> None:
    from pytest_cdc.replica import assert_replica_matches

    clean = assert_replica_matches(
        server_url(), server_url(), mapping=replica.mapping, tables=["orders", "lossy"]
    )
    assert clean.counts() == {"validated": 2}
    with pytest.raises(pytest.fail.Exception) as failed:
        assert_replica_matches(
            server_url(), server_url(), mapping=replica.mapping, tables=["orders", "lines"]
        )
    message = str(failed.value)
    assert message.startswith("replica differs: replica ")
    assert f"{replica.a}.lines -> {replica.ta}.lines: mismatched: rows differ: 1 changed" in message
    assert "qty  source='13'  target='1013'" in message


def test_the_mappings_validation_table_sets_the_defaults(replica: Replica) -> None:
    mapping = {**replica.mapping, "validation": {"tiers": ["count"], "stop-early": False}}
    found = validate_replica(server_url(), server_url(), mapping=mapping, tables=["lines"])
    assert found.tiers == ["count"] and found.settings["stop_early"] is False
    assert replica.states(found) == {"a.lines": "validated"}  # counts alone cannot see it
    given = validate_replica(
        server_url(), server_url(), mapping=mapping, tables=["lines"], tiers="count,checksum"
    )
    assert given.tiers == ["count", "checksum"]  # the keyword wins over the file
    assert replica.states(given) == {"a.lines": "mismatched"}
    bad = {**replica.mapping, "validation": {"tier": ["count"]}}
    with pytest.raises(ConfigError, match=r"unknown key 'tier'.*did you mean 'tiers'"):
        validate_replica(server_url(), server_url(), mapping=bad)
    with pytest.raises(ConfigError, match="shard '4/3': I must be from 1 to N"):
        validate_replica(server_url(), server_url(), mapping=replica.mapping, shard="4/3")
