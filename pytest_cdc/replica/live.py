"""Live CDC: rows in flight told apart from rows lost.

On a live pipeline every busy table differs at any instant: rows committed on the source a
moment ago have not reached the target yet.  So a differing row is not reported at once.  As
AWS DMS validation does, the rows a pass found differing are read again on both sides, right
away and then after a settle delay (the ``settle-delay`` setting or the replication lag,
whichever is longer, at most ``settle-max``), up to ``rechecks`` times.  Each key ends in one
state:

- **in flight**: both sides agreed on a later check (the change had not arrived yet);
- **suspended**: it still differs and its source row changed between the last two checks
  (still moving: DMS's "Suspended"; it fails the gate only with ``--strict``);
- **missing / extra / changed**: it still differs and the source row held still: a stable
  mismatch, the only thing that fails the gate by default.

The lag is the longest of: the ``lag`` given, Debezium's heartbeat table (its newest value on
the source less its newest on the target), and the table's own lag column (the same).
Re-checks read only the differing keys (their row hashes, as the pass computed them), a few
hundred keys a statement, on connections leased for each check and returned while waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_cdc.checksums.keyed import KeyedRows, KeyText, newest, row_hashes
from pytest_cdc.replica.checkpoints import seconds_between

if TYPE_CHECKING:
    from pytest_cdc.checksums.connections import Opened
    from pytest_cdc.checksums.report import ReconcileReport
    from pytest_cdc.replica.tiers import TableCheck


@dataclass
class Settle:
    """How long to wait between checks, and what set it."""

    seconds: float
    why: str


@dataclass
class KeyStates:
    """Where each differing key ended after the re-checks."""

    in_flight: list[KeyText] = field(default_factory=list)
    suspended: list[KeyText] = field(default_factory=list)
    missing: list[KeyText] = field(default_factory=list)
    extra: list[KeyText] = field(default_factory=list)
    changed: list[KeyText] = field(default_factory=list)
    #: Checks made (the first, right after the pass, included) and the wait between them.
    checks: int = 0
    settle: Settle | None = None


def lag_seconds(src_value: Any, dst_value: Any) -> float | None:
    """The replication lag a lag column shows: the source's newest value less the target's
    (never negative: a target ahead of its source is not behind)."""
    behind = seconds_between(src_value, dst_value)
    return None if behind is None else max(behind, 0.0)


def settle_for(check: TableCheck) -> Settle:
    """The table's wait between checks: max(settle-delay, the lag), at most settle-max."""
    run, settings = check.run_, check.run_.settings
    candidates = [(float(settings.settle_delay), "settle-delay")]
    if settings.lag is not None:
        candidates.append((float(settings.lag), "the lag given"))
    heartbeat = run.heartbeat_lag()
    if heartbeat is not None:
        candidates.append((heartbeat, "the heartbeat table's lag"))
    table_lag = check.table_lag()
    if table_lag is not None:
        candidates.append((table_lag, f"the lag of {settings.lag_column}"))
    seconds, why = max(candidates, key=lambda c: c[0])
    if seconds > settings.settle_max:
        return Settle(
            float(settings.settle_max),
            f"settle-max (the lag, {seconds:.0f} s from {why}, is longer)",
        )
    return Settle(seconds, why)


def wait(seconds: float) -> None:
    """The wait between checks (a module function: the tests replace it with one that plays
    the replicator, so that in-flight and moving rows are made on cue, not raced)."""
    time.sleep(seconds)


