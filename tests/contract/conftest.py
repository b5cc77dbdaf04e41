"""The consumer test writes the pact file the provider test reads: under pytest-xdist both run
on one worker, in file order (`--dist loadgroup`, as `make test` runs)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/contract/" in item.nodeid.replace("\\", "/") or item.nodeid.startswith(
            "test_report_"
        ):
            item.add_marker(pytest.mark.xdist_group("contract"))
