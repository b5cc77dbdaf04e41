"""The canonical row encoding, written down as data.

Both engines and the Python oracle turn a row into the same UTF-8 byte string and hash it with
MD5.  The rules (docs/checksum.md has the full argument):

* A row is the concatenation of one *field* per compared column, key columns first, in a fixed
  column order.  A field is ``N`` for NULL, otherwise ``V`` followed by the value:
  - free text (text, char, json) is length-prefixed: ``V<octets>:<utf-8 bytes>``;
  - every other type class renders into an alphabet without ``;`` and ends with ``;``.
  Each field is therefore self-delimiting and the concatenation can be decoded field by field:
  the encoding is injective, whatever the values contain.
* Each type class has one fixed, locale-free format (:data:`FORMATS`).
* The per-row hash is the first 8 bytes of the MD5 read as a signed big-endian 64-bit integer;
  a segment's checksum is the row count plus the exact sum of those integers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from pytest_cdc.errors import ConfigError
from pytest_cdc.errors import ReconcileError as ReconcileError  # its first home


class TypeClass(str, enum.Enum):
    """The formats a column can be rendered in; each engine maps its types onto these."""

    INTEGER = "integer"
    DECIMAL = "decimal"
    FLOAT = "float"
    BOOLEAN = "boolean"
    TEXT = "text"
    CHAR = "char"
    JSON = "json"
    DATE = "date"
    TIME = "time"
    TIMESTAMP = "timestamp"
    TIMESTAMPTZ = "timestamptz"
    UUID = "uuid"
    BINARY = "binary"


#: Type classes whose values may contain any character: these are length-prefixed.
LENGTH_PREFIXED = frozenset({TypeClass.TEXT, TypeClass.CHAR, TypeClass.JSON})

#: Human description of each format, used by docs and error messages.
FORMATS: dict[TypeClass, str] = {
    TypeClass.INTEGER: "decimal digits, '-' for negatives, no leading zeros or '+'",
    TypeClass.DECIMAL: "plain decimal, trailing fractional zeros and a trailing '.' removed "
    "(scale-independent: 1.50 and 1.5000 are '1.5'); 'NaN', 'Infinity', '-Infinity'",
    TypeClass.FLOAT: "shortest round-trip decimal of the value widened to double precision, "
    "rounded half away from zero to float_digits significant digits, then written like "
    "decimal (plain notation, no trailing zeros); 0 and -0 are '0'; 'NaN', 'Infinity', "
    "'-Infinity'",
    TypeClass.BOOLEAN: "'1' or '0'",
    TypeClass.TEXT: "the UTF-8 bytes as stored",
    TypeClass.CHAR: "the UTF-8 bytes with trailing spaces removed (char(n) padding)",
    TypeClass.JSON: "the document text as the database returns it (jsonb: PostgreSQL's form)",
    TypeClass.DATE: "'YYYY-MM-DD'",
    TypeClass.TIME: "'HH:MM:SS[.f]': at most timestamp_precision fractional digits, trailing "
    "zeros and a bare '.' removed",
    TypeClass.TIMESTAMP: "'YYYY-MM-DD HH:MM:SS[.f]', fraction as for time",
    TypeClass.TIMESTAMPTZ: "converted to UTC, then as timestamp",
    TypeClass.UUID: "36 characters, lower-case hex with hyphens",
    TypeClass.BINARY: "lower-case hex, no prefix",
}

#: Formats that have a *probe* text: a finer encoding a first pass may compare instead, because
#: it is much cheaper to build.  Finer means equal probe texts imply equal canonical texts, so
#: a probe pass can only prove segments equal; a segment whose probe digests differ is
#: digested again in the canonical encoding before anything is reported (docs/checksum.md §3).
PROBE_FORMATS: dict[TypeClass, str] = {
    TypeClass.FLOAT: "16 lower-case hex digits: the IEEE 754 binary64 bits, big-endian, of the "
    "value widened to double precision (the value the canonical text is rounded from)",
}

#: Type classes that can be compared with each other; the pair's format is the first listed
#: class present on either side (e.g. integer vs decimal renders both as decimal).
_COMPATIBLE: tuple[tuple[TypeClass, ...], ...] = (
    (TypeClass.FLOAT, TypeClass.DECIMAL, TypeClass.INTEGER, TypeClass.BOOLEAN),
    (TypeClass.CHAR, TypeClass.JSON, TypeClass.TEXT),
    (TypeClass.TIMESTAMPTZ, TypeClass.TIMESTAMP),
    (TypeClass.DATE,),
    (TypeClass.TIME,),
    (TypeClass.UUID,),
    (TypeClass.BINARY,),
)

TIMESTAMP_MODES = ("truncate", "round")
#: Digits the T-SQL float rendering reproduces exactly (see docs/checksum.md, "float").
MAX_PORTABLE_FLOAT_DIGITS = 14
#: Beyond 15 digits "the shortest round-trip form" is not the same everywhere: PostgreSQL
#: prints the double nearest 1e23 as 9.999999999999999e+22, Python as 1e+23.
MAX_FLOAT_DIGITS = 15


@dataclass(frozen=True)
class EncodingOptions:
    """Knobs of the encoding; both sides of one reconciliation always use the same values.

    ``float_digits``: significant digits kept of float/real values (1-15; at most 14 when a
    SQL Server takes part).  ``timestamp_precision``: fractional second digits (0-6) of time
    and timestamp values; ``timestamp_mode``: ``"truncate"`` (default: what a pipeline that
    passes values through Python's microsecond datetimes does) or ``"round"`` (half up).
    """

    float_digits: int = 14
    timestamp_precision: int = 6
    timestamp_mode: str = "truncate"

    def __post_init__(self) -> None:
        if not 1 <= self.float_digits <= MAX_FLOAT_DIGITS:
            raise ConfigError(
                f"float_digits={self.float_digits!r} is out of range: pass 1 to {MAX_FLOAT_DIGITS}"
            )
        if not 0 <= self.timestamp_precision <= 6:
            raise ConfigError(
                f"timestamp_precision={self.timestamp_precision!r} is out of range: pass 0 to 6"
            )
        if self.timestamp_mode not in TIMESTAMP_MODES:
            raise ConfigError(
                f"timestamp_mode={self.timestamp_mode!r} is unknown: pass 'truncate' or 'round'"
            )


@dataclass(frozen=True)
class Column:
    """One column as a catalog describes it."""

    name: str
    data_type: str
    type_class: TypeClass
    #: Fractional second digits the column stores (datetime2(7) -> 7), when known.
    datetime_precision: int | None = None
    #: Whether the column may hold NULL (a NULL in a key column stops a comparison).
    nullable: bool = True


@dataclass(frozen=True)
class ColumnPair:
    """A compared column: its source and target definitions and the shared format."""

    source: Column
    target: Column
    fmt: TypeClass
    is_key: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.source.name

    def on(self, side: str) -> Column:
        """The column of ``side`` ("source" or "target")."""
        return self.source if side == "source" else self.target


def pair_format(source: TypeClass, target: TypeClass) -> TypeClass | None:
    """The format two type classes are compared in, or None when they cannot be compared."""
    for group in _COMPATIBLE:
        if source in group and target in group:
            for candidate in group:
                if candidate in (source, target):
                    return candidate
    return None
