"""The type compatibility rules: two value domains in, a verdict and its meaning out.

Verdicts, from harmless to fatal (docs/schema.md, "Verdicts"):

* ``same``: the target holds exactly the source's values.
* ``widened``: the target holds every source value, and more (``int -> bigint``).
* ``representation``: the same values in another form, which the checksum encoding already
  normalises (``bit -> boolean``, ``uniqueidentifier -> uuid``, ``char -> varchar``).
* ``lossy``: some source values change or do not fit (``datetime2(7) -> timestamp(6)``).
* ``incompatible``: no sensible mapping (``money -> integer``, ``uniqueidentifier -> int``),
  or a type pytest-cdc cannot check at all.

Each judgement also says what it means for the data check: the encoding options that make
the checksum compare the pair fairly (``timestamp_precision``, ``float_digits``), and whether
the checksum can compare the pair at all.  Nothing here knows an engine by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from pytest_cdc.checksums.encoding import pair_format
from pytest_cdc.schema.types import CHARACTER, EXACT, Domain, Family

VERDICTS = ("same", "widened", "representation", "lossy", "incompatible")
SEVERITY = {verdict: rank for rank, verdict in enumerate(VERDICTS)}
#: What assert_schema_compatible and the CLI accept unless told otherwise.
DEFAULT_ALLOW = ("widened", "representation")
#: Decimal digits every value of a float type round-trips through (FLT_DIG, DBL_DIG).
FLOAT_SAFE_DIGITS = {24: 6, 53: 15}


@dataclass(frozen=True)
class Judgement:
    verdict: str
    why: str
    #: Encoding options (docs/checksum.md) the data check needs for this pair.
    encoding: Mapping[str, Any] = field(default_factory=dict)
    #: Whether the checksum can compare the two columns at all.
    comparable: bool = True
    #: The source type is one pytest-cdc cannot check (never skipped silently).
    unsupported: bool = False


def worst(*verdicts: str) -> str:
    return max(verdicts, key=SEVERITY.__getitem__)


def judge(src: Domain, dst: Domain) -> Judgement:
    """The verdict for a source column of domain ``src`` replicated into ``dst``."""
    if src.family is Family.UNSUPPORTED:
        return Judgement(
            "incompatible",
            f"{src} is not supported ({src.note}): pytest-cdc cannot check its values;"
            " exclude the column in the mapping to acknowledge it",
            comparable=False,
            unsupported=True,
        )
    rule = _RULES.get((src.family, dst.family))
    if rule is None:
        return Judgement(
            "incompatible",
            f"no sensible mapping from {src} ({src.family.value}) to {dst}"
            f" ({dst.family.value}){_cannot_compare(src, dst)}",
            comparable=False,
        )
    verdict, why, encoding = rule(src, dst)
    comparable = _comparable(src, dst)
    if not comparable and verdict != "incompatible":
        why = f"{why}{_cannot_compare(src, dst)}" if why else _cannot_compare(src, dst)[2:]
    if src.note and src.family is Family.BINARY:
        why = f"{why}; {src.note}" if why else src.note
    return Judgement(verdict, why, encoding, comparable)


def _comparable(src: Domain, dst: Domain) -> bool:
    if src.type_class is None or dst.type_class is None:
        return False
    return pair_format(src.type_class, dst.type_class) is not None


def _cannot_compare(src: Domain, dst: Domain) -> str:
    if src.type_class is None or dst.type_class is None:
        which = src if src.type_class is None else dst
        return f"; the checksum has no format for {which}: leave the column out of the data check"
    return f"; the checksum cannot compare {src} with {dst}"


Rule = Callable[[Domain, Domain], tuple[str, str, dict[str, Any]]]


def _joined(parts: list[tuple[str, str]], ok: str) -> tuple[str, str]:
    """The worst verdict of ``parts`` and their reasons; ``ok`` when there are none."""
    if not parts:
        return ok, ""
    return worst(*(v for v, _ in parts)), "; ".join(w for _, w in parts if w)


def _number(value: Fraction, places: int) -> str:
    text = format(Decimal(value.numerator) / Decimal(value.denominator), f".{places}f")
    return text


def _float_limit(src: Domain, dst: Domain) -> int:
    """Most float digits both engines render alike (docs/checksum.md, "Floats")."""
    return min(src.float_digits, dst.float_digits)


# -- exact numbers ---------------------------------------------------------------------------
def _bounds(d: Domain) -> tuple[Fraction | None, Fraction | None]:
    if d.low is not None and d.high is not None:
        return d.low, d.high
    largest = d.largest
    return (None, None) if largest is None else (-largest, largest)


def _exact(src: Domain, dst: Domain) -> tuple[str, str, dict[str, Any]]:
    src_places, dst_places = src.decimal_places, dst.decimal_places
    if dst.family is Family.INTEGER and src_places != 0:
        return (
            "incompatible",
            f"{dst} holds no fractions: every fractional {src} value would be rounded or refused",
            {},
        )
    problems: list[tuple[str, str]] = []
    if dst_places is not None and (src_places is None or src_places > dst_places):
        problems.append(("lossy", f"values with more than {dst_places} decimal places are rounded"))
    (src_low, src_high), (dst_low, dst_high) = _bounds(src), _bounds(dst)
    if dst_high is not None and dst_low is not None:
        if src_high is None or src_low is None:
            problems.append(("lossy", f"values beyond {dst} do not fit (the load fails on them)"))
        elif src_high > dst_high or src_low < dst_low:
            places = dst_places or 0
            limit = (
                f"±{_number(dst_high, places)}"
                if -dst_low == dst_high or -dst_low == dst_high + Fraction(1, 10**places)
                else f"{_number(dst_low, places)} to {_number(dst_high, places)}"
            )
            problems.append(("lossy", f"values beyond {limit} do not fit (the load fails)"))
    if problems:
        verdict, why = _joined(problems, "lossy")
        return verdict, why, {}
    same = (src_low, src_high, src_places) == (dst_low, dst_high, dst_places)
    return ("same", "", {}) if same else ("widened", f"{dst} holds every {src} value", {})


def _bool_to_exact(src: Domain, dst: Domain) -> tuple[str, str, dict[str, Any]]:
    largest = dst.largest
    if largest is not None and largest < 1:
        return "lossy", f"{dst} cannot hold 1 (true)", {}
    return (
        "representation",
        f"{src} values are stored as the numbers 0 and 1; the checksum compares booleans as 1/0",
        {},
    )


def _exact_to_bool(src: Domain, dst: Domain) -> tuple[str, str, dict[str, Any]]:
    low, high = _bounds(src)
    if low is not None and high is not None and low >= 0 and high <= 1 and src.decimal_places == 0:
        return "representation", "0 and 1 are stored as false and true", {}
    return "lossy", "only 0 and 1 keep their value: any other number becomes true", {}


def _boolean(src: Domain, dst: Domain) -> tuple[str, str, dict[str, Any]]:
    if src.base == dst.base and src.engine == dst.engine:
        return "same", "", {}
    return (
        "representation",
        f"{src} 1/0 is read as true/false; the checksum compares both as 1/0",
        {},
    )


# -- floats ----------------------------------------------------------------------------------
def _float(src: Domain, dst: Domain) -> tuple[str, str, dict[str, Any]]:
    assert src.bits is not None and dst.bits is not None
    if src.bits == dst.bits:
        return "same", "", {}
    if src.bits < dst.bits:
        return "widened", f"every {src} value is exactly a {dst} value", {}
    digits = FLOAT_SAFE_DIGITS[dst.bits]
    return (
        "lossy",
        f"{dst} keeps about {digits + 1} significant digits of a {src}: compare with"
        f" float_digits={digits}",
        {"float_digits": digits},
    )


def _exact_to_float(src: Domain, dst: Domain) -> tuple[str, str, dict[str, Any]]:
    assert dst.bits is not None
    safe = FLOAT_SAFE_DIGITS[dst.bits]
    digits = src.digits
    if digits is not None and digits <= safe:
        return (
            "representation",
            f"every {src} value is exact in {dst}; the checksum compares both as floats",
            {},
        )
    limit = min(safe, _float_limit(src, dst))
    return (
        "lossy",
        f"{dst} keeps {safe} significant digits for sure; longer {src} values are rounded:"
        f" compare with float_digits={limit}",
        {"float_digits": limit},
    )


def _float_to_exact(src: Domain, dst: Domain) -> tuple[str, str, dict[str, Any]]:
    assert src.bits is not None
    if dst.family is Family.INTEGER:
        return "incompatible", f"{dst} holds no fractions: {src} values would be rounded", {}
    limit = min(FLOAT_SAFE_DIGITS[src.bits], _float_limit(src, dst))
    return (
        "lossy",
        f"a {src} is a binary fraction: {dst} keeps a rounded decimal of it (PostgreSQL's cast"
        f" keeps 15 significant digits), and NaN or infinity may not fit: compare with"
        f" float_digits={limit}",
        {"float_digits": limit},
    )


# -- character data --------------------------------------------------------------------------
def _length(d: Domain) -> str:
    return "any length" if d.length is None else f"{d.length} characters"


def _character(src: Domain, dst: Domain) -> tuple[str, str, dict[str, Any]]:
    problems: list[tuple[str, str]] = []
    if dst.length is not None and (src.length is None or src.length > dst.length):
        problems.append(("lossy", f"values longer than {dst.length} characters do not fit"))
    if src.unicode and not dst.unicode:
        problems.append(("lossy", f"characters outside {dst}'s code page are replaced"))
    sf, df = src.family, dst.family
    if sf is Family.JSON or df is Family.JSON:
        if sf is df:
            if src.base == "json" and dst.base == "jsonb":
                problems.append(
                    (
                        "lossy",
                        "jsonb re-formats documents and keeps only the last of duplicate keys;"
                        " the checksum compares the text, so re-formatted documents differ",
                    )
                )
            elif src.base != dst.base:
                problems.append(("representation", "json keeps jsonb's text as it is"))
        elif df is Family.JSON:
            problems.append(("lossy", f"{src} values that are not JSON documents are refused"))
        else:
            problems.append(("representation", f"the JSON text is kept as {dst}"))
    elif sf is Family.XML or df is Family.XML:
        if sf is df:
            if (src.engine, src.base) != (dst.engine, dst.base):
                problems.append(
                    (
                        "representation",
                        "the target keeps the XML text the source serialises (SQL Server"
                        " rewrites documents into its own form when it stores them)",
                    )
                )
        elif df is Family.XML:
            problems.append(("lossy", f"{src} values that are not XML documents are refused"))
        else:
            problems.append(("representation", f"the XML text is kept as {dst}"))
    elif src.fixed != dst.fixed:
        problems.append(
            (
                "representation",
                "char(n) pads values with spaces, so trailing spaces do not count; the"
                " checksum ignores them on both sides",
            )
        )
    if problems:
        verdict, why = _joined(problems, "lossy")
        return verdict, why, {}
    if src.length == dst.length and src.unicode == dst.unicode:
        return "same", "", {}
    return "widened", f"{dst} holds {_length(dst)}, {src} {_length(src)}", {}


# -- binary, uuid ----------------------------------------------------------------------------
def _binary(src: Domain, dst: Domain) -> tuple[str, str, dict[str, Any]]:
    problems: list[tuple[str, str]] = []
    if dst.length is not None and (src.length is None or src.length > dst.length):
        problems.append(("lossy", f"values longer than {dst.length} bytes do not fit"))
    if dst.fixed and not (src.fixed and src.length == dst.length):
        problems.append(("lossy", f"shorter values are padded with zero bytes to {dst.length}"))
    if problems:
        verdict, why = _joined(problems, "lossy")
        return verdict, why, {}
    if src.length == dst.length and src.fixed == dst.fixed:
        return "same", "", {}
    return "widened", f"{dst} holds every {src} value", {}


def _uuid(src: Domain, dst: Domain) -> tuple[str, str, dict[str, Any]]:
    if (src.engine, src.base) == (dst.engine, dst.base):
        return "same", "", {}
    return (
        "representation",
        f"{src} and {dst} hold the same 16 bytes; SQL Server prints them in upper case and the"
        " checksum compares both in lower case",
        {},
    )


# -- dates and times -------------------------------------------------------------------------
def _years(src: Domain, dst: Domain) -> list[tuple[str, str]]:
    if src.years is None or dst.years is None:
        return []
    if src.years[0] < dst.years[0] or src.years[1] > dst.years[1]:
        return [("lossy", f"{dst} holds the years {dst.years[0]} to {dst.years[1]} only")]
    return []


def _date(src: Domain, dst: Domain) -> tuple[str, str, dict[str, Any]]:
    verdict, why = _joined(_years(src, dst), "same")
    return verdict, why, {}


def _fraction(
    src: Domain, dst: Domain, parts: list[tuple[str, str]], encoding: dict[str, Any]
) -> bool:
    """Add the fractional-seconds verdict to ``parts``; True when the target keeps more."""
    assert src.fraction is not None and dst.fraction is not None
    if src.minutes:
        return True
    if src.ticks300:
        kept = min(dst.fraction, 3)
        encoding.update(timestamp_precision=kept, timestamp_mode="round")
        if dst.fraction >= 3:
            parts.append(
                (
                    "representation",
                    f"{src} counts 1/300 seconds (.003, .007); rounded to 3 digits both sides"
                    " agree: compare with timestamp_precision=3, timestamp_mode='round'",
                )
            )
        else:
            parts.append(
                (
                    "lossy",
                    f"{dst} keeps {dst.fraction} fractional digits of {src}'s 3: compare with"
                    f" timestamp_precision={kept}, timestamp_mode='round'",
                )
            )
        return False
    if src.fraction > dst.fraction:
        encoding["timestamp_precision"] = dst.fraction
        parts.append(
            (
                "lossy",
                f"{dst} keeps {dst.fraction} fractional second digits of {src}'s"
                f" {src.fraction}: the last digits are dropped (cut or rounded by the pipeline);"
                f" compare with timestamp_precision={dst.fraction}",
            )
        )
        return False
    return src.fraction < dst.fraction


def _time(src: Domain, dst: Domain) -> tuple[str, str, dict[str, Any]]:
    parts: list[tuple[str, str]] = []
    encoding: dict[str, Any] = {}
    more = _fraction(src, dst, parts, encoding)
    if parts:
        verdict, why = _joined(parts, "lossy")
        return verdict, why, encoding
    if more:
        return "widened", f"{dst} keeps more fractional digits", encoding
    return "same", "", encoding


def _timestamp(src: Domain, dst: Domain) -> tuple[str, str, dict[str, Any]]:
    parts = _years(src, dst)
    encoding: dict[str, Any] = {}
    more = _fraction(src, dst, parts, encoding)
    zoned = (src.family is Family.TIMESTAMPTZ, dst.family is Family.TIMESTAMPTZ)
    if zoned == (False, True):
        parts.append(
            (
                "representation",
                f"{dst} stores instants: the checksum reads {src}'s times as UTC, so they match"
                " only if the pipeline wrote them as UTC",
            )
        )
    elif zoned == (True, False):
        parts.append(
            (
                "representation",
                f"{dst} keeps a time without its offset: the checksum reads it as UTC, so it"
                " matches only if the pipeline wrote UTC times",
            )
        )
    elif zoned == (True, True) and src.engine != dst.engine:
        parts.append(
            (
                "representation",
                f"{dst} keeps the instant, not {src}'s offset; the checksum compares both in UTC",
            )
        )
    if parts:
        verdict, why = _joined(parts, "lossy")
        if verdict == "representation" and more:
            why = f"{why}; {dst} keeps more fractional digits"
        return verdict, why, encoding
    if more:
        return "widened", f"{dst} keeps more fractional digits", encoding
    return "same", "", encoding


def _uuid_text(src: Domain, dst: Domain) -> tuple[str, str, dict[str, Any]]:
    if src.family is Family.UUID:
        return (
            "incompatible",
            f"{dst} holds the uuid as text (SQL Server prints it in upper case), and the"
            f" checksum cannot compare a uuid with text: make the column uuid (ALTER ... TYPE"
            " uuid USING col::uuid), or exclude it",
            {},
        )
    return (
        "incompatible",
        f"{src} values that are not uuids are refused, and the checksum cannot compare text"
        " with a uuid",
        {},
    )


def _other(src: Domain, dst: Domain) -> tuple[str, str, dict[str, Any]]:
    if (src.engine, src.display) == (dst.engine, dst.display):
        return "same", "", {}
    if src.base == dst.base and src.engine == dst.engine:
        return "lossy", f"{src} and {dst} differ in their modifiers", {}
    return "incompatible", f"pytest-cdc has no rule for {src} -> {dst}", {}


_RULES: dict[tuple[Family, Family], Rule] = {
    **{(a, b): _exact for a in EXACT for b in EXACT},
    **{(a, b): _character for a in CHARACTER for b in CHARACTER},
    (Family.BOOLEAN, Family.BOOLEAN): _boolean,
    (Family.BOOLEAN, Family.INTEGER): _bool_to_exact,
    (Family.BOOLEAN, Family.DECIMAL): _bool_to_exact,
    (Family.INTEGER, Family.BOOLEAN): _exact_to_bool,
    (Family.DECIMAL, Family.BOOLEAN): _exact_to_bool,
    (Family.FLOAT, Family.FLOAT): _float,
    (Family.INTEGER, Family.FLOAT): _exact_to_float,
    (Family.DECIMAL, Family.FLOAT): _exact_to_float,
    (Family.FLOAT, Family.INTEGER): _float_to_exact,
    (Family.FLOAT, Family.DECIMAL): _float_to_exact,
    (Family.BINARY, Family.BINARY): _binary,
    (Family.UUID, Family.UUID): _uuid,
    (Family.DATE, Family.DATE): _date,
    (Family.TIME, Family.TIME): _time,
    **{
        (a, b): _timestamp
        for a in (Family.TIMESTAMP, Family.TIMESTAMPTZ)
        for b in (Family.TIMESTAMP, Family.TIMESTAMPTZ)
    },
    (Family.OTHER, Family.OTHER): _other,
    **{(Family.UUID, b): _uuid_text for b in (Family.TEXT, Family.CHAR)},
    **{(a, Family.UUID): _uuid_text for a in (Family.TEXT, Family.CHAR)},
}


def merge_encoding(options: list[Mapping[str, Any]]) -> dict[str, Any]:
    """One set of encoding options that serves every column pair of a table.

    The fewest digits anyone needs win; "round" wins over "truncate" because a target that
    holds rounded values only matches a rounded source.
    """
    merged: dict[str, Any] = {}
    for option in options:
        for name in ("timestamp_precision", "float_digits"):
            if name in option:
                merged[name] = min(merged.get(name, option[name]), option[name])
        if option.get("timestamp_mode") == "round":
            merged["timestamp_mode"] = "round"
        elif "timestamp_mode" in option:
            merged.setdefault("timestamp_mode", option["timestamp_mode"])
    return merged
