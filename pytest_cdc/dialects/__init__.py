"""The database engines pytest-cdc knows: one :class:`Dialect` object per engine, and the one
registry that names them.

Every surface (``--cdc-db`` URLs, ``--dialect`` flags of the CLI and the hooks, the Python API)
resolves a name here, so they all accept the same names: a dialect's canonical name, its
aliases (``postgres``, ``pg``, ``tsql``, ``sqlserver``, ...) and its URL schemes, in any case.

PostgreSQL and SQL Server are registered through the same
:func:`~pytest_cdc.plugin.hookspecs.pytest_cdc_register_dialects` hook a third party uses.
While a pytest session runs, the registry that hook filled is the active one, so
:func:`get_dialect` sees a third party's dialect too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from pytest_cdc.dialects.base import Dialect
from pytest_cdc.errors import UnsupportedDialect, did_you_mean

if TYPE_CHECKING:
    from pytest_cdc.urls import DatabaseURL

__all__ = [
    "Dialect",
    "DialectRegistry",
    "activate",
    "builtin_dialects",
    "default_registry",
    "get_dialect",
    "parse_url",
    "resolve_dialect",
]


class DialectRegistry:
    """Maps names, aliases and URL schemes (case-insensitive) to :class:`Dialect` objects."""

    def __init__(self) -> None:
        self._by_name: dict[str, Dialect] = {}
        self._by_word: dict[str, Dialect] = {}

    def register(self, dialect: Dialect, *, replace: bool = False) -> None:
        current = self._by_name.get(dialect.name)
        if current is not None and not replace:
            if type(current).__qualname__ == type(dialect).__qualname__:
                return  # registering the same dialect again is harmless
            raise ValueError(f"dialect {dialect.name!r} is already registered")
        self._by_name[dialect.name] = dialect
        for word in (dialect.name, *dialect.aliases, *dialect.schemes):
            self._by_word[word.lower()] = dialect

    def get(self, name: str) -> Dialect:
        found = self._by_word.get(name.strip().lower())
        if found is None:
            known = sorted(self._by_word)
            raise UnsupportedDialect(
                f"unknown dialect {name!r}{did_you_mean(name.lower(), known)};"
                f" known: {', '.join(known)}"
            )
        return found

    def for_scheme(self, scheme: str) -> Dialect:
        return self.get(scheme)

    @property
    def schemes(self) -> dict[str, str]:
        """URL scheme -> scheme (for :func:`pytest_cdc.urls.parse_url`)."""
        return {s: s for d in self._by_name.values() for s in d.schemes}

    @property
    def hostless_schemes(self) -> frozenset[str]:
        """Schemes whose URLs need no host (file-based engines)."""
        return frozenset(
            s for d in self._by_name.values() if not d.requires_host for s in d.schemes
        )

    def parse(self, spec: str, *, name: str | None = None) -> DatabaseURL:
        """Parse ``[NAME=]URL`` with every scheme this registry knows."""
        from pytest_cdc.urls import parse_url

        return parse_url(
            spec,
            name=name,
            schemes=self.schemes,
            hostless=self.hostless_schemes,
            docker_kinds=self.docker_kinds,
        )

    @property
    def docker_kinds(self) -> dict[str, str]:
        """The words of ``docker:KIND`` (names and aliases of dialects with an image)."""
        return {
            word.lower(): d.name
            for d in self._by_name.values()
            if d.docker_image
            for word in (d.name, *d.aliases)
        }

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def dialects(self) -> list[Dialect]:
        return [self._by_name[name] for name in self.names()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self._by_word


def builtin_dialects() -> list[Dialect]:
    from pytest_cdc.dialects.mssql import SqlServerDialect
    from pytest_cdc.dialects.postgres import PostgresDialect

    return [PostgresDialect(), SqlServerDialect()]


_builtin: DialectRegistry | None = None
_active: list[DialectRegistry] = []
_lock = threading.Lock()


def default_registry() -> DialectRegistry:
    """The registry in force: the running pytest session's (with third-party dialects), else
    the built-in one."""
    global _builtin
    if _active:
        return _active[-1]
    with _lock:
        if _builtin is None:
            registry = DialectRegistry()
            for dialect in builtin_dialects():
                registry.register(dialect)
            _builtin = registry
    return _builtin


def activate(registry: DialectRegistry) -> Callable[[], None]:
    """Make ``registry`` the one :func:`get_dialect` asks; returns what undoes it."""
    _active.append(registry)

    def deactivate() -> None:
        if registry in _active:
            _active.remove(registry)

    return deactivate


def get_dialect(name: str) -> Dialect:
    """The dialect called ``name`` (a name, an alias or a URL scheme, any case)."""
    return default_registry().get(name)


def parse_url(spec: str, *, name: str | None = None) -> DatabaseURL:
    """Parse ``[NAME=]URL`` with every scheme the registered dialects serve."""
    return default_registry().parse(spec, name=name)


def resolve_dialect(dialect: str | Dialect) -> Dialect:
    """``dialect`` itself, or the registered dialect of that name."""
    if isinstance(dialect, Dialect):
        return dialect
    if not isinstance(dialect, str):
        raise UnsupportedDialect(f"unknown dialect {dialect!r}: pass 'postgresql' or 'mssql'")
    return get_dialect(dialect)
