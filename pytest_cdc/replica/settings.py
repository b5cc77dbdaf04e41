"""How a replica is validated: tiers, concurrency, sharding, and the live-CDC thresholds.

Read from ``[tool.pytest-cdc.replica.validation]`` (as strictly as the rest of the mapping: an
unknown key is an error with a "did you mean"); every key can also be passed to
:func:`~pytest_cdc.replica.validate_replica` and on the ``pytest-cdc validate`` command line,
which win over the file::

    [tool.pytest-cdc.replica.validation]
    tiers = ["schema", "count", "checksum"]   # also "aggregates"
    concurrency = 4                           # connections a database, at most
    stop-early = true                         # a table failing a tier skips the later ones
    allow = ["widened", "representation", "lossy"]
    failure-max-count = 10000                 # mismatched rows before the run stops
    table-failure-max-count = 1000            # mismatched rows before a table stops

    # Live CDC (docs/replica.md, "Live CDC"): differing rows are re-checked before they count.
    rechecks = 2                              # re-checks of the differing rows, 0: none
    settle-delay = 0                          # seconds between checks, at least the lag:
    lag-column = "updated_at"                 #   measured from this column on both sides,
    heartbeat-table = "dbo.debezium_heartbeat"  # or Debezium's heartbeat table (its
    heartbeat-column = "ts"                   #   newest value on each side),
    lag = 30                                  #   or given, in seconds
    settle-max = 120                          # the longest wait, whatever the lag says
    since = "2026-12-01T00:00:00"             # only rows whose lag column is at least this
    state-file = ".cdc-replica-state.json"    # or the checkpoint a clean run left here
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_cdc.errors import ConfigError, did_you_mean

#: Cheapest first.  "aggregates" reads each table once more (count, NULLs, sums, minimum and
#: maximum a column); "checksum" finds the exact rows, and its pass also counts the rows.
TIERS = ("schema", "count", "aggregates", "checksum")
DEFAULT_TIERS = ("schema", "count", "checksum")
#: Verdicts that let a table's data be checked: a lossy pair is compared at the precision
#: both sides keep (the schema report sets the encoding options), an incompatible one is not.
DEFAULT_ALLOW = ("widened", "representation", "lossy")
#: AWS DMS's defaults (FailureMaxCount, TableFailureMaxCount).
FAILURE_MAX_COUNT = 10_000
TABLE_FAILURE_MAX_COUNT = 1_000
DEFAULT_CONCURRENCY = 4

_KEYS = {
    "tiers": "tiers",
    "concurrency": "concurrency",
    "stop-early": "stop_early",
    "allow": "allow",
    "failure-max-count": "failure_max_count",
    "table-failure-max-count": "table_failure_max_count",
    "rechecks": "rechecks",
    "settle-delay": "settle_delay",
    "settle-max": "settle_max",
    "lag": "lag",
    "lag-column": "lag_column",
    "heartbeat-table": "heartbeat_table",
    "heartbeat-column": "heartbeat_column",
    "since": "since",
    "state-file": "state_file",
}
#: Re-checks of the differing rows before they are reported (live CDC): the first tells rows
#: in flight from rows lost, the second tells a row still changing from a stable mismatch.
DEFAULT_RECHECKS = 2
#: The longest wait between checks, whatever the measured lag says (a replica hours behind
#: is reported as it is rather than waited for).
DEFAULT_SETTLE_MAX = 120.0


@dataclass(frozen=True)
class Shard:
    """This run's slice of the work: shard ``index`` (1-based) of ``count``."""

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        head, slash, tail = text.partition("/")
        if not slash or not head.strip().isdigit() or not tail.strip().isdigit():
            raise ConfigError(f"shard {text!r} is not I/N: write it as 2/4 (the second of four)")
        shard = cls(int(head), int(tail))
        if not 1 <= shard.index <= shard.count:
            raise ConfigError(f"shard {text!r}: I must be from 1 to N")
        return shard

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class ValidationSettings:
    tiers: tuple[str, ...] = DEFAULT_TIERS
    concurrency: int = DEFAULT_CONCURRENCY
    stop_early: bool = True
    allow: tuple[str, ...] = DEFAULT_ALLOW
    failure_max_count: int = FAILURE_MAX_COUNT
    table_failure_max_count: int = TABLE_FAILURE_MAX_COUNT
    shard: Shard = Shard()
    rechecks: int = DEFAULT_RECHECKS
    settle_delay: float = 0.0
    settle_max: float = DEFAULT_SETTLE_MAX
    lag: float | None = None
    lag_column: str | None = None
    heartbeat_table: str | None = None
    heartbeat_column: str = "ts"
    since: str | None = None
    state_file: str | None = None

    def __post_init__(self) -> None:
        unknown = [t for t in self.tiers if t not in TIERS]
        if unknown:
            raise ConfigError(
                f"tier {unknown[0]!r} is unknown{did_you_mean(unknown[0], TIERS)}; tiers are"
                f" {', '.join(TIERS)}"
            )
        if not self.tiers:
            raise ConfigError(f"no tiers given: pass some of {', '.join(TIERS)}")
        for name in ("concurrency", "failure_max_count", "table_failure_max_count"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name.replace('_', '-')} {value!r} must be a whole number >= 1")
        if (
            isinstance(self.rechecks, bool)
            or not isinstance(self.rechecks, int)
            or self.rechecks < 0
        ):
            raise ConfigError(f"rechecks {self.rechecks!r} must be a whole number >= 0")
        for name in ("settle_delay", "settle_max", "lag"):
            value = getattr(self, name)
            if value is None and name == "lag":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ConfigError(f"{name.replace('_', '-')} {value!r} must be seconds >= 0")
        for name in ("lag_column", "heartbeat_table", "heartbeat_column", "since", "state_file"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError(f"{name.replace('_', '-')} {value!r} must be a non-empty name")
        if self.since is not None:
            from pytest_cdc.replica.checkpoints import parse_checkpoint

            parse_checkpoint(self.since, "since")
        if (self.since or self.state_file) and not self.lag_column:
            raise ConfigError(
                "since and state-file read the rows changed after a checkpoint through the lag"
                ' column: set lag-column (e.g. lag-column = "updated_at")'
            )
        from pytest_cdc.schema.mapping import check_verdicts

        check_verdicts(self.allow, "allow")

    def tier(self, name: str) -> bool:
        return name in self.tiers


def validation_settings(
    table: Mapping[str, Any] | None = None,
    *,
    origin: str = "[tool.pytest-cdc.replica.validation]",
    **given: Any,
) -> ValidationSettings:
    """The settings of the mapping's ``validation`` table, overridden by ``given`` (keyword
    names; None leaves a value as it is)."""
    known = {f.name for f in dataclasses.fields(ValidationSettings)}
    for name in given:
        if name not in known:
            raise ConfigError(f"unknown validation setting {name!r}{did_you_mean(name, known)}")
    values: dict[str, Any] = {}
    for key, value in (table or {}).items():
        if key not in _KEYS:
            raise ConfigError(f"{origin}: unknown key {key!r}{did_you_mean(key, _KEYS)}")
        values[_KEYS[key]] = value
    values.update({k: v for k, v in given.items() if v is not None})
    for name in ("tiers", "allow"):
        if name in values:
            values[name] = _names(values[name], f"{origin}: {name}")
    if isinstance(values.get("shard"), str):
        values["shard"] = Shard.parse(values["shard"])
    return dataclasses.replace(ValidationSettings(), **values)


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of names, got {value!r}")
    return tuple(value)
