"""Per-file result cache: pre-commit runs the hooks on every commit, mostly on unchanged files.

One JSON file per hook and project under ``$XDG_CACHE_HOME/pytest-cdc`` (or
``$PYTEST_CDC_CACHE_DIR``).  Keys hash the file content together with everything that can change
a result (dialect, settings, hook version, plugin rules), so a stale entry is never reused; it
just stops being looked up.  Writes are atomic (temp file + rename), so parallel hook processes
at worst lose each other's new entries.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pytest_cdc_hooks import __version__
from pytest_cdc_hooks.config import cache_root

__all__ = ["ResultCache", "content_key"]

MAX_ENTRIES = 50_000


#: Bumped when the shape of cached entries changes within one release.
FORMAT = "2"


def content_key(*parts: str | bytes) -> str:
    digest = hashlib.sha256(f"{__version__}/{FORMAT}".encode())
    for part in parts:
        digest.update(b"\x00")
        digest.update(part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


class ResultCache:
    def __init__(self, name: str, project_root: Path, *, enabled: bool = True) -> None:
        project = hashlib.sha256(str(project_root.resolve()).encode()).hexdigest()[:16]
        self.path = cache_root() / project / f"{name}.json"
        self.enabled = enabled
        self._data: dict[str, Any] = {}
        self._dirty = False
        if enabled:
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict):
                    self._data = loaded
            except (OSError, ValueError):
                pass  # no cache yet, or a torn/foreign file: start empty

    def get(self, key: str) -> Any:
        return self._data.get(key) if self.enabled else None

    def put(self, key: str, value: Any) -> None:
        if self.enabled:
            self._data[key] = value
            self._dirty = True

    def save(self) -> None:
        if not (self.enabled and self._dirty):
            return
        if len(self._data) > MAX_ENTRIES:
            # dicts keep insertion order: drop the oldest entries
            for key in list(self._data)[: len(self._data) - MAX_ENTRIES]:
                del self._data[key]
        import tempfile

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self._data, handle, separators=(",", ":"))
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only cache directory must not fail the hook
        self._dirty = False
