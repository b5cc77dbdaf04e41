"""pre-commit hooks for pytest-cdc: ``cdc-sql-lint`` and ``cdc-index-coverage``.

Installed as the import package ``pytest_cdc_hooks`` (the source lives in ``hooks/``).
"""

from __future__ import annotations

#: Part of every cache key: a new release never reuses findings computed by an older one.
__version__ = "0.1.0"
