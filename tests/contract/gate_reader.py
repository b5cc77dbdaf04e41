"""A small CI gate job, the consumer of the ``pytest-cdc reconcile --format json`` report.

It reads only the fields a gate needs; the Pact contract pins exactly these fields, so the
report may grow but never lose or rename them.
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
