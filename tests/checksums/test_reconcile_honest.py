"""A reconciliation never says "equal" when the data differ, never runs data as SQL, and never
hides why it failed (issue: NULL and duplicated keys, hostile key values, failures on one side,
statements that never end).  Everything runs on the PostgreSQL server."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import psycopg2
import pytest
from helpers import connect, load, schemas, server_url

from pytest_cdc.checksums import (
    BadKey,
    Inconsistent,
    QueryFailed,
    QueryTimeout,
    ReconcileReport,
    reconcile,
)
from pytest_cdc.dialects.postgres.checksum import PostgresGenerator


def run(pg: Any, pair: list[str], **kwargs: Any) -> ReconcileReport:
    kwargs.setdefault("key", "id")
    return reconcile(pg, pg, table=f"{pair[0]}.t", target_table=f"{pair[1]}.t", **kwargs)


def rows(n: int) -> list[tuple[int, str]]:
    return [(i, f"v{i}") for i in range(1, n + 1)]


# -- NULL and duplicated keys ------------------------------------------------------------------
@pytest.mark.parametrize("aggregation", ["auto", "sum"])
def test_a_null_key_row_on_one_side_is_refused_not_equal(
    pg: Any, pair: list[str], aggregation: str
) -> None:
    # Once the table is cut into segments, a range condition drops NULL keys: the extra row
    # was never looked at, and the report said "equal" beside 3000 against 3001 rows.
    load(pg, f'"{pair[0]}".t', "id int, a text", rows(3000))
    load(pg, f'"{pair[1]}".t', "id int, a text", [*rows(3000), (None, "extra")])
    with pytest.raises(BadKey, match=r"the key \(id\) is NULL in 1 row\(s\) on the target"):
        run(pg, pair, leaf_rows=100, aggregation=aggregation)


def test_a_changed_value_in_a_null_key_row_is_refused(pg: Any, pair: list[str]) -> None:
    load(pg, f'"{pair[0]}".t', "id int, a text", [*rows(3000), (None, "before")])
    load(pg, f'"{pair[1]}".t', "id int, a text", [*rows(3000), (None, "after")])
    with pytest.raises(BadKey, match=r"1 row\(s\) on the source and 1 row\(s\) on the target"):
        run(pg, pair, leaf_rows=100)
    # The way out the message names: leave those rows out.
    report = run(pg, pair, leaf_rows=100, where="id IS NOT NULL")
    assert report.equal and report.source_rows == 3000


def test_a_nullable_key_without_nulls_compares(pg: Any, pair: list[str]) -> None:
    load(pg, f'"{pair[0]}".t', "id int, a text", rows(500))
    load(pg, f'"{pair[1]}".t', "id int, a text", [(i, a if i != 7 else "x") for i, a in rows(500)])
    report = run(pg, pair, leaf_rows=50)
    assert report.changed_count == 1 and report.changed[0].key == ["7"]


def test_a_non_unique_key_is_refused_on_different_and_on_equal_tables(
    pg: Any, pair: list[str]
) -> None:
    # About 15 rows a customer: pairing rows by customer_id paired unrelated rows as "changed",
    # and on equal tables it said "equal".
    data = [(i, i % 200, f"v{i}") for i in range(1, 3001)]
    load(pg, f'"{pair[0]}".t', "id int PRIMARY KEY, customer_id int, a text", data)
    load(pg, f'"{pair[1]}".t', "id int PRIMARY KEY, customer_id int, a text", data)
    with pytest.raises(
        BadKey, match=r"not unique on the source: customer_id='\d+' is held by 1[45]"
    ):
        run(pg, pair, key="customer_id")
    pg.cursor().execute(f"UPDATE \"{pair[1]}\".t SET a = a || '!' WHERE id % 7 = 0")
    with pytest.raises(BadKey, match="customer_id"):
        run(pg, pair, key="customer_id", leaf_rows=10)


def test_uniqueness_comes_from_a_unique_index_or_is_checked(pg: Any, pair: list[str]) -> None:
    load(pg, f'"{pair[0]}".t', "id int PRIMARY KEY, a text", rows(100))
    load(pg, f'"{pair[1]}".t', "id int, a text", rows(100))
    report = run(pg, pair)
    assert report.options["key_unique"] == {"source": "unique index", "target": "checked"}
    checked = [q.side for q in report.queries if q.purpose == "key uniqueness"]
    assert checked == ["target"]
    # A unique index on part of the key makes the whole key unique; one with an expression
    # or a predicate does not.
    pg.cursor().execute(f'CREATE UNIQUE INDEX ON "{pair[1]}".t (id) WHERE id > 50')
    pg.cursor().execute(f'CREATE UNIQUE INDEX ON "{pair[1]}".t ((id + 0))')
    assert run(pg, pair).options["key_unique"]["target"] == "checked"
    pg.cursor().execute(f'CREATE UNIQUE INDEX ON "{pair[1]}".t (id)')
    report = run(pg, pair, key="id,a")
    assert report.options["key_unique"] == {"source": "unique index", "target": "unique index"}


# -- the report's own figures ----------------------------------------------------------------
def test_a_report_whose_figures_do_not_add_up_is_refused() -> None:
    report = ReconcileReport("s", "t", "a", "b", ["id"], ["id"], source_rows=3, target_rows=4)
    with pytest.raises(Inconsistent, match=r"the source has 3 rows and the target 4 \(-1\)"):
        report.verify()
    report.extra_count, report.extra = 1, [["9"]]
    assert report.verify() is report


@pytest.mark.parametrize("aggregation", ["sum", "ordered"])
def test_a_range_that_drops_rows_gives_no_verdict(
    pg: Any, pair: list[str], aggregation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug planted on purpose: the leaf fetch's range condition leaves out id 5.  The rows
    # read back no longer add up to the segment's checksum, so there is no verdict at all.
    load(pg, f'"{pair[0]}".t', "id int PRIMARY KEY, a text", rows(400))
    load(
        pg,
        f'"{pair[1]}".t',
        "id int PRIMARY KEY, a text",
        [(i, "x" if i == 5 else a) for i, a in rows(400)],
    )
    real = PostgresGenerator.fetch_query

    def leaky(self: PostgresGenerator, *args: Any, **kwargs: Any) -> str:
        kwargs["restrict"] = f"({kwargs.get('restrict') or '1 = 1'}) AND t.id <> 5"
        return real(self, *args, **kwargs)

    monkeypatch.setattr(PostgresGenerator, "fetch_query", leaky)
    with pytest.raises(Inconsistent, match=r"held 2 rows in the checksum pass but 1|no verdict"):
        run(pg, pair, leaf_rows=2, aggregation=aggregation)


# -- data never runs as SQL -------------------------------------------------------------------
HOSTILE = [
    "plain",
    "o'brien",
    "''",
    "back\\slash",
    "ends in a backslash\\",
    "\\'' COLLATE \"C\")));DROP TABLE victim;--",
    "$$ dollar $$",
    "$tag$ x $tag$",
    "tab\tnew\nline\rreturn",
    "back\\\nslash-newline",
    "".join(chr(c) for c in range(1, 32)),
    "ünïcödé ✓ \U0001f600",
    "E'\\x41'",
    "%s %(x)s ? :1",
    "-- comment",
    "/* c */",
]


@pytest.mark.parametrize("conforming", ["on", "off"])
def test_literals_read_back_exactly_under_both_settings(pg: Any, conforming: str) -> None:
    gen = PostgresGenerator()
    cur = pg.cursor()
    cur.execute(f"SET standard_conforming_strings = {conforming}")
    try:
        for value in HOSTILE:
            cur.execute(f"SELECT {gen.string_literal(value)}")
            assert cur.fetchone()[0] == value
    finally:
        cur.execute("RESET standard_conforming_strings")


@pytest.mark.parametrize("conforming", ["on", "off"])
def test_hostile_key_values_are_compared_never_run(conforming: str) -> None:
    # A database whose default is standard_conforming_strings = off (legacy databases carry
    # it): a stored key once closed the literal and dropped the table "victim".
    url = server_url() + "?options=" + quote(f"-c standard_conforming_strings={conforming}")
    pg = psycopg2.connect(url)
    pg.autocommit = True
    try:
        with schemas(pg, 2) as pair:
            keys = [f"{h} #{i}" for i in range(8) for h in HOSTILE]
            load(pg, f'"{pair[0]}".victim', "x int", [(1,)])
            load(pg, f'"{pair[0]}".t', "k text, v int", [(k, i) for i, k in enumerate(keys)])
            changed = [(k, i + (i == 40)) for i, k in enumerate(keys)]
            load(pg, f'"{pair[1]}".t', "k text, v int", changed)
            report = reconcile(
                url, url, table=f"{pair[0]}.t", target_table=f"{pair[1]}.t", key="k", leaf_rows=4
            )
            assert report.segments_compared > 10  # many bounds, all built from these values
            assert [row.key for row in report.changed] == [[keys[40]]]
            assert report.differing_count == 1
            cur = pg.cursor()
            cur.execute(f'SELECT count(*) FROM "{pair[0]}".victim')
            assert cur.fetchone()[0] == 1
    finally:
        pg.close()


# -- failing honestly ------------------------------------------------------------------------
@pytest.mark.parametrize("side", ["source", "target"])
def test_a_failure_names_its_side_and_query_not_a_closed_connection(
    pair: list[str], side: str
) -> None:
    # The backend dies on the first statement that reads the table; the clean-up used to
    # replace that error with "connection already closed".
    pg = connect()
    try:
        load(pg, f'"{pair[0]}".t', "id int PRIMARY KEY, a text", rows(10))
        load(pg, f'"{pair[1]}".t', "id int PRIMARY KEY, a text", rows(10))
    finally:
        pg.close()
    kill = "pg_terminate_backend(pg_backend_pid()) IS NOT NULL"
    where = {"where" if side == "source" else "target_where": kill}
    if side == "target":
        where["where"] = "true"
    with pytest.raises(QueryFailed) as info:
        reconcile(
            server_url(),
            server_url(),
            table=f"{pair[0]}.t",
            target_table=f"{pair[1]}.t",
            key="id",
            **where,
        )
    message = str(info.value)
    assert info.value.side == side and message.startswith(f"the {side} database failed on the ")
    assert "terminat" in message or "closed the connection" in message, message
    assert "already closed" not in message and "\n" not in message


def test_a_statement_that_runs_too_long_is_cancelled(pair: list[str]) -> None:
    pg = connect()
    try:
        load(pg, f'"{pair[0]}".t', "id int PRIMARY KEY, a text", rows(10))
        load(pg, f'"{pair[1]}".t', "id int PRIMARY KEY, a text", rows(10))
    finally:
        pg.close()
    started = time.monotonic()
    with pytest.raises(
        QueryTimeout, match=r"the source database did not finish the .* within 0\.5 s"
    ):
        reconcile(
            server_url(),
            server_url(),
            table=f"{pair[0]}.t",
            target_table=f"{pair[1]}.t",
            key="id",
            where="pg_sleep(2) IS NOT NULL",
            timeout=0.5,
        )
    assert time.monotonic() - started < 15  # not the 20 s the sleeps would take


@contextlib.contextmanager
def stopped_backend(application_name: str) -> Iterator[list[int]]:
    """SIGSTOP the backend of ``application_name`` as soon as it connects (root may signal the
    server's processes); continued and terminated afterwards."""
    stopped: list[int] = []
    done = threading.Event()

    def watch() -> None:
        observer = connect()
        try:
            cur = observer.cursor()
            while not done.is_set() and not stopped:
                cur.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                    (application_name,),
                )
                for (pid,) in cur.fetchall():
                    os.kill(pid, signal.SIGSTOP)
                    stopped.append(pid)
                time.sleep(0.005)
        finally:
            observer.close()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield stopped
    finally:
        done.set()
        thread.join()
        observer = connect()
        try:
            for pid in stopped:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
                observer.cursor().execute("SELECT pg_terminate_backend(%s)", (pid,))
        finally:
            observer.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to stop the server's backend")
