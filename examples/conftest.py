"""Helpers for the demo suite: print a report under a heading, so `-rP` shows it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REPORTS = HERE / "reports"


def _show(title: str, body: str) -> None:
    print(f"\n=== {title} ===\n{body.rstrip()}\n")


@pytest.fixture
def show() -> Callable[[str, str], None]:
    """``show(title, text)``: print a report; `-rP` (set in pytest.ini) displays it."""
    return _show


@pytest.fixture
def report_dir() -> Path:
    REPORTS.mkdir(exist_ok=True)
    return REPORTS
