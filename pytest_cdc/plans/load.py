"""Load saved plan files: SQL Server showplans (``.sqlplan``/``.xml``) and PostgreSQL
``EXPLAIN (FORMAT JSON)`` output (``.json``), or any plan a registered dialect reads."""

from __future__ import annotations

import os
from pathlib import Path

from pytest_cdc.errors import PlanFileError, PlanFormatError
from pytest_cdc.plans.model import Plan


def _head(data: bytes) -> str:
    """The first characters of a file, whatever its encoding (UTF-8, UTF-16 with or without
    a BOM), enough to tell a JSON plan from an XML one."""
    head = data[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[:2] in (b"<\x00", b"\x00<"):
        codec = (
            "utf-16"
            if head.startswith((b"\xff\xfe", b"\xfe\xff"))
            else ("utf-16-le" if head[:1] == b"<" else "utf-16-be")
        )
        return head.decode(codec, "ignore")
    return head.decode("utf-8-sig", "ignore")


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Read and parse one plan file; :class:`PlanFileError` names the file and the fix."""
    from pytest_cdc.dialects import default_registry

    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise PlanFileError(f"plan file {str(p)!r} does not exist") from None
    except IsADirectoryError:
        raise PlanFileError(f"plan file {str(p)!r} is a directory; pass the plan files") from None
    except OSError as exc:
        raise PlanFileError(f"cannot read plan file {str(p)!r}: {exc.strerror}") from None
    if not data.strip():
        raise PlanFileError(f"plan file {str(p)!r} is empty")
    head, suffix = _head(data), p.suffix.lower()
    dialects = default_registry().dialects()
    by_suffix = [d for d in dialects if d.looks_like_plan("", suffix)]
    by_content = [d for d in dialects if d.looks_like_plan(head, "")]
    chosen = (by_content or by_suffix)[:1]
    if not chosen:
        hints = "; ".join(d.plan_file_hint for d in dialects if d.plan_file_hint)
        raise PlanFileError(f"plan file {str(p)!r} is not a plan pytest-cdc reads: {hints}")
    dialect = chosen[0]
    try:
        return dialect.parse_plan(data, source=str(p))
    except (PlanFormatError, UnicodeDecodeError) as exc:
        raise PlanFileError(f"plan file {str(p)!r}: {exc}; {dialect.plan_file_hint}") from None