def test_a_backend_that_stops_answering_ends_in_a_timeout(pair: list[str]) -> None:
    # A stopped backend never sends its statement_timeout error: the client gives up itself.
    pg = connect()
    try:
        load(pg, f'"{pair[0]}".t', "id int PRIMARY KEY, a text", rows(10))
        load(pg, f'"{pair[1]}".t', "id int PRIMARY KEY, a text", rows(10))
    finally:
        pg.close()
    name = f"cdc_stop_{uuid.uuid4().hex[:8]}"
    source = f"{server_url()}?application_name={name}"
    with stopped_backend(name) as stopped, pytest.raises(QueryTimeout) as info:
        reconcile(
            source,
            server_url(),
            table=f"{pair[0]}.t",
            target_table=f"{pair[1]}.t",
            key="id",
            where="pg_sleep(0.3) IS NOT NULL",
            timeout=1,
        )
    assert stopped, "the backend was never seen"
    assert str(info.value).startswith("the source database did not answer within 1 s")


def test_the_comparison_runs_without_jit(pg: Any, pair: list[str]) -> None:
    # enable_sort = off adds 1e10 to the cost of sort-shaped plans, past jit_above_cost: on a
    # server with jit = on every statement of the comparison compiled itself (~0.3 s each).
    # A condition that holds only with JIT off shows the setting the statements run under.
    load(pg, f'"{pair[0]}".t', "id int, a text", rows(50))
    load(pg, f'"{pair[1]}".t', "id int, a text", rows(50))
    report = run(pg, pair, where="current_setting('jit') = 'off'")
    assert (report.source_rows, report.target_rows) == (50, 50)
