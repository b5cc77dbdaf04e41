"""Load saved plan files: ``.sqlplan``/``.xml`` showplans and PostgreSQL ``.json`` plans."""

from __future__ import annotations

import os
from pathlib import Path

from pytest_cdc.errors import PlanFileError, PlanFormatError
from pytest_cdc.plans.model import Plan
from pytest_cdc.plans.mssql import decode_showplan, parse_showplan
from pytest_cdc.plans.postgres import parse_explain_json


def sniff_kind(data: bytes) -> str:
    """``"mssql"`` or ``"postgresql"`` from the content, whatever the file is called."""
    try:
        head = decode_showplan(data[:4096] if len(data) > 4096 else data)
    except PlanFormatError:
        # A cut in the middle of a UTF-8 sequence: the first bytes are enough to decide.
        head = data[:4000].decode("utf-8", "ignore")
    except UnicodeDecodeError:
        head = data[:4000].decode("utf-16", "ignore")
    stripped = head.lstrip()
    if stripped.startswith(("[", "{")):
        return "postgresql"
    return "mssql"


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Read and parse one plan file; :class:`PlanFileError` names the file and the fix."""
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
    kind = "postgresql" if p.suffix.lower() == ".json" else sniff_kind(data)
    try:
        if kind == "postgresql":
            return parse_explain_json(data, source=str(p))
        return parse_showplan(data, source=str(p))
    except (PlanFormatError, UnicodeDecodeError) as exc:
        hint = (
            "save it with EXPLAIN (FORMAT JSON)"
            if kind == "postgresql"
            else "save it from SSMS/ADS as .sqlplan or with SET SHOWPLAN_XML ON"
        )
        raise PlanFileError(f"plan file {str(p)!r}: {exc}; {hint}") from None
