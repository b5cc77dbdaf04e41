"""Column types as value domains: the set of values a column can hold, engine-neutral.

Each engine's catalog module turns a catalog :class:`~pytest_cdc.schema.model.Column` into a
:class:`Domain` (each engine's ``catalog.py``: ``domain``); the rules
(:mod:`pytest_cdc.schema.rules`) compare two domains and never look at engine names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction

from pytest_cdc.checksums.encoding import MAX_FLOAT_DIGITS, TypeClass


class Family(str, enum.Enum):
    """What kind of values a type holds; the rules compare families first."""

    INTEGER = "integer"
    DECIMAL = "decimal"
    FLOAT = "float"
    BOOLEAN = "boolean"
    TEXT = "text"
    CHAR = "char"
    XML = "xml"
    JSON = "json"
    BINARY = "binary"
    DATE = "date"
    TIME = "time"
    TIMESTAMP = "timestamp"
    TIMESTAMPTZ = "timestamptz"
    UUID = "uuid"
    #: Types pytest-cdc has no rule for (PostgreSQL intervals, arrays, ranges, enums, ...):
    #: equal only to the same type.
    OTHER = "other"
    #: Types whose values pytest-cdc cannot check at all (sql_variant, hierarchyid, geometry,
    #: geography, CLR types): always reported, never skipped silently.
    UNSUPPORTED = "unsupported"


#: Families whose values are exact numbers.
EXACT = frozenset({Family.INTEGER, Family.DECIMAL})
#: Families of character data.
CHARACTER = frozenset({Family.TEXT, Family.CHAR, Family.XML, Family.JSON})
TEMPORAL = frozenset({Family.TIME, Family.TIMESTAMP, Family.TIMESTAMPTZ})


@dataclass(frozen=True)
class Domain:
    """The values a column type can hold.

    ``base`` is the engine's type name (``datetime2``, ``numeric``) and ``params`` its
    modifiers as the rules read them (``(7,)``, ``(18, 2)``, ``(None,)`` for ``max``):
    type patterns in profiles and allow-lists match on these.  ``display`` is the type as a
    person writes it.  Only the fields of the domain's family are set.
    """

    family: Family
    engine: str
    base: str
    display: str
    params: tuple[int | None, ...] = ()
    #: Exact numbers: the smallest and largest value (integers, money); None when the
    #: precision and scale say it all.
    low: Fraction | None = None
    high: Fraction | None = None
    #: Decimal: total digits and digits after the point; None for an unbounded numeric.
    precision: int | None = None
    scale: int | None = None
    #: Float: bits of mantissa (24 for real, 53 for double precision).
    bits: int | None = None
    #: Character data: most characters; binary: most bytes.  None when unbounded.
    length: int | None = None
    #: char(n)/nchar(n)/binary(n): values are padded to the length.
    fixed: bool = False
    #: Character data can hold any Unicode character (nvarchar, PostgreSQL UTF8 text).
    unicode: bool = True
    #: Time and timestamps: fractional second digits kept.
    fraction: int | None = None
    #: SQL Server datetime: fractions are counted in 1/300 s ticks, shown as 3 digits.
    ticks300: bool = False
    #: SQL Server smalldatetime: minutes only.
    minutes: bool = False
    #: Dates and timestamps: the first and last year the type holds.
    years: tuple[int, int] | None = None
    #: The canonical format the checksum renders this type in (None: it cannot).
    type_class: TypeClass | None = None
    #: Most float digits this engine's checksum SQL renders like the other engine's
    #: (docs/checksum.md, "Floats": 14 on SQL Server, 15 on PostgreSQL).
    float_digits: int = MAX_FLOAT_DIGITS
    #: What else a person must know about the type (rowversion, unsupported types).
    note: str = ""

    def __str__(self) -> str:
        return self.display

    @property
    def largest(self) -> Fraction | None:
        """The largest magnitude an exact number can have; None when unbounded."""
        if self.low is not None and self.high is not None:
            return max(abs(self.low), abs(self.high))
        if self.precision is None:
            return None
        scale = self.scale or 0
        return Fraction(10 ** (self.precision - scale)) - Fraction(1, 10**scale)

    @property
    def decimal_places(self) -> int | None:
        """Digits after the point an exact number can have (0 for integers); None: any."""
        if self.family is Family.INTEGER:
            return 0
        return self.scale if self.precision is not None else None

    @property
    def digits(self) -> int | None:
        """Significant decimal digits an exact number can have; None when unbounded."""
        if self.family is Family.INTEGER:
            return len(str(int(self.largest or 0)))
        return self.precision


def integer(engine: str, base: str, low: int, high: int, type_class: TypeClass | None) -> Domain:
    return Domain(
        Family.INTEGER,
        engine,
        base,
        base,
        low=Fraction(low),
        high=Fraction(high),
        type_class=type_class,
    )
