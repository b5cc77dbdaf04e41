"""Profiles: the target types real pipelines create for each source type, and allow-lists.

A profile says what a pipeline *produces*: ``debezium`` (the SQL Server connector into the
JDBC sink connector's PostgreSQL tables, default settings), ``dms`` (AWS SCT / DMS),
``pgloader``, and ``identity`` (PostgreSQL -> PostgreSQL: the same type).  docs/schema.md
cites where each mapping comes from.  A column pair whose target type is not what the
profile produces keeps its verdict and says so: the table was made by something else, or
altered since.

An allow-list (Google DVT's idea) names source -> target type pairs, with precision ranges,
and the verdict they get instead: ``datetime2(7) -> timestamp(6)`` accepted as
``representation`` when the pipeline truncates on purpose.  Its entries also count as what
the pipeline produces, so they extend a profile or override its entry for a source type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_cdc.errors import ConfigError, did_you_mean
from pytest_cdc.schema.catalog import CatalogReader
from pytest_cdc.schema.files import read_toml
from pytest_cdc.schema.rules import VERDICTS
from pytest_cdc.schema.types import Domain

_PATTERN = re.compile(
    r"^\s*(?P<head>[A-Za-z_][A-Za-z0-9_ ]*?)\s*"
    r"(?:\((?P<params>[^)]*)\)\s*(?P<tail>[A-Za-z][A-Za-z ]*?)?)?\s*$"
)
_PARAM = re.compile(
    r"^\s*(?:(?P<any>\*)|(?P<max>max)|(?P<low>\d+)(?:\s*-\s*(?P<high>\d+))?)\s*$", re.I
)


@dataclass(frozen=True)
class Param:
    """One type modifier a pattern accepts: any, ``max``, a number or a range of numbers."""

    low: int | None = None
    high: int | None = None
    any: bool = False
    max: bool = False

    def matches(self, value: int | None) -> bool:
        if self.any:
            return True
        if value is None:
            return self.max
        return not self.max and self.low is not None and self.low <= value <= (self.high or 0)


@dataclass(frozen=True)
class TypePattern:
    """A type with optional modifier ranges: ``decimal(1-18,0-4)``, ``nvarchar(max)``,
    ``varchar(*)``, ``timestamp`` (any modifiers)."""

    text: str
    name: str
    params: tuple[Param, ...] | None = None

    @classmethod
    def parse(cls, text: str) -> TypePattern:
        match = _PATTERN.match(text or "")
        if match is None:
            raise ValueError(f"{text!r} is not a type pattern like 'decimal(1-18,0-4)'")
        name = " ".join(f"{match['head']} {match['tail'] or ''}".lower().split())
        if match["params"] is None:
            return cls(text, name)
        params = []
        for part in match["params"].split(","):
            found = _PARAM.match(part)
            if found is None:
                raise ValueError(
                    f"{text!r}: modifier {part.strip()!r} is not a number, a range like"
                    " '0-6', 'max' or '*'"
                )
            if found["any"]:
                params.append(Param(any=True))
            elif found["max"]:
                params.append(Param(max=True))
            else:
                low = int(found["low"])
                high = int(found["high"]) if found["high"] else low
                if high < low:
                    raise ValueError(f"{text!r}: range {part.strip()!r} runs backwards")
                params.append(Param(low, high))
        return cls(text, name, tuple(params))

    def matches(self, domain: Domain, reader: CatalogReader) -> bool:
        if reader.pattern_name(self.name) != reader.pattern_name(domain.base):
            return False
        if self.params is None:
            return True
        if len(self.params) != len(domain.params):
            return False
        return all(p.matches(v) for p, v in zip(self.params, domain.params, strict=True))


@dataclass(frozen=True)
class AllowRule:
    """Accept ``source -> target`` pairs with ``verdict`` (and say why)."""

    source: TypePattern
    target: TypePattern
    verdict: str
    why: str = ""
    #: Where the rule was written (``file``, ``profile dms``), for messages.
    origin: str = ""

    def matches(
        self, src: Domain, dst: Domain, src_reader: CatalogReader, dst_reader: CatalogReader
    ) -> bool:
        return self.source.matches(src, src_reader) and self.target.matches(dst, dst_reader)


@dataclass(frozen=True)
class Produces:
    """Source types matching ``source`` become one of ``targets`` (``{0}``, ``{1}``: the
    source's modifiers)."""

    source: TypePattern
    targets: tuple[str, ...]
    note: str = ""

    def render(self, src: Domain) -> tuple[str, ...]:
        values = [("max" if p is None else str(p)) for p in src.params]
        out = []
        for template in self.targets:
            try:
                out.append(template.format(*values))
            except IndexError:
                out.append(template)
        return tuple(out)


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    source_engine: str
    target_engine: str = "postgresql"
    produces: tuple[Produces, ...] = ()
    allow: tuple[AllowRule, ...] = ()
    #: How the pipeline drops fractional digits it cannot store ("round"/"truncate"; None:
    #: not documented), for the encoding hints of lossy time pairs.
    timestamp_mode: str | None = None
    #: The target keeps the source's own type (PostgreSQL -> PostgreSQL).
    identity: bool = False
    #: Used when none is named and the engines fit.
    default: bool = False
    sources: tuple[str, ...] = ()

    def expected(self, src: Domain, reader: CatalogReader) -> tuple[str, ...] | None:
        """The target types this pipeline creates for ``src``; None when it does not say."""
        if self.identity:
            return (src.display,)
        for rule in self.produces:
            if rule.source.matches(src, reader):
                return rule.render(src)
        return None


def _p(source: str, *targets: str, note: str = "") -> Produces:
    return Produces(TypePattern.parse(source), targets, note)


_TEXT = ("varchar", "text")

DEBEZIUM = Profile(
    name="debezium",
    title="Debezium SQL Server connector -> Debezium JDBC sink (PostgreSQL), default settings",
    source_engine="mssql",
    timestamp_mode="round",
    sources=(
        "Debezium SQL Server connector, 'Data type mappings' (time.precision.mode=adaptive,"
        " decimal.handling.mode=precise, binary.handling.mode=bytes)",
        "Debezium JDBC sink connector, 'Data type mappings'; PostgresDatabaseDialect and the"
        " type classes of debezium-connector-jdbc (schema.evolution=basic,"
        " quote.identifiers=false, no column.propagate.source.type)",
    ),
    produces=(
        _p("bit", "boolean"),
        _p("tinyint", "smallint"),
        _p("smallint", "smallint"),
        _p("int", "integer"),
        _p("bigint", "bigint"),
        _p("real", "real", "double precision", note="FLOAT32 becomes JDBC FLOAT"),
        _p("float", "double precision"),
        _p("decimal", "numeric({0},{1})"),
        _p("numeric", "numeric({0},{1})"),
        _p("money", "numeric(19,4)"),
        _p("smallmoney", "numeric(10,4)"),
        *(
            _p(t, *_TEXT, note="STRING: no length without column propagation")
            for t in ("char", "nchar", "varchar", "nvarchar", "text", "ntext", "sysname")
        ),
        _p("xml", "xml"),
        _p("uniqueidentifier", *_TEXT, note="STRING: the upper-case text"),
        _p("date", "date"),
        _p("time", "time(6)"),
        _p("datetime", "timestamp(6)"),
        _p("smalldatetime", "timestamp(6)"),
        _p("datetime2", "timestamp(6)"),
        _p("datetimeoffset", "timestamptz(6)"),
        *(_p(t, "bytea") for t in ("binary", "varbinary", "image", "timestamp")),
    ),
)

DMS = Profile(
    name="dms",
    title="AWS SCT schema conversion + AWS DMS load, default settings",
    source_engine="mssql",
    sources=(
        "AWS DMS user guide, 'Data type rules' for SQL Server -> Aurora PostgreSQL / RDS for"
        " PostgreSQL (AWS SCT)",
        "AWS DMS user guide, 'Source data types for SQL Server' and 'Target data types for"
        " PostgreSQL' (tables DMS creates itself)",
    ),
    produces=(
        _p("bit", "numeric(1,0)", "boolean", note="SCT: NUMERIC(1,0); DMS alone: BOOL"),
        _p("tinyint", "smallint"),
        _p("smallint", "smallint"),
        _p("int", "integer"),
        _p("bigint", "bigint"),
        _p("real", "real"),
        _p("float", "double precision"),
        _p("decimal", "numeric({0},{1})"),
        _p("numeric", "numeric({0},{1})"),
        _p("money", "numeric(19,4)"),
        _p("smallmoney", "numeric(10,4)"),
        _p("char", "char({0})"),
        _p("nchar", "char({0})", "varchar({0})"),
        _p("varchar(max)", "text"),
        _p("varchar", "varchar({0})"),
        _p("nvarchar(max)", "text"),
        _p("nvarchar", "varchar({0})"),
        _p("text", "text"),
        _p("ntext", "text"),
        _p("sysname", "varchar(128)"),
        _p("xml", "xml", "text"),
        _p("uniqueidentifier", "uuid", "varchar(36)", note="DMS alone: STRING -> VARCHAR"),
        _p("date", "date"),
        _p("time", "time(6)"),
        _p("datetime", "timestamp(6)"),
        _p("smalldatetime", "timestamp(6)"),
        _p("datetime2(0-6)", "timestamp({0})"),
        _p("datetime2(7)", "timestamp(6)"),
        _p("datetimeoffset(0-6)", "timestamptz({0})"),
        _p("datetimeoffset(7)", "timestamptz(6)"),
        *(_p(t, "bytea") for t in ("binary", "varbinary", "image", "timestamp")),
        _p("hierarchyid", "varchar(250)"),
        _p("geometry", "text"),
        _p("geography", "text"),
    ),
)

PGLOADER = Profile(
    name="pgloader",
    title="pgloader MS SQL -> PostgreSQL, default casting rules",
    source_engine="mssql",
    sources=("pgloader, src/sources/mssql/mssql-cast-rules.lisp (*mssql-default-cast-rules*)",),
    produces=(
        *(
            _p(t, "text")
            for t in ("char", "nchar", "varchar", "nvarchar", "ntext", "text", "sysname")
        ),
        _p("xml", "xml"),
        _p("bit", "boolean"),
        _p("uniqueidentifier", "uuid"),
        _p("hierarchyid", "bytea"),
        _p("geography", "bytea"),
        _p("tinyint", "smallint", "integer", note="identity: serial"),
        _p("smallint", "smallint"),
        _p("int", "integer", "bigint", note="identity: bigserial"),
        _p("bigint", "bigint"),
        _p("float", "double precision"),
        _p("real", "real"),
        _p("decimal", "numeric({0},{1})"),
        _p("numeric", "numeric({0},{1})"),
        _p("money", "numeric"),
        _p("smallmoney", "numeric"),
        *(_p(t, "bytea") for t in ("binary", "varbinary", "image")),
        *(
            _p(t, "timestamptz")
            for t in ("smalldatetime", "datetime", "datetime2", "datetimeoffset")
        ),
        _p("date", "date"),
        _p("time", "time"),
        _p("timestamp", "timestamp", note="no cast rule: the information_schema name passes"),
    ),
)

IDENTITY = Profile(
    name="identity",
    title="PostgreSQL -> PostgreSQL: every column keeps its type",
    source_engine="postgresql",
    identity=True,
    default=True,
)

PROFILES: dict[str, Profile] = {p.name: p for p in (DEBEZIUM, DMS, PGLOADER, IDENTITY)}


def default_profile(source_engine: str, target_engine: str) -> Profile | None:
    """The profile used when none is named: identity between two PostgreSQL databases."""
    engines = (source_engine, target_engine)
    return next(
        (
            p
            for p in PROFILES.values()
            if p.default and (p.source_engine, p.target_engine) == engines
        ),
        None,
    )


def get_profile(name: str) -> Profile:
    """The profile called ``name``; a one-line error with the closest name otherwise."""
    found = PROFILES.get(name.strip().lower())
    if found is None:
        raise ConfigError(
            f"unknown profile {name!r}{did_you_mean(name, PROFILES)}; known profiles:"
            f" {', '.join(PROFILES)}"
        )
    return found


# -- allow-lists -----------------------------------------------------------------------------
ALLOW_KEYS = frozenset({"source", "target", "verdict", "why"})


def allow_rules(entries: Any, origin: str) -> tuple[AllowRule, ...]:
    """Allow-list entries (a list of tables with ``source``, ``target``, ``verdict``,
    ``why``) as rules; ``origin`` names where they were written, for errors."""
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise ConfigError(
            f"{origin}: the allow-list must be an array of tables:"
            ' [[allow]] source = "datetime2(7)" target = "timestamp(6)" verdict = "widened"'
        )
    rules = []
    for number, entry in enumerate(entries, 1):
        where = f"{origin}: allow-list entry {number}"
        for key in entry:
            if key not in ALLOW_KEYS:
                raise ConfigError(
                    f"{where}: unknown key {key!r}{did_you_mean(key, ALLOW_KEYS)}; known keys:"
                    f" {', '.join(sorted(ALLOW_KEYS))}"
                )
        patterns = []
        for side in ("source", "target"):
            text = entry.get(side)
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f'{where} needs {side} = "a type pattern like decimal(1-18,2)"')
            try:
                patterns.append(TypePattern.parse(text))
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        verdict = entry.get("verdict", "widened")
        if verdict not in VERDICTS:
            raise ConfigError(
                f"{where}: verdict {verdict!r} is unknown{did_you_mean(str(verdict), VERDICTS)};"
                f" use one of {', '.join(VERDICTS)}"
            )
        why = entry.get("why", "")
        if not isinstance(why, str):
            raise ConfigError(f"{where}: why must be a string")
        rules.append(AllowRule(patterns[0], patterns[1], verdict, why, origin))
    return tuple(rules)


