"""Two catalogs and a mapping in, a :class:`SchemaReport` out: no connection, no SQL.

:mod:`pytest_cdc.schema.api` reads the catalogs; everything here is pure, so the SQL Server
rules are tested from catalog rows without a SQL Server.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_cdc.errors import ConfigError
from pytest_cdc.schema.catalog import CatalogReader
from pytest_cdc.schema.mapping import Pairing, ReplicaMapping, TablePairing, pair_catalogs
from pytest_cdc.schema.model import VIEW, Catalog, Column, Table
from pytest_cdc.schema.profiles import Expectations, Profile, TypePattern
from pytest_cdc.schema.readers import reader_for
from pytest_cdc.schema.report import ColumnReport, Finding, SchemaReport, TableReport
from pytest_cdc.schema.rules import DEFAULT_ALLOW, Judgement, judge, merge_encoding
from pytest_cdc.schema.types import CHARACTER, Domain


def check_profile(profile: Profile | None, source_engine: str, target_engine: str) -> None:
    if profile is None:
        return
    if (profile.source_engine, profile.target_engine) != (source_engine, target_engine):
        raise ConfigError(
            f"profile {profile.name!r} describes {profile.source_engine} -> "
            f"{profile.target_engine} pipelines, but this is {source_engine} -> {target_engine}:"
            " pick another profile, or none"
        )


@dataclass
class _Sides:
    source: CatalogReader
    target: CatalogReader
    expectations: Expectations
    tracked: bool
    #: Judgements by (source domain, target domain) identity: readers hand out one Domain
    #: object a distinct type, so a schema of thousands of columns has a few dozen pairs.
    judged: dict[tuple[int, int], tuple[Domain, Domain, Judgement]] = field(default_factory=dict)

    def judge(self, src: Domain, dst: Domain) -> Judgement:
        key = (id(src), id(dst))
        found = self.judged.get(key)
        if found is None:
            # The domains are kept with the judgement so their ids cannot be reused.
            found = self.judged[key] = (src, dst, judge(src, dst))
        return found[2]


def compare_catalogs(
    source: Catalog,
    target: Catalog,
    mapping: ReplicaMapping | None = None,
    expectations: Expectations | None = None,
    *,
    allow: tuple[str, ...] = DEFAULT_ALLOW,
) -> SchemaReport:
    """Pair the catalogs' tables and judge every column pair (docs/schema.md)."""
    mapping = mapping or ReplicaMapping()
    expectations = expectations or Expectations()
    sides = _Sides(
        reader_for(source.engine),
        reader_for(target.engine),
        expectations,
        any(t.cdc_enabled for t in source),
    )
    pairing = pair_catalogs(source, target, mapping)
    report = SchemaReport(
        source=source.engine,
        target=target.engine,
        source_engine=source.engine,
        target_engine=target.engine,
        profile=None if expectations.profile is None else expectations.profile.name,
        allow=list(allow),
        notes=list(source.notes + target.notes),
    )
    for pair in pairing.pairs:
        report.pairs.append(_table(pair, sides, report.findings))
    _unpaired(pairing, report)
    if sides.source.change_capture and len(source) and not sides.tracked:
        report.notes.append(
            "no source table is tracked by CDC (sys.tables.is_tracked_by_cdc): the capture"
            " checks were skipped"
        )
    return report


def _unpaired(pairing: Pairing, report: SchemaReport) -> None:
    for pair in pairing.source_only:
        wanted = ".".join(pair.target_name)
        hint = (
            f"; the target has {pair.hint}: set name-style or a table override" if pair.hint else ""
        )
        report.source_only_tables.append(pair.source.qualified)
        report.findings.append(
            Finding(
                "missing table",
                "lossy",
                f"{wanted} is not in the target: the table is not replicated{hint}",
                source_table=pair.source.qualified,
                target_table=wanted,
            )
        )
    for table in pairing.target_only:
        report.target_only_tables.append(table.qualified)
        report.findings.append(
            Finding(
                "extra table",
                "widened",
                "no source table maps to it",
                target_table=table.qualified,
            )
        )
    report.excluded_tables.extend(t.qualified for t in pairing.excluded)


