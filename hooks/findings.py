"""Findings and the ways they are printed: text, JSON, GitHub annotations, SARIF."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import NamedTuple

__all__ = [
    "FORMATS",
    "Finding",
    "fingerprint",
    "format_findings",
    "line_col",
    "line_starts",
    "not_understood_message",
]

FORMATS = ("text", "json", "github", "sarif")


class Finding(NamedTuple):
    """One problem at ``path:line:col`` (both 1-based)."""

    path: str
    line: int
    col: int
    code: str
    message: str
    #: "error" fails the hook; "warning" fails it only with --strict.
    severity: str = "error"
    #: what the finding is about (its statement, its table), for baselines: not its line
    fingerprint: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.code} {self.message}"


def not_understood_message(reason: str, what: str = "checked") -> str:
    """The CDC000 message for a statement not understood for ``reason``."""
    if reason.startswith("gave up after"):
        return (
            f"not understood ({reason}), not {what}: the parser did not finish; "
            "statement-timeout in [tool.pytest-cdc] sets the bound"
        )
    return f"not understood, not {what}: {reason}"


def fingerprint(*parts: str) -> str:
    """A short stable hash of ``parts`` with whitespace runs and case folded."""
    import hashlib

    text = "\x1f".join(" ".join(part.split()).lower() for part in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def line_col(text: str, offset: int, line_starts: Sequence[int] | None = None) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``text``."""
    if line_starts is not None:
        import bisect

        index = bisect.bisect_right(line_starts, offset) - 1
        return index + 1, offset - line_starts[index] + 1
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def line_starts(text: str) -> list[int]:
    starts = [0]
    find = text.find
    pos = find("\n")
    while pos >= 0:
        starts.append(pos + 1)
        pos = find("\n", pos + 1)
    return starts


def format_findings(findings: Iterable[Finding], fmt: str, tool: str) -> str:
    items = sorted(findings, key=lambda f: (f.path, f.line, f.col, f.code))
    if fmt == "json":
        return json.dumps([f._asdict() for f in items], indent=2)
    if fmt == "github":
        # https://docs.github.com/actions/reference/workflow-commands-for-github-actions
        return "\n".join(
            f"::{f.severity} file={f.path},line={f.line},col={f.col},title={f.code}::"
            + _github_escape(f.message)
            for f in items
        )
    if fmt == "sarif":
        return json.dumps(_sarif(items, tool), indent=2)
    return "\n".join(str(f) for f in items)


def _github_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _sarif(items: Sequence[Finding], tool: str) -> dict[str, object]:
    from pytest_cdc_hooks import __version__

    rules = sorted({f.code for f in items})
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": tool,
                        "version": __version__,
                        "informationUri": "https://github.com/pytest-cdc/pytest-cdc",
                        "rules": [{"id": code} for code in rules],
                    }
                },
                "results": [
                    {
                        "ruleId": f.code,
                        "level": "error" if f.severity == "error" else "warning",
                        "message": {"text": f.message},
                        "partialFingerprints": {"cdcStatement/v1": f.fingerprint},
                        "locations": [
                            {
                                "physicalLocation": {
                                    "artifactLocation": {"uri": f.path.replace("\\", "/")},
                                    "region": {"startLine": f.line, "startColumn": f.col},
                                }
                            }
                        ],
                    }
                    for f in items
                ],
            }
        ],
    }
