"""ReconcileReport: what a reconciliation found, as a JSON document gate jobs can read.

The JSON schema (``schema_version`` 1) is documented in docs/checksum.md; keys are only ever
added, never renamed, and ``from_json(to_json())`` round-trips.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1


@dataclass
class ChangedRow:
    """A key present on both sides whose rows differ, with the differing values side by side."""

    key: list[str | None]
    #: column name -> [source value, target value] (canonical text), only differing columns.
    differences: dict[str, list[str | None]] = field(default_factory=dict)


@dataclass
class QueryRecord:
    side: str
    purpose: str
    sql: str
    seconds: float
    rows: int


@dataclass
class ReconcileReport:
    """The outcome of one reconciliation of a source table against a target table."""

    source: str
    target: str
    source_table: str
    target_table: str
    key: list[str]
    columns: list[str]
    source_rows: int = 0
    target_rows: int = 0
    #: Keys (canonical text, one list a key) of rows missing in the target, first N.
    missing: list[list[str | None]] = field(default_factory=list)
    #: Keys of rows the target has but the source does not, first N.
    extra: list[list[str | None]] = field(default_factory=list)
    changed: list[ChangedRow] = field(default_factory=list)
    missing_count: int = 0
    extra_count: int = 0
    changed_count: int = 0
    segments_compared: int = 0
    segments_differing: int = 0
    #: The source's first-level segments: ``segments``, ``largest`` and ``average`` rows (the
    #: pass's own counts), and the ``estimated_largest`` the boundary sample predicted.
    segment_rows: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    queries: list[QueryRecord] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    @property
    def equal(self) -> bool:
        return not (self.missing_count or self.extra_count or self.changed_count)

    @property
    def differing_count(self) -> int:
        return self.missing_count + self.extra_count + self.changed_count

    def verify(self) -> ReconcileReport:
        """Raise :class:`~pytest_cdc.errors.Inconsistent` unless the report's own figures add up.

        Every source row is either matched, missing or changed, and every target row matched,
        extra or changed, so ``source_rows - target_rows == missing - extra`` whatever the
        data.  A path that dropped rows (a range that leaves some out, say) breaks this, and
        then no verdict is given: "equal" must never stand beside counts that differ.  Every
        report a comparison returns goes through here.
        """
        from pytest_cdc.errors import Inconsistent

        counted = self.source_rows - self.target_rows
        found = self.missing_count - self.extra_count
        shown = len(self.missing) <= self.missing_count and len(self.extra) <= self.extra_count
        if counted != found or not shown or len(self.changed) > self.changed_count:
            raise Inconsistent(
                f"{self.source_table} -> {self.target_table}: the source has"
                f" {self.source_rows} rows and the target {self.target_rows} ({counted:+d}), but"
                f" {self.missing_count} missing and {self.extra_count} extra rows were found"
                f" ({found:+d}): the figures do not add up, so no verdict is given; this is a"
                " bug, please report it"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["equal"] = self.equal
        return data

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReconcileReport:
        data = dict(data)
        data.pop("equal", None)
        data["changed"] = [ChangedRow(**row) for row in data.get("changed", [])]
        data["queries"] = [QueryRecord(**q) for q in data.get("queries", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> ReconcileReport:
        return cls.from_dict(json.loads(text))

    # -- text ---------------------------------------------------------------------------------
    def summary(self) -> str:
        verdict = "equal" if self.equal else "different"
        return (
            f"{self.source_table} -> {self.target_table}: {verdict}; "
            f"source {self.source_rows} rows, target {self.target_rows} rows; "
            f"{self.missing_count} missing in target, {self.extra_count} extra in target, "
            f"{self.changed_count} changed"
        )

    def to_text(self, *, limit: int = 10) -> str:
        lines = [self.summary()]
        names = ", ".join(self.key)
        for label, keys, total in (
            ("missing in target", self.missing, self.missing_count),
            ("extra in target", self.extra, self.extra_count),
        ):
            lines += key_lines(label, names, keys, total, limit)
        for row in self.changed[:limit]:
            lines.append(f"  changed {names}={key_text(row.key)}:")
            width = max((len(c) for c in row.differences), default=0)
            for column, (src, dst) in row.differences.items():
                lines.append(f"    {column:<{width}}  source={src!r}  target={dst!r}")
                alike = look_alike(src, dst)
                if alike:
                    lines.append(f"    {'':<{width}}  {alike}")
        if self.changed_count > min(limit, len(self.changed)):
            lines.append(f"  (+{self.changed_count - min(limit, len(self.changed))} more changed)")
        return "\n".join(lines)


#: Code points shown of each side's differing part, at most.
MAX_CODE_POINTS = 12


def look_alike(source: str | None, target: str | None) -> str:
    """For two different values that print the same (``'é'`` composed or as ``e`` plus a
    combining accent, a letter and its compatibility form, Latin and Cyrillic ``a``), the code
    points where they differ; ``""`` for values a reader can tell apart."""
    import unicodedata

    if source is None or target is None or source == target:
        return ""
    same_form = unicodedata.normalize("NFKC", source) == unicodedata.normalize("NFKC", target)
    if not same_form and not _same_shape(source, target):
        return ""
    start = 0
    while start < min(len(source), len(target)) and source[start] == target[start]:
        start += 1
    end = 0
    while (
        end < min(len(source), len(target)) - start
        and source[len(source) - 1 - end] == target[len(target) - 1 - end]
    ):
        end += 1
    forms = ""
    if unicodedata.normalize("NFC", source) == unicodedata.normalize("NFC", target):
        forms = f" ({_form(source)} against {_form(target)})"
    return (
        f"same look, other code points from character {start + 1}:"
        f" source {_code_points(source[start : len(source) - end])},"
        f" target {_code_points(target[start : len(target) - end])}{forms}"
    )


def _same_shape(source: str, target: str) -> bool:
    # Look-alikes from other scripts (Cyrillic a for Latin a) are not one form of the other:
    # treat as alike two strings that differ only where one side is not ASCII.
    return len(source) == len(target) and all(
        a == b or not (a.isascii() and b.isascii()) for a, b in zip(source, target, strict=True)
    )


def _form(text: str) -> str:
    import unicodedata

    for form in ("NFC", "NFD"):
        if unicodedata.is_normalized(form, text):
            return form
    return "mixed"


def _code_points(text: str) -> str:
    shown = " ".join(f"U+{ord(c):04X}" for c in text[:MAX_CODE_POINTS])
    return (shown + (" ..." if len(text) > MAX_CODE_POINTS else "")) or "(nothing)"


def key_text(values: Iterable[str | None]) -> str:
    """A key as a report line shows it: its canonical texts joined by commas, NULL named."""
    return ",".join("NULL" if v is None else v for v in values)


def key_lines(
    label: str, names: str, keys: Sequence[Sequence[str | None]], total: int, limit: int
) -> list[str]:
    """The report line for ``total`` keys of one kind (none when there are none): the first
    ``limit`` of ``keys``, and how many more."""
    if not total:
        return []
    shown = "; ".join(key_text(k) for k in keys[:limit])
    more = f" (+{total - min(limit, len(keys))} more)" if total > limit else ""
    return [f"  {label} ({names}): {shown}{more}"]
