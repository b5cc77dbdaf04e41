"""ReplicaReport: a whole replica's validation, table by table, where CI users look.

JSON (``schema_version`` 1; keys are only ever added; shards merge into one report), a text
summary table with failures first, Markdown for ``$GITHUB_STEP_SUMMARY`` and JUnit XML.

Table states follow AWS DMS validation's: ``validated``, ``mismatched``, ``suspended`` (rows
still changing on the source: live CDC), ``no_key`` (no primary key or unique NOT NULL index
to pair rows by), ``missing`` (the target has no such table), ``incompatible`` (a column pair
the schema check does not allow), and ``error`` (no verdict: the line says why).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from pytest_cdc.checksums.report import key_lines, key_text

SCHEMA_VERSION = 1
STATES = (
    "mismatched",
    "missing",
    "incompatible",
    "error",
    "pending",
    "suspended",
    "no_key",
    "validated",
)
#: States that fail the gate; ``suspended`` only with --strict, ``no_key`` never.
FAILING = frozenset({"mismatched", "missing", "incompatible", "error", "pending"})


@dataclass
class TableResult:
    """One table pair's outcome."""

    source_table: str
    target_table: str | None
    state: str = "validated"
    #: One line: why the table is not validated (empty when it is).
    reason: str = ""
    key: list[str] = field(default_factory=list)
    source_rows: int | None = None
    target_rows: int | None = None
    missing_count: int = 0
    extra_count: int = 0
    changed_count: int = 0
    #: The first differing keys (canonical text), and changed rows' values side by side.
    missing: list[list[str | None]] = field(default_factory=list)
    extra: list[list[str | None]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    #: tier -> "passed", "failed", "skipped" (an earlier tier failed) or "not run".
    tiers: dict[str, str] = field(default_factory=dict)
    #: Column aggregates that differ: {column, aggregate, source, target}.
    aggregates: list[dict[str, Any]] = field(default_factory=list)
    #: Schema findings of this table that the run does not allow.
    schema_findings: list[dict[str, Any]] = field(default_factory=list)
    #: Encoding options the comparison used, and why (from the schema verdicts).
    encoding_options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: Rows read on both sides.
    rows_checked: int = 0
    #: Live CDC: keys that differed, then matched on a re-check (rows in flight), and keys
    #: that kept changing on the source.
    in_flight_count: int = 0
    suspended_count: int = 0
    suspended: list[list[str | None]] = field(default_factory=list)
    #: How the checksum ran (aggregation, segments).
    options: dict[str, Any] = field(default_factory=dict)
    #: Checkpoints: the lag-column value this run read from (``since``), and the one a clean
    #: run stores for the next (the source's newest before the check, less the settle delay).
    since: str | None = None
    checkpoint: str | None = None

    @property
    def mismatches(self) -> int:
        return self.missing_count + self.extra_count + self.changed_count

    # -- reasons: one wording, for a table checked whole and for a split table's sum ---------
    def counts_differ(self) -> str | None:
        source, target = self.source_rows, self.target_rows
        if source is None or target is None or source == target:
            return None
        return f"row counts differ: source {source:,}, target {target:,}"

    def aggregates_differ(self) -> str | None:
        if not self.aggregates:
            return None
        columns = sorted({a["column"] for a in self.aggregates})
        return f"column aggregates differ in {', '.join(columns)}"

    def rows_differ(self) -> str | None:
        parts = [
            f"{n:,} {label}"
            for n, label in (
                (self.missing_count, "missing in the target"),
                (self.extra_count, "extra in the target"),
                (self.changed_count, "changed"),
            )
            if n
        ]
        return "rows differ: " + ", ".join(parts) if parts else None

    @property
    def name(self) -> str:
        if self.target_table and self.target_table != self.source_table:
            return f"{self.source_table} -> {self.target_table}"
        return self.source_table

    def to_text(self, limit: int = 10) -> str:
        """The table's outcome: its line, then what differs."""
        lines = [f"{self.name}: {self.state}" + (f": {self.reason}" if self.reason else "")]
        keys = ", ".join(self.key)
        for label, values, total in (
            ("missing in target", self.missing, self.missing_count),
            ("extra in target", self.extra, self.extra_count),
            ("still changing on the source", self.suspended, self.suspended_count),
        ):
            lines += key_lines(label, keys, values, total, limit)
        for row in self.changed[:limit]:
            lines.append(f"  changed {keys}={key_text(row['key'])}:")
            for column, (src, dst) in row.get("differences", {}).items():
                lines.append(f"    {column}  source={src!r}  target={dst!r}")
        if self.changed_count > min(limit, len(self.changed)):
            lines.append(f"  (+{self.changed_count - min(limit, len(self.changed))} more changed)")
        for agg in self.aggregates[:limit]:
            lines.append(
                f"  {agg['column']}: {agg['aggregate']} source={agg['source']!r}"
                f" target={agg['target']!r}"
            )
        for finding in self.schema_findings[:limit]:
            lines.append(f"  schema: {finding.get('why', '')}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


@dataclass
class ReplicaReport:
    source: str
    target: str
    tiers: list[str] = field(default_factory=list)
    shards: list[str] = field(default_factory=lambda: ["1/1"])
    tables: list[TableResult] = field(default_factory=list)
    #: Tables only the target has (not an error: the mapping may leave them out).
    target_only_tables: list[str] = field(default_factory=list)
    excluded_tables: list[str] = field(default_factory=list)
    #: Why the run stopped before every table was checked (failure-max-count), if it did.
    stopped: str = ""
    #: Why no table could be checked (a side unreachable, a bad mapping), if so.
    error: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    #: What became of the state file's checkpoints ("saved to ...", "not advanced: ...").
    checkpoints: str = ""
    schema_version: int = SCHEMA_VERSION

    # -- verdicts --------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        found = Counter(t.state for t in self.tables)
        return {state: found[state] for state in STATES if found[state]}

    def failing(self, *, strict: bool = False) -> list[TableResult]:
        bad = FAILING | ({"suspended"} if strict else set())
        return [t for t in self.tables if t.state in bad]

    def exit_code(self, *, strict: bool = False) -> int:
        """0 every table validated, 1 a table mismatched (or suspended, ``strict``), 2 a table
        that could not be checked (or a stopped run)."""
        failing = self.failing(strict=strict)
        if any(t.state == "error" for t in failing) or self.stopped or self.error:
            return 2
        return 1 if failing else 0

    @property
    def rows_checked(self) -> int:
        return sum(t.rows_checked for t in self.tables)

    # -- text ------------------------------------------------------------------------------
    def summary(self) -> str:
        counts = ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in self.counts().items())
        total = self.timings.get("total", 0.0)
        rate = f", {self.rows_checked / total:,.0f} rows/s" if total else ""
        shard = "" if self.shards == ["1/1"] else f" (shards {', '.join(self.shards)})"
        if self.error:
            return f"replica {self.source} -> {self.target}{shard}: error: {self.error}"
        return (
            f"replica {self.source} -> {self.target}{shard}: {_plural(len(self.tables), 'table')}:"
            f" {counts or 'none'}; {self.rows_checked:,} rows checked in {total:.1f} s{rate}"
        )

    def ordered(self) -> list[TableResult]:
        """Failures first (worst state first), then by name."""
        rank = {state: i for i, state in enumerate(STATES)}
        return sorted(self.tables, key=lambda t: (rank.get(t.state, 0), t.source_table))

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        out = []
        for t in self.ordered():
            rows = "-" if t.source_rows is None else f"{t.source_rows:,}"
            if t.target_rows is not None and t.target_rows != t.source_rows:
                rows += f" / {t.target_rows:,}"
            out.append(
                (t.name, rows, t.state.replace("_", " "), str(t.mismatches), f"{t.seconds:.2f}")
            )
        return out

    def to_text(self, *, limit: int = 10, details: bool = True) -> str:
        header = ("table", "rows", "state", "mismatches", "seconds")
        rows = [header, *self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = [self.summary()]
        if self.error:
            return lines[0]
        lines.append("")
        for row in rows:
            lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if self.stopped:
            lines += ["", f"stopped: {self.stopped}"]
        if self.checkpoints:
            lines += ["", f"checkpoints: {self.checkpoints}"]
        if details:
            for table in self.ordered():
                if table.state != "validated":
                    lines += ["", table.to_text(limit)]
        return "\n".join(lines)

    def to_markdown(self, *, limit: int = 10) -> str:
        """A summary for ``$GITHUB_STEP_SUMMARY``: the whole table list, failures first (the
        step's annotations are capped at 10; this has room for every table)."""
        lines = [
            "## Replica validation",
            "",
            self.summary().replace("|", "\\|"),
            "",
            "| table | rows | state | mismatches | seconds |",
            "|---|---:|---|---:|---:|",
        ]
        for name, rows, state, mismatches, seconds in self.rows():
            mark = "" if state == "validated" else "**"
            lines.append(
                f"| `{_md(name)}` | {rows} | {mark}{state}{mark} | {mismatches} | {seconds} |"
            )
        failing = [t for t in self.ordered() if t.state != "validated"]
        if failing:
            lines += ["", "<details><summary>What differs</summary>", "", "```"]
            lines += [t.to_text(limit) for t in failing]
            lines += ["```", "", "</details>"]
        if self.stopped:
            lines += ["", f"Stopped: {_md(self.stopped)}"]
        return "\n".join(lines)

    def to_junit(self) -> str:
        """JUnit XML: a test case a table (failure: mismatched/missing/incompatible; error:
        error or pending; skipped: no key or suspended), and one for the run itself when it
        could not check any table."""
        cases = []
        for t in self.ordered():
            message = quoteattr(t.reason or t.state)
            body = escape(t.to_text())
            if t.state in ("mismatched", "missing", "incompatible"):
                inner, kind = f"<failure message={message}>{body}</failure>", "failure"
            elif t.state in ("error", "pending"):
                inner, kind = f"<error message={message}>{body}</error>", "error"
            elif t.state in ("no_key", "suspended"):
                inner, kind = f"<skipped message={message}/>", "skipped"
            else:
                inner, kind = "", "passed"
            cases.append((kind, t.name, t.seconds, inner))
        if self.error:
            message = quoteattr(self.error)
            cases.append(("error", "replica", 0.0, f"<error message={message}/>"))
        counts = Counter(kind for kind, *_ in cases)
        total = self.timings.get("total", 0.0)
        out = [
            '<?xml version="1.0" encoding="utf-8"?>',
            f'<testsuites><testsuite name="pytest-cdc replica" tests="{len(cases)}"'
            f' failures="{counts["failure"]}" errors="{counts["error"]}"'
            f' skipped="{counts["skipped"]}" time="{total:.3f}">',
        ]
        for _, name, seconds, inner in cases:
            out.append(
                f'<testcase classname="replica" name={quoteattr(name)} time="{seconds:.3f}">'
                f"{inner}</testcase>"
            )
        out.append("</testsuite></testsuites>")
        return "\n".join(out)

    # -- JSON ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["counts"] = self.counts()
        data["rows_checked"] = self.rows_checked
        data["exit_code"] = self.exit_code()
        return data

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplicaReport:
        data = dict(data)
        for derived in ("counts", "rows_checked", "exit_code"):
            data.pop(derived, None)
        known_table = set(TableResult.__dataclass_fields__)
        tables = [
            TableResult(**{k: v for k, v in t.items() if k in known_table})
            for t in data.pop("tables", [])
        ]
        known = set(cls.__dataclass_fields__)
        return cls(tables=tables, **{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> ReplicaReport:
        return cls.from_dict(json.loads(text))


def merge_reports(reports: Sequence[ReplicaReport]) -> ReplicaReport:
    """One report from the shards' reports (``pytest-cdc merge-reports``).

    A table split across shards by key appears once, its counts and differences summed, its
    state the worst of its parts.  Raises ConfigError when the reports are not the shards of
    one run: a shard missing or given twice, different source or target, or shards that
    planned different work (the catalog's row estimates changed between them, so a table
    may have been checked twice or never).
    """
    from pytest_cdc.errors import ConfigError

    if not reports:
        raise ConfigError("no reports to merge: give the shards' JSON reports")
    first = reports[0]
    shards = [s for r in reports for s in r.shards]
    counts = {s.partition("/")[2] for s in shards}
    if len(counts) != 1:
        raise ConfigError(f"the reports are shards of different splits: {', '.join(shards)}")
    total = int(counts.pop() or 1)
    numbers = sorted(int(s.partition("/")[0]) for s in shards)
    if numbers != list(range(1, total + 1)):
        dupes = sorted({i for i in numbers if numbers.count(i) > 1})
        absent = sorted(set(range(1, total + 1)) - set(numbers))
        problems = (
            [f"missing shard(s) {', '.join(f'{i}/{total}' for i in absent)}"] if absent else []
        )
        problems += (
            [f"shard(s) {', '.join(f'{i}/{total}' for i in dupes)} given twice"] if dupes else []
        )
        raise ConfigError(f"cannot merge: {'; '.join(problems)}")
    for other in reports[1:]:
        if (other.source, other.target) != (first.source, first.target):
            raise ConfigError(
                f"cannot merge reports of different replicas: {first.source} -> {first.target}"
                f" and {other.source} -> {other.target}"
            )
    plans = {r.settings.get("plan") for r in reports}
    if len(plans) > 1:
        raise ConfigError(
            "the shards planned different work (the catalogs' row estimates changed between"
            " them, e.g. an ANALYZE ran): a table may have been checked twice or not at all;"
            " run the shards again"
        )
    merged = ReplicaReport(
        source=first.source,
        target=first.target,
        tiers=list(first.tiers),
        shards=[f"{i}/{total}" for i in range(1, total + 1)],
        target_only_tables=sorted({t for r in reports for t in r.target_only_tables}),
        excluded_tables=sorted({t for r in reports for t in r.excluded_tables}),
        stopped="; ".join(r.stopped for r in reports if r.stopped),
        error="; ".join(r.error for r in reports if r.error),
        settings={**first.settings, "shard": f"merged from {total}"},
        timings={"total": max((r.timings.get("total", 0.0) for r in reports), default=0.0)},
    )
    by_table: dict[str, TableResult] = {}
    split: set[str] = set()
    for result in (t for r in reports for t in r.tables):
        seen = by_table.get(result.source_table)
        if seen is None:
            by_table[result.source_table] = TableResult(**asdict(result))
            continue
        _add(seen, result)
        split.add(result.source_table)
    for name in split:
        table = by_table[name]
        if table.state == "mismatched":
            table.reason = _difference(table) or table.reason
    merged.tables = [by_table[name] for name in sorted(by_table)]
    return merged


#: The state of a table split over shards, from its parts' states: a part that could not be
#: checked outranks one that differs (the table's verdict is incomplete: exit code 2, not 1).
_MERGED_STATE = (
    "error",
    "pending",
    "mismatched",
    "missing",
    "incompatible",
    "suspended",
    "no_key",
    "validated",
)
#: A tier's outcome over the parts: failed anywhere is failed.
_MERGED_TIER = ("failed", "skipped", "not run", "passed")


def _worst(order: Sequence[str], a: str, b: str) -> str:
    rank = {name: i for i, name in enumerate(order)}
    return a if rank.get(a, -1) <= rank.get(b, -1) else b


def _difference(t: TableResult) -> str | None:
    """The reason of a split table's summed outcome, worded as each part's was: the counts,
    else the aggregates, else the rows."""
    return t.counts_differ() or t.aggregates_differ() or t.rows_differ()


def _add(into: TableResult, part: TableResult) -> None:
    state = _worst(_MERGED_STATE, into.state, part.state)
    if state != into.state:
        into.state, into.reason = part.state, part.reason
    for tier, outcome in part.tiers.items():
        into.tiers[tier] = _worst(_MERGED_TIER, into.tiers.get(tier, outcome), outcome)
    for name in ("source_rows", "target_rows"):
        a, b = getattr(into, name), getattr(part, name)
        setattr(into, name, None if a is None or b is None else a + b)
    for name in (
        "missing_count",
        "extra_count",
        "changed_count",
        "rows_checked",
        "in_flight_count",
        "suspended_count",
    ):
        setattr(into, name, getattr(into, name) + getattr(part, name))
    into.missing += part.missing
    into.extra += part.extra
    into.changed += part.changed
    into.suspended += part.suspended
    into.aggregates += part.aggregates
    into.notes = list(dict.fromkeys([*into.notes, *part.notes]))
    into.seconds = max(into.seconds, part.seconds)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
