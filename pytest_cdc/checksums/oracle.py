"""The pure-Python reference implementation of the canonical encoding and row hash.

This is the oracle the PostgreSQL and T-SQL generators are tested against: given the values a
driver returns (``int``, ``Decimal``, ``float``, ``str``, ``datetime``, ``uuid.UUID``,
``bytes``...) it produces the exact bytes each engine is expected to hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import struct
import uuid
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pytest_cdc.checksums.encoding import (
    LENGTH_PREFIXED,
    PROBE_FORMATS,
    EncodingOptions,
    TypeClass,
)

_DEFAULT = EncodingOptions()


def render(
    fmt: TypeClass, value: Any, options: EncodingOptions = _DEFAULT, *, single: bool = False
) -> str | None:
    """The canonical text of one value (None for NULL).

    ``single`` says the value came from a ``real``/``float4`` column: it is first narrowed to
    single precision, because the databases widen the stored float4 bits, not its decimal text.
    """
    if value is None:
        return None
    if fmt is TypeClass.INTEGER:
        return str(int(value))
    if fmt is TypeClass.BOOLEAN:
        return "1" if value else "0"
    if fmt is TypeClass.DECIMAL:
        return render_decimal(
            Decimal(value) if not isinstance(value, float) else Decimal(repr(value))
        )
    if fmt is TypeClass.FLOAT:
        number = float(value)
        if single:
            number = struct.unpack("<f", struct.pack("<f", number))[0]
        return render_float(number, options.float_digits)
    if fmt is TypeClass.TEXT or fmt is TypeClass.JSON:
        if not isinstance(value, str):
            raise TypeError(
                f"the oracle needs {fmt.value} values as str, got {type(value).__name__}"
            )
        return value
    if fmt is TypeClass.CHAR:
        return str(value).rstrip(" ")
    if fmt is TypeClass.UUID:
        return str(uuid.UUID(str(value)))
    if fmt is TypeClass.BINARY:
        return bytes(value).hex()
    if fmt is TypeClass.DATE:
        if isinstance(value, dt.datetime):
            value = value.date()
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    if fmt is TypeClass.TIME:
        return render_time(value, options)
    if fmt in (TypeClass.TIMESTAMP, TypeClass.TIMESTAMPTZ):
        return render_timestamp(value, options)
    raise TypeError(f"unknown type class {fmt!r}")  # pragma: no cover - enum is closed


def render_decimal(value: Decimal) -> str:
    if value.is_nan():
        return "NaN"
    if value.is_infinite():
        return "-Infinity" if value < 0 else "Infinity"
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def probe(fmt: TypeClass, value: Any, *, single: bool = False) -> str | None:
    """The probe text of one value (encoding.PROBE_FORMATS; None for NULL)."""
    if fmt not in PROBE_FORMATS:
        raise ValueError(f"{fmt.value} has no probe text")
    if value is None:
        return None
    number = float(value)
    if single:
        number = struct.unpack("<f", struct.pack("<f", number))[0]
    return struct.pack(">d", number).hex()


def render_float(number: float, digits: int) -> str:
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "-Infinity" if number < 0 else "Infinity"
    if number == 0:
        return "0"
    # repr() is the shortest decimal that reads back as the same double, which is what
    # PostgreSQL's float8out prints (extra_float_digits > 0) and T-SQL reconstructs.
    exact = Decimal(repr(abs(number)))
    step = Decimal(1).scaleb(exact.adjusted() - digits + 1)
    text = render_decimal(exact.quantize(step, rounding=ROUND_HALF_UP))
    return "-" + text if number < 0 else text


def _fraction(micro: int, options: EncodingOptions) -> str:
    """Microseconds cut (truncated) to the configured number of digits."""
    scale = 10 ** (6 - options.timestamp_precision)
    return f"{micro // scale * scale:06d}"[: options.timestamp_precision]


def render_timestamp(value: Any, options: EncodingOptions) -> str:
    if isinstance(value, str):  # 'infinity' / '-infinity' from PostgreSQL
        return value
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    scale = 10 ** (6 - options.timestamp_precision)
    if options.timestamp_mode == "round" and scale > 1:
        try:
            value = value + dt.timedelta(microseconds=scale // 2)
        except OverflowError:
            # Rounds up past 9999-12-31 23:59:59.999999 (SQL Server's datetime2 maximum, a
            # common "forever"): PostgreSQL renders year 10000, which Python cannot hold.
            return "10000-01-01 00:00:00"
    digits = _fraction(value.microsecond, options)
    text = (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )
    return text + _fraction_text(digits)


def _fraction_text(digits: str) -> str:
    """'.ddd' without trailing zeros, or '' for a whole second (ISO output style)."""
    digits = digits.rstrip("0")
    return "." + digits if digits else ""


def render_time(value: dt.time, options: EncodingOptions) -> str:
    micro = ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
    scale = 10 ** (6 - options.timestamp_precision)
    if options.timestamp_mode == "round":
        # Past midnight wraps around, as time + interval does in both engines.
        micro = (micro + scale // 2) % 86_400_000_000
    micro = micro // scale * scale
    seconds, fraction = divmod(micro, 1_000_000)
    text = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return text + _fraction_text(f"{fraction:06d}"[: options.timestamp_precision])


def encode_field(fmt: TypeClass, text: str | None) -> bytes:
    """One self-delimiting field: ``N``, ``V<len>:<bytes>`` or ``V<text>;``."""
    if text is None:
        return b"N"
    data = text.encode("utf-8")
    if fmt in LENGTH_PREFIXED:
        return b"V%d:%b" % (len(data), data)
    return b"V%b;" % data


def encode_row(
    formats: Sequence[TypeClass],
    values: Sequence[Any],
    options: EncodingOptions = _DEFAULT,
    *,
    singles: Sequence[bool] = (),
    probes: Sequence[bool] = (),
) -> bytes:
    """The canonical bytes of one row; ``formats`` and ``values`` are in column order.
    ``probes``: which fields are written as their probe texts."""
    if len(formats) != len(values):
        raise ValueError(f"{len(formats)} formats for {len(values)} values")
    single = list(singles) + [False] * (len(formats) - len(singles))
    probed = list(probes) + [False] * (len(formats) - len(probes))
    return b"".join(
        encode_field(
            fmt,
            probe(fmt, value, single=one) if as_probe else render(fmt, value, options, single=one),
        )
        for fmt, value, one, as_probe in zip(formats, values, single, probed, strict=False)
    )


def row_hash(data: bytes) -> int:
    """The first 64 bits of MD5(data) as a signed big-endian integer (what both engines sum)."""
    return int.from_bytes(hashlib.md5(data).digest()[:8], "big", signed=True)
