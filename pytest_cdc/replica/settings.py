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
}


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
