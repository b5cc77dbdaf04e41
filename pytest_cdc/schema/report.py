"""SchemaReport: what a schema comparison found, as plain data.

JSON-serialisable (``schema_version`` 1; keys are only ever added): the next step, the
whole-replica data check, reads its table pairs, keys, column pairs and per-pair encoding
options from it.  The text form is a table a person reads in a CI log: source column, type
-> target column, type, verdict, why.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_cdc.checksums.report import QueryRecord
from pytest_cdc.schema.rules import DEFAULT_ALLOW, SEVERITY, VERDICTS, worst

SCHEMA_VERSION = 1


@dataclass
class ColumnReport:
    """A source column and the target column it is paired with."""

    source: str
    source_type: str
    target: str
    target_type: str
    verdict: str
    why: str = ""
    key: bool = False
    #: Whether the checksum can compare the pair (False: leave it out of the data check).
    comparable: bool = True
    unsupported: bool = False
    #: Encoding options (docs/checksum.md) the data check needs for this pair.
    encoding_options: dict[str, Any] = field(default_factory=dict)
    #: Target types the profile (or allow-list) says the pipeline creates; None: no opinion.
    expected: list[str] | None = None
    #: The allow-list entry that set the verdict, if one did.
    allowed_by: str | None = None
    source_nullable: bool = True
    target_nullable: bool = True


@dataclass
class Finding:
    """Something a person should know: a type verdict other than ``same``, a column or table
    that is not replicated, a missing key, a nullability or collation change, CDC gaps."""

    kind: str
    verdict: str
    why: str
    source_table: str | None = None
    source_column: str | None = None
    source_type: str | None = None
    target_table: str | None = None
    target_column: str | None = None
    target_type: str | None = None

    @property
    def severity(self) -> int:
        return SEVERITY[self.verdict]


@dataclass
class TableReport:
    """A paired table: its key, its column pairs, and how to compare its data."""

    source_table: str
    target_table: str
    kind: str = "table"
    #: [schema, name] of each table (``source_table`` joins them with a dot, which a name may
    #: hold too).
    source_name: list[str] = field(default_factory=list)
    target_name: list[str] = field(default_factory=list)
    #: Key columns by source name, and the same columns by target name.
    key: list[str] = field(default_factory=list)
    target_key: list[str] = field(default_factory=list)
    #: "primary key", "unique index <name>", "mapping" or "none".
    key_origin: str = "none"
    source_rows: int | None = None
    target_rows: int | None = None
    columns: list[ColumnReport] = field(default_factory=list)
    source_only_columns: list[str] = field(default_factory=list)
    target_only_columns: list[str] = field(default_factory=list)
    excluded_columns: list[str] = field(default_factory=list)
    #: One set of encoding options serving every compared column of the table.
    encoding_options: dict[str, Any] = field(default_factory=dict)
    where: str | None = None
    target_where: str | None = None
    lag_column: str | None = None
    cdc_enabled: bool | None = None
    capture_instances: list[str] = field(default_factory=list)

    @property
    def column_map(self) -> dict[str, str]:
        """Source column -> target column, for :func:`pytest_cdc.checksums.reconcile`."""
        return {c.source: c.target for c in self.columns}

    @property
    def comparable_columns(self) -> list[str]:
        """Source names of the columns the checksum can compare."""
        return [c.source for c in self.columns if c.comparable]


@dataclass
class SchemaReport:
    source: str
    target: str
    source_engine: str
    target_engine: str
    profile: str | None = None
    allow: list[str] = field(default_factory=lambda: list(DEFAULT_ALLOW))
    pairs: list[TableReport] = field(default_factory=list)
    source_only_tables: list[str] = field(default_factory=list)
    target_only_tables: list[str] = field(default_factory=list)
    excluded_tables: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    queries: list[QueryRecord] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    # -- verdicts --------------------------------------------------------------------------
    def failing(self, allow: Iterable[str] | None = None) -> list[Finding]:
        """Findings whose verdict is not allowed (``same`` always is)."""
        allowed = {"same", *(self.allow if allow is None else allow)}
        return [f for f in self.findings if f.verdict not in allowed]

    def compatible(self, allow: Iterable[str] | None = None) -> bool:
        return not self.failing(allow)

    @property
    def worst(self) -> str:
        return worst("same", *(f.verdict for f in self.findings))

    def column_counts(self) -> dict[str, int]:
        counts = Counter(c.verdict for p in self.pairs for c in p.columns)
        return {v: counts[v] for v in VERDICTS if counts[v]}

    def table(self, source_table: str) -> TableReport | None:
        return next((p for p in self.pairs if p.source_table == source_table), None)

    # -- text ------------------------------------------------------------------------------
    def summary(self, allow: Iterable[str] | None = None) -> str:
        allowed = list(self.allow if allow is None else allow)
        counts = ", ".join(f"{n} {v}" for v, n in self.column_counts().items()) or "none"
        failing = self.failing(allowed)
        verdict = "compatible" if not failing else f"{_count(len(failing), 'finding')} not allowed"
        return (
            f"schema {self.source} -> {self.target}: {verdict}"
            f" (allowed: {', '.join(allowed) or 'nothing but same'});"
            f" {_count(len(self.pairs), 'table')} paired,"
            f" {len(self.source_only_tables)} source-only, {len(self.target_only_tables)}"
            f" target-only; columns: {counts}"
        )

    def to_text(self, allow: Iterable[str] | None = None, *, only_failing: bool = False) -> str:
        allowed = list(self.allow if allow is None else allow)
        lines = [self.summary(allowed)]
        if self.profile:
            lines.append(f"profile: {self.profile}")
        lines.extend(f"note: {note}" for note in self.notes)
        shown = self.failing(allowed) if only_failing else self.findings
        if shown:
            lines.append("")
            lines.append(render_findings(shown))
        return "\n".join(lines)

    # -- JSON ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["compatible"] = self.compatible()
        data["worst"] = self.worst
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> SchemaReport:
        data = json.loads(text)
        data.pop("compatible", None)
        data.pop("worst", None)
        pairs = []
        for raw in data.pop("pairs", []):
            columns = [ColumnReport(**c) for c in raw.pop("columns", [])]
            pairs.append(TableReport(columns=columns, **raw))
        findings = [Finding(**f) for f in data.pop("findings", [])]
        queries = [QueryRecord(**q) for q in data.pop("queries", [])]
        return cls(pairs=pairs, findings=findings, queries=queries, **data)


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


HEADER = ("source column", "type", "", "target column", "type", "verdict", "why")


def _cells(f: Finding) -> tuple[str, ...]:
    def where(table: str | None, column: str | None) -> str:
        if table is None:
            return "-"
        return f"{table}.{column}" if column else table

    return (
        where(f.source_table, f.source_column),
        f.source_type or "",
        "->",
        where(f.target_table, f.target_column),
        f.target_type or "",
        f.verdict,
        f"{f.kind}: {f.why}" if f.kind != "type" else f.why,
    )


def render_findings(findings: Sequence[Finding]) -> str:
    """The findings as an aligned table, worst first."""
    ordered = sorted(findings, key=lambda f: (-f.severity, f.source_table or "", f.kind))
    rows = [HEADER, *(_cells(f) for f in ordered)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER) - 1)]
    out = []
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(len(widths))]
        out.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(out)