def recheck(
    check: TableCheck,
    found: ReconcileReport,
    *,
    sleep: Callable[[float], None] | None = None,
) -> KeyStates:
    """Read the pass's differing keys again until they agree or the re-checks run out."""
    settings = check.run_.settings
    states = KeyStates()
    keys: list[KeyText] = [tuple(k) for k in found.missing]
    keys += [tuple(k) for k in found.extra]
    keys += [tuple(c.key) for c in found.changed]
    open_keys = list(dict.fromkeys(keys))
    history: dict[KeyText, list[str | None]] = {k: [] for k in open_keys}
    last = KeyedRows()
    for number in range(settings.rechecks + 1):
        if number:
            if states.settle is None:
                states.settle = settle_for(check)
            (sleep or wait)(states.settle.seconds)
        last = _read(check, open_keys)
        states.checks += 1
        still = []
        for key in open_keys:
            src_hash, dst_hash, on_src, on_dst = last.state(key)
            if on_src == on_dst and src_hash == dst_hash:
                states.in_flight.append(key)  # agreed (or gone from both sides)
                continue
            history[key].append(src_hash if on_src else None)
            still.append(key)
        open_keys = still
        if not open_keys:
            break
    for key in open_keys:
        seen = history[key]
        _, _, on_src, on_dst = last.state(key)
        if len(seen) >= 2 and seen[-1] != seen[-2]:
            states.suspended.append(key)
        elif on_src and not on_dst:
            states.missing.append(key)
        elif on_dst and not on_src:
            states.extra.append(key)
        else:
            states.changed.append(key)
    return states


def _read(check: TableCheck, keys: Sequence[KeyText]) -> KeyedRows:
    args = check.comparison_args
    with check.leases() as (src, dst):
        given = args(src, dst)
        return row_hashes(
            src,
            dst,
            table=given["table"],
            target_table=given["target_table"],
            key=list(check.pair.key),
            keys=keys,
            columns=given["columns"],
            column_map=given["column_map"],
            where=given["where"],
            target_where=given["target_where"],
            options=check.encoding(),
            timeout=given["timeout"],
            lock_timeout=given["lock_timeout"],
        )


def newest_on_both(
    src: Opened,
    dst: Opened,
    tables: tuple[str, str],
    columns: tuple[str, str],
    wheres: tuple[str | None, str | None] = (None, None),
    *,
    timeout: float | None,
    lock_timeout: float | None,
    required: bool = False,
) -> tuple[Any, Any]:
    """A column's newest value on the source and on the target (the lag column, or the
    heartbeat's timestamp): None where the table is empty or lacks the column, unless
    ``required``."""
    src_value, dst_value = (
        newest(
            side,
            table,
            column,
            where=where,
            timeout=timeout,
            lock_timeout=lock_timeout,
            required=required,
            label=label,
        )
        for side, table, column, where, label in zip(
            (src, dst), tables, columns, wheres, ("source", "target"), strict=True
        )
    )
    return src_value, dst_value


def newest_pair(check: TableCheck, column: str) -> tuple[Any, Any]:
    """The lag column's newest value on the source and on the target."""
    target_column = next((c.target for c in check.pair.columns if c.source == column), column)
    with check.leases() as (src, dst):
        given = check.comparison_args(src, dst)
        return newest_on_both(
            src,
            dst,
            (given["table"], given["target_table"]),
            (column, target_column),
            (given["where"], given["target_where"]),
            timeout=given["timeout"],
            lock_timeout=given["lock_timeout"],
        )


def apply(check: TableCheck, found: ReconcileReport, states: KeyStates) -> dict[str, Any]:
    """The result fields the key states give: kept keys, counts, the changed rows' values."""
    changed_rows = {tuple(c.key): asdict(c) for c in found.changed}
    # Keys past table-failure-max-count were counted, never kept: they stay as counted.
    unkept = {
        "missing": found.missing_count - len(found.missing),
        "extra": found.extra_count - len(found.extra),
        "changed": found.changed_count - len(found.changed),
    }
    return {
        "missing": [list(k) for k in states.missing],
        "extra": [list(k) for k in states.extra],
        "changed": [
            changed_rows.get(k, {"key": list(k), "differences": {}}) for k in states.changed
        ],
        "missing_count": len(states.missing) + unkept["missing"],
        "extra_count": len(states.extra) + unkept["extra"],
        "changed_count": len(states.changed) + unkept["changed"],
        "in_flight_count": len(states.in_flight),
        "suspended_count": len(states.suspended),
        "suspended": [list(k) for k in states.suspended],
    }