def load_allow_list(path: str | Path) -> tuple[AllowRule, ...]:
    """Read an allow-list file: TOML with ``[[allow]]`` tables."""
    data = read_toml(Path(path))
    for key in data:
        if key != "allow":
            raise ConfigError(
                f"{path}: unknown key {key!r}{did_you_mean(key, ['allow'])}; an allow-list"
                " file holds [[allow]] tables"
            )
    return allow_rules(data.get("allow", []), str(path))


def check_names(rules: Sequence[AllowRule], src: CatalogReader, dst: CatalogReader) -> None:
    """Refuse allow-list type names the engines do not have (a typo must not go unnoticed)."""
    for rule in rules:
        for pattern, reader, side in ((rule.source, src, "source"), (rule.target, dst, "target")):
            name = reader.pattern_name(pattern.name)
            if not reader.known_type(name):
                raise ConfigError(
                    f"{rule.origin}: {pattern.text!r} is not a {side} type"
                    f"{did_you_mean(name, reader.type_names)}"
                )


@dataclass
class Expectations:
    """The profile and allow-list in force for one comparison."""

    profile: Profile | None = None
    allow: tuple[AllowRule, ...] = field(default_factory=tuple)

    def override(
        self, src: Domain, dst: Domain, src_reader: CatalogReader, dst_reader: CatalogReader
    ) -> AllowRule | None:
        rules = self.allow + (self.profile.allow if self.profile else ())
        return next((r for r in rules if r.matches(src, dst, src_reader, dst_reader)), None)

    def expected(
        self, src: Domain, src_reader: CatalogReader
    ) -> tuple[tuple[str, ...], str] | None:
        """The target types the pipeline creates for ``src``, and who says so."""
        listed = [r for r in self.allow if r.source.matches(src, src_reader)]
        if listed:
            return tuple(r.target.text for r in listed), listed[0].origin
        if self.profile is None:
            return None
        found = self.profile.expected(src, src_reader)
        return None if found is None else (found, f"profile {self.profile.name}")
