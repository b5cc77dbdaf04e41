"""Baseline files: adopt the hooks on an existing repository, fail only on new findings.

``--write-baseline FILE`` records today's findings; ``--baseline FILE`` (or ``baseline`` in
``[tool.pytest-cdc]``) then drops every finding the file knows.  A finding is matched by rule,
file and a fingerprint of its statement (whitespace and case folded), never by line number, so
edits elsewhere in a file do not bring old findings back; a statement that changes is checked
afresh.  Each hook keeps its own section, so both can share one file.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_cdc.errors import ConfigError
from pytest_cdc_hooks.findings import Finding

__all__ = ["apply_baseline", "write_baseline"]

VERSION = 1

Key = tuple[str, str, str]  # path, code, fingerprint


def _key(finding: Finding) -> Key:
    return (finding.path.replace("\\", "/"), finding.code, finding.fingerprint)


def _load(path: Path, *, missing_ok: bool) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if missing_ok:
            return {"version": VERSION}
        raise ConfigError(
            f"baseline file {str(path)!r} does not exist: create it with --write-baseline"
        ) from None
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read baseline file {str(path)!r}: {error}") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ConfigError(
            f"baseline file {str(path)!r} is not a version {VERSION} baseline: "
            "write it again with --write-baseline"
        )
    return data


def write_baseline(path: Path, tool: str, findings: Sequence[Finding]) -> int:
    """Record ``findings`` as ``tool``'s section of ``path``; returns how many."""
    data = _load(path, missing_ok=True)
    counts = Counter(_key(f) for f in findings)
    data[tool] = [
        {"path": p, "code": c, "fingerprint": fp, "count": n}
        for (p, c, fp), n in sorted(counts.items())
    ]
    try:
        path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot write baseline file {str(path)!r}: {error}") from None
    return len(findings)


def apply_baseline(path: Path, tool: str, findings: Sequence[Finding]) -> list[Finding]:
    """The findings ``path`` does not know (as many of each as it recorded are dropped)."""
    entries = _load(path, missing_ok=False).get(tool, [])
    known: Counter[Key] = Counter()
    for entry in entries:
        try:
            known[(entry["path"], entry["code"], entry["fingerprint"])] += int(entry["count"])
        except (KeyError, TypeError, ValueError):
            raise ConfigError(
                f"baseline file {str(path)!r} has a malformed entry {entry!r}: "
                "write it again with --write-baseline"
            ) from None
    new = []
    for finding in sorted(findings, key=lambda f: (f.path, f.line, f.col, f.code)):
        key = _key(finding)
        if known[key] > 0:
            known[key] -= 1
        else:
            new.append(finding)
    return new