def _table(pair: TablePairing, sides: _Sides, findings: list[Finding]) -> TableReport:
    src, dst = pair.source, pair.target
    assert dst is not None
    rule = pair.rule
    out = TableReport(
        source_table=src.qualified,
        target_table=dst.qualified,
        kind=src.kind,
        source_name=[src.schema, src.name],
        target_name=[dst.schema, dst.name],
        key=list(pair.key),
        key_origin=pair.key_origin,
        source_rows=src.row_estimate,
        target_rows=dst.row_estimate,
        source_only_columns=[c.name for c in pair.source_only],
        target_only_columns=[c.name for c in pair.target_only],
        excluded_columns=list(pair.excluded),
        where=None if rule is None else rule.where,
        target_where=None if rule is None else rule.target_where,
        lag_column=None if rule is None else rule.lag_column,
        cdc_enabled=src.cdc_enabled,
        capture_instances=[c.name for c in src.capture_instances],
    )
    where = {"source_table": src.qualified, "target_table": dst.qualified}
    targets = {s.name: d.name for s, d in pair.columns}
    captured = src.captured_columns()
    for s, d in pair.columns:
        column, src_dom = _column(s, d, s.name in pair.key, sides)
        out.columns.append(column)
        cells = {
            **where,
            "source_column": s.name,
            "source_type": column.source_type,
            "target_column": d.name,
            "target_type": column.target_type,
        }
        if column.verdict != "same":
            kind = "unsupported" if column.unsupported else "type"
            findings.append(Finding(kind, column.verdict, column.why, **cells))
        text = src_dom.family in CHARACTER
        findings.extend(_column_findings(s, d, column, text, src, captured, cells))
    out.encoding_options = merge_encoding([c.encoding_options for c in out.columns if c.comparable])
    out.target_key = [targets[k] for k in pair.key if k in targets]
    findings.extend(_table_findings(pair, out, sides, where))
    return out


def _column(s: Column, d: Column, key: bool, sides: _Sides) -> tuple[ColumnReport, Domain]:
    src_dom, dst_dom = sides.source.domain(s), sides.target.domain(d)
    judgement = sides.judge(src_dom, dst_dom)
    verdict, why = judgement.verdict, judgement.why
    expect = sides.expectations
    accepted = expect.override(src_dom, dst_dom, sides.source, sides.target)
    if accepted is not None:
        why = (
            f"accepted as {accepted.verdict} by {accepted.origin}"
            + (f" ({accepted.why})" if accepted.why else "")
            + (f"; rules: {verdict}: {why}" if why else "")
        )
        verdict = accepted.verdict
    encoding = dict(judgement.encoding)
    profile = expect.profile
    mode = None if profile is None else profile.timestamp_mode
    cut = "timestamp_precision" in encoding and "timestamp_mode" not in encoding
    if profile is not None and mode is not None and cut:
        encoding["timestamp_mode"] = mode
        why = f"{why}, timestamp_mode={mode!r} (profile {profile.name} does)"
    found = expect.expected(src_dom, sides.source)
    expected = None if found is None else found[0]
    identity = profile is not None and profile.identity and accepted is None
    if found is not None and not identity and not _is_expected(dst_dom, found[0], sides.target):
        note = f"{found[1]} creates {' or '.join(found[0])}"
        why = f"{why} ({note})" if why else note
    report = ColumnReport(
        source=s.name,
        source_type=src_dom.display,
        target=d.name,
        target_type=dst_dom.display,
        verdict=verdict,
        why=why,
        key=key,
        comparable=judgement.comparable,
        unsupported=judgement.unsupported,
        encoding_options=encoding,
        expected=None if expected is None else list(expected),
        allowed_by=None if accepted is None else accepted.origin,
        source_nullable=s.nullable,
        target_nullable=d.nullable,
    )
    return report, src_dom


def _is_expected(dst: Domain, expected: tuple[str, ...], reader: CatalogReader) -> bool:
    for text in expected:
        if text == dst.display:
            return True
        try:
            pattern = TypePattern.parse(text)
        except ValueError:
            continue
        if pattern.matches(dst, reader):
            return True
    return False


