"""A small CI gate job, the consumer of the ``pytest-cdc reconcile --format json`` report
(:func:`gate`) and of the ``pytest-cdc validate --format json`` whole-replica report
(:func:`gate_replica`).

It reads only the fields a gate needs; the Pact contracts pin exactly these fields, so the
reports may grow but never lose or rename them.
"""

from __future__ import annotations

import json
from typing import Any


def gate(report_json: str | bytes) -> tuple[int, str]:
    """(exit code, one-line verdict) for a reconcile report."""
    report: dict[str, Any] = json.loads(report_json)
    if report["schema_version"] != 1:
        return 2, f"unknown report schema {report['schema_version']!r}"
    table = f"{report['source_table']} -> {report['target_table']}"
    if report["equal"]:
        return 0, f"{table}: {report['source_rows']} rows match"
    counts = (
        f"{report['missing_count']} missing, {report['extra_count']} extra, "
        f"{report['changed_count']} changed"
    )
    keys = [",".join(str(v) for v in k) for k in report["missing"][:3]]
    keys += [",".join(str(v) for v in row["key"]) for row in report["changed"][:3]]
    columns = sorted({c for row in report["changed"] for c in row["differences"]})
    return 1, f"{table}: {counts} (keys {', '.join(keys)}; columns {', '.join(columns)})"


#: Table states that fail a replica gate; ``suspended`` (rows still changing) only when strict.
#: A state this gate does not know cannot be judged: it fails too, as an error.
FAILING = frozenset({"mismatched", "missing", "incompatible", "error", "pending"})
PASSING = frozenset({"validated", "no_key", "suspended"})


def gate_replica(report_json: str | bytes, *, strict: bool = False) -> tuple[int, list[str]]:
    """(exit code, lines) for a ``pytest-cdc validate --format json`` report: 0 every table
    passes, 1 a table fails, 2 a verdict is missing (the run's error, a stopped run, a table in
    error or in a state this gate does not know). The first line is the verdict, then one line a
    failing table."""
    report: dict[str, Any] = json.loads(report_json)
    if report["schema_version"] != 1:
        return 2, [f"unknown report schema {report['schema_version']!r}"]
    replica = f"{report['source']} -> {report['target']}"
    if report["error"]:
        return 2, [f"{replica}: not checked: {report['error']}"]
    failing = FAILING | ({"suspended"} if strict else set())
    lines: list[str] = []
    code = mismatches = 0
    for table in report["tables"]:
        counts = (table["missing_count"], table["extra_count"], table["changed_count"])
        mismatches += sum(counts)
        state = table["state"]
        if state in PASSING and state not in failing:
            continue
        code = max(code, 2 if state == "error" or state not in failing else 1)
        tiers = [tier for tier, outcome in table["tiers"].items() if outcome == "failed"]
        keys = [",".join(str(v) for v in k) for k in (table["missing"] + table["extra"])[:3]]
        keys += [",".join(str(v) for v in row["key"]) for row in table["changed"][:3]]
        columns = sorted({c for row in table["changed"] for c in row["differences"]})
        detail = (
            f" ({counts[0]} missing, {counts[1]} extra, {counts[2]} changed"
            + (f"; keys {', '.join(keys)}" if keys else "")
            + (f"; columns {', '.join(columns)}" if columns else "")
            + (f"; failed {', '.join(tiers)}" if tiers else "")
            + ")"
        )
        lines.append(f"{table['source_table']}: {state}: {table['reason'] or state}{detail}")
    tables = len(report["tables"])
    verdict = (
        f"{replica}: {tables} table{'' if tables == 1 else 's'}, {len(lines)} failing,"
        f" {mismatches} mismatched rows"
    )
    if report["stopped"]:
        # Tables were left unchecked: a green verdict would be a guess.
        code = 2
        lines.append(f"stopped: {report['stopped']}")
    return code, [verdict, *lines]
