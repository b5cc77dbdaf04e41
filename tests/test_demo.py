"""The README's demo command stays true: the demo suite in examples/ passes on the embedded
default and shows its reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_demo_suite_passes_and_prints_its_reports(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(EXAMPLES),
            "-q",
            "-p",
            "no:xdist",
            "-o",
            f"cdc_metrics_file={tmp_path / 'metrics.prom'}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=EXAMPLES.parent,
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:]
    assert " failed" not in out and " passed" in out
    for report in (
        "=== assert_no_table_scan failure ===",
        "=== reconcile report (text) ===",
        "=== cdc-sql-lint",
        "=== showplan analysis ===",
    ):
        assert report in out, report
    assert 'db_connection_pool_size{pool="cdc-source"}' in (tmp_path / "metrics.prom").read_text()