def _column_findings(
    s: Column,
    d: Column,
    column: ColumnReport,
    text: bool,
    table: Table,
    captured: frozenset[str] | None,
    cells: dict[str, str],
) -> list[Finding]:
    found = []
    if s.nullable and not d.nullable:
        found.append(
            Finding(
                "nullability",
                "lossy",
                "the source allows NULL but the target is NOT NULL: rows with NULL here"
                " cannot be replicated",
                **cells,
            )
        )
    if text and column.key and s.collation != d.collation:
        insensitive = d.insensitive_collation and not s.insensitive_collation
        verdict = "lossy" if insensitive else "representation"
        found.append(
            Finding(
                "collation",
                verdict,
                f"the key sorts by {s.collation or 'the default'} on the source and by"
                f" {d.collation or 'the default'} on the target"
                + (
                    ": keys the source keeps apart can collide on the target"
                    if verdict == "lossy"
                    else "; the checksum orders text keys by code point on both sides,"
                    " so only the order of queries and uniqueness rules differ"
                ),
                **cells,
            )
        )
    if s.computed and not d.computed:
        found.append(
            Finding(
                "computed",
                "lossy",
                "computed on the source: change capture does not carry computed values (SQL"
                " Server CDC leaves them NULL): compute it on the target, or exclude it",
                **cells,
            )
        )
    if captured is not None and s.name not in captured:
        instances = ", ".join(i.name for i in table.capture_instances) or "none"
        found.append(
            Finding(
                "cdc",
                "lossy",
                f"not captured by CDC (capture instances: {instances}); added after CDC was"
                " enabled? Its changes are not replicated: create a new capture instance",
                **cells,
            )
        )
    return found


def _table_findings(
    pair: TablePairing, out: TableReport, sides: _Sides, where: dict[str, str]
) -> list[Finding]:
    src, dst = pair.source, pair.target
    assert dst is not None
    found = []
    by_target = {c.name: c for c in pair.target_only}
    for col in pair.source_only:
        wanted = col.name
        close = [
            n for n in by_target if n.replace("_", "").lower() == wanted.replace("_", "").lower()
        ]
        hint = (
            f"; the target has {close[0]!r}: set name-style or map it with columns" if close else ""
        )
        found.append(
            Finding(
                "missing column",
                "lossy",
                f"not in the target: its values are not replicated{hint}",
                source_column=col.name,
                source_type=sides.source.domain(col).display,
                **where,
            )
        )
    for col in pair.target_only:
        filled = col.nullable or col.has_default or col.computed
        found.append(
            Finding(
                "extra column",
                "widened" if filled else "lossy",
                "no source column maps to it"
                + ("" if filled else "; it is NOT NULL without a default, so inserts fail"),
                target_column=col.name,
                target_type=sides.target.domain(col).display,
                **where,
            )
        )
    if not pair.key:
        found.append(
            Finding(
                "key",
                "lossy",
                f"{src.qualified} has no primary key and no unique index on NOT NULL columns:"
                " rows cannot be matched one to one; name one with key = [...] in the mapping",
                **where,
            )
        )
    else:
        missing = [k for k in pair.key if k not in out.column_map]
        if missing:
            found.append(
                Finding(
                    "key",
                    "lossy",
                    f"key column(s) {', '.join(missing)} are not in the target: rows cannot be"
                    " matched",
                    **where,
                )
            )
        elif dst.kind != VIEW and not _unique_on(dst, out.target_key):
            found.append(
                Finding(
                    "key",
                    "lossy",
                    f"the target has no primary key or unique index on"
                    f" ({', '.join(out.target_key)}): a pipeline that replays changes can"
                    " write a row twice",
                    **where,
                )
            )
    if sides.tracked and src.cdc_enabled is False:
        found.append(
            Finding(
                "cdc",
                "lossy",
                f"{src.qualified} is not tracked by CDC: its changes are not captured",
                **where,
            )
        )
    return found


def _unique_on(table: Table, columns: list[str]) -> bool:
    wanted = set(columns)
    indexes = [table.primary_key, *table.unique_indexes]
    return any(i is not None and set(i.columns) <= wanted for i in indexes)


__all__ = ["check_profile", "compare_catalogs"]
