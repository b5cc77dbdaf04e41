"""Hook tests run in an empty temporary directory, with their own cache directory, so that
neither the repository's pyproject.toml nor a user's cache changes what they see."""

from __future__ import annotations

from pathlib import Path

import pytest

FILES = Path(__file__).resolve().parent / "files"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("PYTEST_CDC_CACHE_DIR", str(tmp_path / "cache"))
    return work
