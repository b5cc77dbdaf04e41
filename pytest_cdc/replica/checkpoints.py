"""Checkpoints: a nightly gate reads only the rows changed since the last clean run.

A checkpoint is a value of the lag column (``updated_at``, ``_cdc_ts``): a timestamp, or a
whole number (epoch seconds, or milliseconds from 10^11 up, as Debezium's ``ts_ms``).  With
``since`` (or a state file left by an earlier run) a table is compared only where its lag
column is at least the checkpoint, on both sides, through the index the coverage hook asks
for.  A clean run stores, per table, the source's newest lag-column value read before the
table's check, less the settle delay: a row committed late with an earlier timestamp is then
read again rather than never.

What this cannot see, by construction: a row deleted on the source after the checkpoint has
no lag column left to select it, so its lingering copy on the target is found only by a full
run (run one weekly, as AWS DMS users do).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_cdc.errors import ConfigError

STATE_VERSION = 1
#: Whole numbers from here up are epoch milliseconds (Debezium's ts_ms), below it seconds.
_MILLIS_FROM = 10**11

Checkpoint = dt.datetime | dt.date | int


def parse_checkpoint(text: Any, where: str) -> Checkpoint:
    """A checkpoint from its text (ISO 8601 timestamp or date, or a whole number)."""
    if isinstance(text, bool):
        raise ConfigError(f"{where} {text!r} is not a timestamp or a whole number")
    if isinstance(text, int):
        return text
    value = str(text).strip()
    if value.lstrip("-").isdigit():
        return int(value)
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{where} {value!r} is not a checkpoint: give an ISO timestamp"
            " (2026-12-01T00:00:00) or a whole number (epoch seconds or milliseconds)"
        ) from None


def to_text(value: Checkpoint) -> str:
    """The checkpoint's canonical text: what the state file stores and the SQL compares."""
    if isinstance(value, int):
        return str(value)
    # ISO 8601 with the "T": the one string form SQL Server reads the same for datetime and
    # datetime2 whatever the session's language and DATEFORMAT.
    return value.isoformat()


def seconds_between(newer: Any, older: Any) -> float | None:
    """``newer - older`` in seconds, for two lag-column values (None: not comparable)."""
    if newer is None or older is None:
        return None
    if isinstance(newer, dt.datetime) and isinstance(older, dt.datetime):
        # A naive value is taken as UTC (the usual convention of replicated timestamps).
        if (newer.tzinfo is None) != (older.tzinfo is None):
            newer, older = _naive_utc(newer), _naive_utc(older)
        return float((newer - older).total_seconds())
    if isinstance(newer, dt.date) and isinstance(older, dt.date):
        return float((newer - older).days * 86400)
    if _number(newer) and _number(older):
        scale = 1000.0 if max(abs(float(newer)), abs(float(older))) >= _MILLIS_FROM else 1.0
        return (float(newer) - float(older)) / scale
    return None


def less(value: Any, seconds: float) -> Checkpoint | None:
    """``value`` moved back by ``seconds`` (the margin a stored checkpoint keeps)."""
    if isinstance(value, dt.datetime):
        # Whole seconds, rounded down: SQL Server's datetime takes no more than milliseconds
        # from a string, and an earlier checkpoint only reads a few rows again.
        return (value - dt.timedelta(seconds=seconds)).replace(microsecond=0)
    if isinstance(value, dt.date):
        return value - dt.timedelta(days=1 if seconds > 0 else 0)
    if _number(value):
        number = int(value)
        scale = 1000 if abs(number) >= _MILLIS_FROM else 1
        return number - int(seconds * scale + 0.999)
    return None


def _number(value: Any) -> bool:
    from decimal import Decimal

    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


# -- the state file -------------------------------------------------------------------------
def load_state(path: str | Path) -> dict[str, str]:
    """The checkpoints a state file holds (table -> checkpoint text); none when it does not
    exist yet (the first run reads everything)."""
    file = Path(path)
    if not file.exists():
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"state file {str(file)!r} cannot be read ({exc}): fix it, or delete it to check"
            " every row once more"
        ) from None
    tables = data.get("tables") if isinstance(data, Mapping) else None
    if not isinstance(tables, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Mapping) and isinstance(v.get("checkpoint"), str)
        for k, v in tables.items()
    ):
        raise ConfigError(
            f"state file {str(file)!r} is not a pytest-cdc state file: delete it to check every"
            " row once more"
        )
    out = {}
    for name, entry in tables.items():
        parse_checkpoint(entry["checkpoint"], f"state file {str(file)!r}: {name}")
        out[name] = str(entry["checkpoint"])
    return out


def save_state(path: str | Path, checkpoints: Mapping[str, str], column: str) -> None:
    """Write the checkpoints (merged over the file's others) atomically: a run stopped while
    writing leaves the old file whole."""
    file = Path(path)
    tables: dict[str, Any] = {}
    with contextlib.suppress(ConfigError):
        tables = {k: {"checkpoint": v} for k, v in load_state(file).items()}
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    for name, value in checkpoints.items():
        tables[name] = {"checkpoint": value, "column": column, "saved": now}
    text = json.dumps({"version": STATE_VERSION, "tables": dict(sorted(tables.items()))}, indent=2)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=file.name, dir=file.parent)
    except OSError as exc:
        raise ConfigError(
            f"state file {str(file)!r} cannot be written ({exc.strerror or exc}): give a path"
            " in a writable directory"
        ) from None
    try:
        # mkstemp makes the file private; a state file is as readable as any other output.
        mode = file.stat().st_mode & 0o777 if file.exists() else 0o644
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text + "\n")
        os.chmod(tmp, mode)
        os.replace(tmp, file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
