"""pytest-cdc's own hooks, for plugins and ``conftest.py`` files.

They are registered in ``pytest_addhooks``, so implement them like any pytest hook::

    # conftest.py
    def pytest_cdc_register_dialects(registry):
        registry.register(MyDialect())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pytest_cdc.dialects import DialectRegistry
    from pytest_cdc.session import DatabaseHandle

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_cdc_register_dialects(registry: DialectRegistry) -> None:
    """Register extra database dialects (URL schemes, quoting, connecting, throwaway databases).

    Called once per session before any ``--cdc-db`` URL is parsed, so URLs with the new schemes
    are accepted.  PostgreSQL and SQL Server are registered through this same hook.
    """


@hookspec
def pytest_cdc_register_lint_rules(registry: Any) -> None:
    """Register extra ``cdc-sql-lint`` rules (see :mod:`pytest_cdc_hooks.rules`).

    The pre-commit hooks run outside pytest; they call this hook on plugins found through the
    ``pytest_cdc`` setuptools entry point group.
    """


@hookspec
def pytest_cdc_database_ready(name: str, handle: DatabaseHandle) -> None:
    """A configured database is reachable and prepared (template loaded); runs once each."""


@hookspec(firstresult=True)
def pytest_cdc_load_schema(handle: DatabaseHandle, connection: Any, path: str) -> bool | None:
    """Load one ``--cdc-load`` file into ``connection``; return True when handled.

    The default implementation splits the script with the dialect's rules (``GO`` batches on
    SQL Server) and runs each batch.
    """
