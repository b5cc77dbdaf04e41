"""Live CDC: rows in flight told apart from rows lost, the settle delay and where it comes
from, and checkpoints.

Two kinds of test.  The simulation runs a seeded writer on the source and a replicator that
copies each change to the target a moment later, both real threads on the running server,
and checks that validation calls nothing lost while rows are only in flight, and exactly the
rows a test corrupted behind the replicator's back.  The cue tests replace the wait between
checks with a function that plays the replicator (or a still-moving source) on cue, so each
key state is made on purpose, not raced.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import connect, logged, schemas, server_url

from pytest_cdc.errors import ConfigError
from pytest_cdc.replica import live, validate_replica
from pytest_cdc.replica.report import ReplicaReport, TableResult

OLD = dt.datetime(2026, 1, 1, 12, 0, 0)


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture
def pair() -> Iterator[tuple[Any, str, str]]:
    """A connection and two fresh schemas: the source's and the target's."""
    conn = connect()
    try:
        with schemas(conn, 2) as (src, dst):
            yield conn, src, dst
    finally:
        conn.close()


def make_orders(conn: Any, schema: str, rows: int = 200) -> None:
    cur = conn.cursor()
    cur.execute(
        f"CREATE TABLE {q(schema)}.orders (id int PRIMARY KEY, qty int NOT NULL, note text,"
        " updated_at timestamp NOT NULL)"
    )
    cur.execute(f"CREATE INDEX ON {q(schema)}.orders (updated_at)")
    cur.execute(
        f"INSERT INTO {q(schema)}.orders SELECT g, mod(g, 7), 'n' || g, %s"
        " FROM generate_series(1, %s) g",
        (OLD, rows),
    )


@pytest.fixture
def orders(pair: tuple[Any, str, str]) -> tuple[Any, str, str]:
    """``pair`` with the same 200-row orders table on both sides."""
    conn, src, dst = pair
    make_orders(conn, src)
    make_orders(conn, dst)
    return pair


def mapping(src: str, dst: str) -> dict[str, Any]:
    return {"schemas": {src: dst}}


def table(report: ReplicaReport, name: str = "orders") -> TableResult:
    assert not report.error, report.error
    return next(t for t in report.tables if t.source_table.endswith("." + name))


def on_cue(monkeypatch: pytest.MonkeyPatch, *actions: Callable[[], None]) -> list[float]:
    """Replace the wait between checks: the n-th wait runs the n-th action.  Returns the
    waits asked for, in seconds."""
    asked: list[float] = []

    def wait(seconds: float) -> None:
        asked.append(seconds)
        if len(asked) <= len(actions):
            actions[len(asked) - 1]()

    monkeypatch.setattr(live, "wait", wait)
    return asked


def run_sql(conn: Any, *statements: str) -> Callable[[], None]:
    def act() -> None:
        cur = conn.cursor()
        for sql in statements:
            cur.execute(sql)

    return act


# -- key states, on cue ---------------------------------------------------------------------
def test_rows_that_arrive_before_a_recheck_are_in_flight_not_failed(
    orders: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, src, dst = orders
    cur = conn.cursor()
    # The source moved on; the target has not caught up yet (a row and a change in flight).
    cur.execute(f"INSERT INTO {q(src)}.orders VALUES (201, 1, 'new', now())")
    cur.execute(f"UPDATE {q(src)}.orders SET qty = 99 WHERE id = 5")
    asked = on_cue(
        monkeypatch,
        run_sql(
            conn,
            f"INSERT INTO {q(dst)}.orders SELECT * FROM {q(src)}.orders WHERE id = 201",
            f"UPDATE {q(dst)}.orders SET qty = 99 WHERE id = 5",
        ),
    )
    report = validate_replica(server_url(), server_url(), mapping=mapping(src, dst))
    result = table(report)
    assert result.state == "validated", result.to_text()
    assert result.in_flight_count == 2
    assert result.mismatches == 0 and result.tiers["checksum"] == "passed"
    assert asked == [0.0]  # one wait was enough: both keys agreed on the first re-check
    assert any("in flight" in n for n in result.notes)
    assert any("row counts differ" in n for n in result.notes)  # explained, not failed
    assert report.exit_code() == 0


def test_rows_still_changing_on_the_source_are_suspended(
    orders: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, src, dst = orders
    moving = run_sql(conn, f"UPDATE {q(src)}.orders SET qty = qty + 1 WHERE id = 7")
    moving()
    on_cue(monkeypatch, moving, moving)
    report = validate_replica(server_url(), server_url(), mapping=mapping(src, dst))
    result = table(report)
    assert result.state == "suspended", result.to_text()
    assert result.suspended == [["7"]] and result.suspended_count == 1
    assert result.mismatches == 0
    assert report.exit_code() == 0 and report.exit_code(strict=True) == 1
    assert "still changing on the source" in result.to_text()


def test_stable_differences_are_mismatched_with_their_rows(
    orders: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, src, dst = orders
    cur = conn.cursor()
    cur.execute(f"DELETE FROM {q(dst)}.orders WHERE id = 3")
    cur.execute(f"UPDATE {q(dst)}.orders SET note = 'corrupt' WHERE id = 4")
    cur.execute(f"INSERT INTO {q(dst)}.orders VALUES (500, 1, 'extra', now())")
    # One more key differs at first and is fixed in flight: it must not be reported.
    cur.execute(f"UPDATE {q(src)}.orders SET qty = 42 WHERE id = 9")
    asked = on_cue(monkeypatch, run_sql(conn, f"UPDATE {q(dst)}.orders SET qty = 42 WHERE id = 9"))
    report = validate_replica(
        server_url(), server_url(), mapping=mapping(src, dst), settle_delay=1.5
    )
    result = table(report)
    assert result.state == "mismatched"
    assert (result.missing, result.extra) == ([["3"]], [["500"]])
    assert [c["key"] for c in result.changed] == [["4"]]
    assert result.changed[0]["differences"]["note"] == ["n4", "corrupt"]
    assert (result.missing_count, result.extra_count, result.changed_count) == (1, 1, 1)
    assert result.in_flight_count == 1 and result.suspended_count == 0
    assert asked == [1.5, 1.5]  # the stable keys used every re-check
    assert any("re-checked 2 times, 1.5 s apart (settle-delay)" in n for n in result.notes)
    assert report.exit_code() == 1


def test_no_rechecks_reports_the_pass_as_it_found_it(
    orders: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, src, dst = orders
    conn.cursor().execute(f"UPDATE {q(src)}.orders SET qty = 42 WHERE id = 9")
    asked = on_cue(monkeypatch, run_sql(conn, f"UPDATE {q(dst)}.orders SET qty = 42 WHERE id = 9"))
    report = validate_replica(server_url(), server_url(), mapping=mapping(src, dst), rechecks=0)
    result = table(report)
    assert result.state == "mismatched" and result.changed_count == 1
    assert asked == [] and result.in_flight_count == 0


# -- the settle delay -----------------------------------------------------------------------
def test_the_wait_is_the_lag_of_the_lag_column(
    orders: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, src, dst = orders
    cur = conn.cursor()
    # The target's newest change is 40 s behind the source's.
    cur.execute(f"UPDATE {q(src)}.orders SET updated_at = %s WHERE id = 1", (OLD,))
    cur.execute(
        f"UPDATE {q(src)}.orders SET qty = 5, updated_at = %s WHERE id = 2",
        (OLD + dt.timedelta(seconds=100),),
    )
    cur.execute(
        f"UPDATE {q(dst)}.orders SET updated_at = %s WHERE id = 3",
        (OLD + dt.timedelta(seconds=60),),
    )
    cur.execute(
        f"UPDATE {q(src)}.orders SET updated_at = %s WHERE id = 3",
        (OLD + dt.timedelta(seconds=60),),
    )
    asked = on_cue(monkeypatch)
    report = validate_replica(
        server_url(),
        server_url(),
        mapping=mapping(src, dst),
        lag_column="updated_at",
        settle_delay=2,
    )
    result = table(report)
    assert asked == [40.0, 40.0]
    assert any("40 s apart (the lag of updated_at)" in n for n in result.notes)
    # A lag over settle-max waits settle-max, and says so.
    asked.clear()
    report = validate_replica(
        server_url(),
        server_url(),
        mapping=mapping(src, dst),
        lag_column="updated_at",
        settle_max=10,
    )
    assert asked == [10.0, 10.0]
    assert any(
        "settle-max (the lag, 40 s from the lag of updated_at" in n for n in table(report).notes
    )


def test_the_wait_is_the_heartbeat_tables_lag_or_the_lag_given(
    orders: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, src, dst = orders
    cur = conn.cursor()
    cur.execute(f"UPDATE {q(dst)}.orders SET qty = 0 WHERE id = 8")
    for schema, behind in ((src, 0), (dst, 12)):
        cur.execute(f"CREATE TABLE {q(schema)}.heartbeat (id int PRIMARY KEY, ts timestamptz)")
        cur.execute(
            f"INSERT INTO {q(schema)}.heartbeat VALUES (1, %s)",
            (
                dt.datetime(2026, 12, 4, 10, 0, 0, tzinfo=dt.timezone.utc)
                - dt.timedelta(seconds=behind),
            ),
        )
    asked = on_cue(monkeypatch)
    validate_replica(
        server_url(),
        server_url(),
        mapping=mapping(src, dst),
        tables=["orders"],
        heartbeat_table=f"{src}.heartbeat",
        rechecks=1,
    )
    assert asked == [12.0]
    asked.clear()
    report = validate_replica(
        server_url(), server_url(), mapping=mapping(src, dst), tables=["orders"], lag=3, rechecks=1
    )
    assert asked == [3.0]
    assert any("3 s apart (the lag given)" in n for n in table(report).notes)


# -- the simulation -------------------------------------------------------------------------
class Pipeline:
    """A seeded writer on the source and a replicator that copies each change to the target
    ``delay`` seconds later (the row as the source holds it then, as CDC does)."""

    HOT = range(1, 101)  # the writer's rows; the tests corrupt only rows outside it

    def __init__(self, src: str, dst: str, *, delay: float, seed: int) -> None:
        self.src, self.dst, self.delay = src, dst, delay
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.changes: list[tuple[float, int]] = []
        self.lock = threading.Lock()
        self.next_id = 10_000
        self.errors: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._guard(self._write), daemon=True),
            threading.Thread(target=self._guard(self._replicate), daemon=True),
        ]

    def _guard(self, fn: Callable[[Any], None]) -> Callable[[], None]:
        def run() -> None:
            conn = connect()
            try:
                fn(conn)
            except BaseException as exc:  # surfaced by the test, not lost in a thread
                self.errors.append(exc)
            finally:
                conn.close()

        return run

    def _write(self, conn: Any) -> None:
        cur = conn.cursor()
        while not self.stop.is_set():
            if self.rng.random() < 0.8:
                key = self.rng.choice(self.HOT)
                cur.execute(
                    f"UPDATE {q(self.src)}.orders SET qty = qty + 1, updated_at = clock_timestamp()"
                    " WHERE id = %s",
                    (key,),
                )
            else:
                key, self.next_id = self.next_id, self.next_id + 1
                cur.execute(
                    f"INSERT INTO {q(self.src)}.orders VALUES (%s, 1, 'new', clock_timestamp())",
                    (key,),
                )
            with self.lock:
                self.changes.append((time.monotonic(), key))
            time.sleep(0.01)

    def _replicate(self, conn: Any) -> None:
        cur = conn.cursor()
        while not self.stop.is_set() or self.changes:
            with self.lock:
                due = self.changes and self.changes[0][0] + self.delay <= time.monotonic()
                change = self.changes.pop(0) if due else None
            if change is None:
                if self.stop.is_set():
                    return
                time.sleep(0.005)
                continue
            cur.execute(
                f"INSERT INTO {q(self.dst)}.orders SELECT * FROM {q(self.src)}.orders"
                " WHERE id = %s ON CONFLICT (id) DO UPDATE SET qty = EXCLUDED.qty,"
                " note = EXCLUDED.note, updated_at = EXCLUDED.updated_at",
                (change[1],),
            )

    def __enter__(self) -> Pipeline:
        for thread in self.threads:
            thread.start()
        time.sleep(self.delay * 2)  # changes already in flight when validation starts
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)
        assert not self.errors, self.errors


def test_live_simulation_rows_in_flight_are_not_mismatched_and_corruption_is_exact(
    pair: tuple[Any, str, str],
) -> None:
    conn, src, dst = pair
    make_orders(conn, src, rows=2000)
    make_orders(conn, dst, rows=2000)
    settings = {"lag_column": "updated_at", "settle_delay": 0.6, "rechecks": 2}
    with Pipeline(src, dst, delay=0.2, seed=20261204):
        quiet = validate_replica(server_url(), server_url(), mapping=mapping(src, dst), **settings)
        # Behind the replicator's back, on rows the writer never touches.
        cur = conn.cursor()
        cur.execute(f"DELETE FROM {q(dst)}.orders WHERE id = 1500")
        cur.execute(f"UPDATE {q(dst)}.orders SET note = 'lost update' WHERE id = 1600")
        cur.execute(f"INSERT INTO {q(dst)}.orders VALUES (5000, 1, 'ghost', now())")
        corrupted = validate_replica(
            server_url(), server_url(), mapping=mapping(src, dst), **settings
        )
    result = table(quiet)
    assert result.state in ("validated", "suspended"), result.to_text()
    assert result.mismatches == 0
    found = table(corrupted)
    assert found.state == "mismatched", found.to_text()
    assert (found.missing, found.extra) == ([["1500"]], [["5000"]])
    assert [c["key"] for c in found.changed] == [["1600"]]
    assert found.mismatches == 3
    assert corrupted.exit_code() == 1


# -- checkpoints ----------------------------------------------------------------------------
def test_a_second_run_reads_only_the_rows_changed_since_the_first(
    pair: tuple[Any, str, str], tmp_path: Path
) -> None:
    conn, src, dst = pair
    make_orders(conn, src, rows=1000)
    make_orders(conn, dst, rows=1000)
    cur = conn.cursor()
    for schema in (src, dst):  # the newest row at the first run
        cur.execute(
            f"UPDATE {q(schema)}.orders SET updated_at = %s WHERE id = 1000",
            (OLD + dt.timedelta(hours=1),),
        )
    state = tmp_path / "state.json"
    first = validate_replica(
        server_url(),
        server_url(),
        mapping=mapping(src, dst),
        lag_column="updated_at",
        state_file=str(state),
    )
    assert table(first).source_rows == 1000 and first.exit_code() == 0
    saved = json.loads(state.read_text())["tables"][f"{src}.orders"]
    assert saved["checkpoint"] == "2026-01-01T13:00:00" and saved["column"] == "updated_at"
    assert "1 saved to" in first.checkpoints
    # Three rows change, and reach the target.
    for schema in (src, dst):
        cur.execute(
            f"UPDATE {q(schema)}.orders SET qty = 0, updated_at = %s WHERE id IN (10, 20, 30)",
            (OLD + dt.timedelta(days=1),),
        )
    src_conn, log = logged()
    try:
        second = validate_replica(
            src_conn,
            server_url(),
            mapping=mapping(src, dst),
            lag_column="updated_at",
            state_file=str(state),
        )
    finally:
        src_conn.close()
    result = table(second)
    assert result.state == "validated"
    # The three changed rows, and the newest of the first run (the checkpoint is inclusive).
    assert (result.source_rows, result.target_rows) == (4, 4)
    assert result.since == "2026-01-01T13:00:00"
    reads = [s for s in log.reading(src) if "MAX(" not in s]
    assert reads and all("\"updated_at\" >= '2026-01-01T13:00:00'" in s for s in reads)
    assert json.loads(state.read_text())["tables"][f"{src}.orders"]["checkpoint"] == (
        "2026-01-02T12:00:00"
    )


def test_a_failed_run_does_not_advance_the_checkpoint(
    orders: tuple[Any, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, src, dst = orders
    asked = on_cue(monkeypatch)  # the lost row makes the lag two days: waited on cue
    state = tmp_path / "state.json"
    settings = {"lag_column": "updated_at", "state_file": str(state)}
    validate_replica(server_url(), server_url(), mapping=mapping(src, dst), **settings)
    before = state.read_bytes()
    cur = conn.cursor()
    cur.execute(
        f"UPDATE {q(src)}.orders SET qty = 1, updated_at = %s WHERE id = 4",
        (OLD + dt.timedelta(days=2),),
    )  # never replicated: a lost change
    failed = validate_replica(server_url(), server_url(), mapping=mapping(src, dst), **settings)
    assert table(failed).state == "mismatched" and failed.exit_code() == 1
    assert asked == [120.0, 120.0]  # settle-max, not two days
    assert state.read_bytes() == before
    assert failed.checkpoints.startswith("not advanced")
    assert "checkpoints: not advanced" in failed.to_text()


def test_since_reads_from_the_checkpoint_given_and_tables_without_the_column_in_full(
    orders: tuple[Any, str, str],
) -> None:
    conn, src, dst = orders
    cur = conn.cursor()
    for schema in (src, dst):
        cur.execute(f"CREATE TABLE {q(schema)}.plain (id int PRIMARY KEY, v text)")
        cur.execute(f"INSERT INTO {q(schema)}.plain SELECT g, 'v' FROM generate_series(1, 50) g")
        cur.execute(
            f"UPDATE {q(schema)}.orders SET updated_at = %s WHERE id <= 5", (OLD + dt.timedelta(1),)
        )
    report = validate_replica(
        server_url(),
        server_url(),
        mapping=mapping(src, dst),
        lag_column="updated_at",
        since="2026-01-02T00:00:00",
    )
    assert table(report).source_rows == 5
    plain = table(report, "plain")
    assert plain.source_rows == 50 and plain.since is None
    assert any("no lag column updated_at: read in full" in n for n in plain.notes)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"since": "2026-01-01"}, "set lag-column"),
        ({"lag_column": "updated_at", "since": "yesterday"}, "is not a checkpoint"),
        ({"settle_delay": -1}, "settle-delay -1 must be seconds >= 0"),
        ({"rechecks": -1}, "rechecks -1 must be a whole number >= 0"),
        ({"settle_dealy": 1}, "did you mean 'settle_delay'"),
    ],
)
def test_live_settings_mistakes_are_one_line_before_connecting(
    given: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_replica(
            "postgresql://nobody@127.0.0.1:1/none", "postgresql://x@127.0.0.1:1/y", **given
        )


def test_a_broken_state_file_is_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json")
    with pytest.raises(ConfigError, match=r"cannot be read .* delete it"):
        validate_replica(
            "postgresql://nobody@127.0.0.1:1/none",
            "postgresql://x@127.0.0.1:1/y",
            lag_column="updated_at",
            state_file=str(state),
        )


def test_a_state_file_that_cannot_be_written_is_one_line(
    orders: tuple[Any, str, str], tmp_path: Path
) -> None:
    _, src, dst = orders
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    report = validate_replica(
        server_url(),
        server_url(),
        mapping=mapping(src, dst),
        lag_column="updated_at",
        state_file=str(blocker / "state.json"),
    )
    assert report.error.startswith(f"state file '{blocker / 'state.json'}' cannot be written")
    assert report.exit_code() == 2
    good = tmp_path / "state.json"
    validate_replica(
        server_url(),
        server_url(),
        mapping=mapping(src, dst),
        lag_column="updated_at",
        state_file=str(good),
    )
    assert good.stat().st_mode & 0o777 == 0o644


def test_a_heartbeat_table_that_is_not_there_is_the_runs_one_line_error(
    orders: tuple[Any, str, str],
) -> None:
    _, src, dst = orders
    report = validate_replica(
        server_url(), server_url(), mapping=mapping(src, dst), heartbeat_table=f"{src}.nope"
    )
    assert "has no table" in report.error and "heartbeat-table" in report.error
    assert report.exit_code() == 2 and "\n" not in report.error
