"""The dialect registry.

PostgreSQL and SQL Server are registered through the same
:func:`~pytest_cdc.hookspecs.pytest_cdc_register_dialects` hook a third party uses, so nothing in
the plugin special-cases them beyond listing them first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_cdc.dialects.base import Dialect
from pytest_cdc.errors import UnsupportedDialect, did_you_mean

if TYPE_CHECKING:
    from pytest_cdc.urls import DatabaseURL

__all__ = ["Dialect", "DialectRegistry", "default_registry", "get_dialect"]


class DialectRegistry:
    """Maps dialect names and URL schemes to :class:`Dialect` instances."""

    def __init__(self) -> None:
        self._by_name: dict[str, Dialect] = {}
        self._by_scheme: dict[str, Dialect] = {}

    def register(self, dialect: Dialect, *, replace: bool = False) -> None:
        if dialect.name in self._by_name and not replace:
            if type(self._by_name[dialect.name]) is type(dialect):
                return  # registering the same dialect twice is harmless
            raise ValueError(f"dialect {dialect.name!r} is already registered")
        self._by_name[dialect.name] = dialect
        for scheme in dialect.schemes:
            self._by_scheme[scheme] = dialect

    def get(self, name: str) -> Dialect:
        found = self._by_name.get(name) or self._by_scheme.get(name)
        if found is None:
            known = sorted(set(self._by_name) | set(self._by_scheme))
            raise UnsupportedDialect(
                f"unknown dialect {name!r}{did_you_mean(name, known)}; known: {', '.join(known)}"
            )
        return found

    def for_scheme(self, scheme: str) -> Dialect:
        return self.get(scheme.lower())

    @property
    def schemes(self) -> dict[str, str]:
        """URL scheme -> scheme (for :func:`pytest_cdc.urls.parse_url`)."""
        return {scheme: scheme for scheme in self._by_scheme}

    @property
    def hostless_schemes(self) -> frozenset[str]:
        """Schemes whose URLs need no host (file-based engines)."""
        return frozenset(s for s, d in self._by_scheme.items() if not d.requires_host)

    def parse(self, spec: str, *, name: str | None = None) -> DatabaseURL:
        """Parse ``[NAME=]URL`` with every scheme this registry knows."""
        from pytest_cdc.urls import parse_url

        return parse_url(spec, name=name, schemes=self.schemes, hostless=self.hostless_schemes)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name or name in self._by_scheme


def _builtin_registry() -> DialectRegistry:
    from pytest_cdc.dialects.mssql import SqlServerDialect
    from pytest_cdc.dialects.postgres import PostgresDialect

    registry = DialectRegistry()
    registry.register(PostgresDialect())
    registry.register(SqlServerDialect())
    return registry


_default: DialectRegistry | None = None


def default_registry() -> DialectRegistry:
    """The process-wide registry; the plugin adds third-party dialects to it at startup."""
    global _default
    if _default is None:
        _default = _builtin_registry()
    return _default


def get_dialect(name: str) -> Dialect:
    """The dialect called ``name`` (or serving URL scheme ``name``)."""
    return default_registry().get(name)
