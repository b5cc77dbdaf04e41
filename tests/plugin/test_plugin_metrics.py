"""The fixtures' own pools report to the session metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import server_url_with


def test_fixture_pools_in_metrics_file(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("i", range(3))
        def test_x(cdc_db, i):
            assert cdc_db.fetchval("select 1") == 1
        """
    )
    out = tmp_path / "metrics.prom"
    secret = "Pw-in-url-42"
    # In a subprocess: pytester's in-process runs drop modules first imported inside them
    # (pytest_cdc.metrics here), which would split the metrics state between two copies.
    result = pytester.runpytest_subprocess(
        f"--cdc-metrics-file={out}",
        f"--cdc-db=server={server_url_with(password=secret)}",
    )
    result.assert_outcomes(passed=3)
    text = out.read_text()
    assert 'db_connection_pool_size{pool="cdc-default"} 1.0' in text
    # three tests, one pooled connection reused: three acquisitions in the histogram
    assert 'db_connection_acquire_seconds_count{pool="cdc-default"} 3.0' in text
    assert secret not in text
