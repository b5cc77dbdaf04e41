"""pytest entry point (``pytest11``): options, hooks and the re-exported fixtures.

Importing this module must stay cheap: it runs in every pytest process of every project that
has pytest-cdc installed, most of which never ask for a database.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cdc.errors import CdcError
from pytest_cdc.plugin import options
from pytest_cdc.plugin.fixtures import (
    cdc_connect,
    cdc_databases,
    cdc_db,
    cdc_session,
    cdc_settings,
    cdc_source,
    cdc_target,
)
from pytest_cdc.plugin.stash import SESSION_KEY, SETTINGS_KEY, session_for

if TYPE_CHECKING:
    from pytest_cdc.dialects import DialectRegistry
    from pytest_cdc.session import CdcSession, DatabaseHandle

__all__ = [
    "cdc_connect",
    "cdc_databases",
    "cdc_db",
    "cdc_session",
    "cdc_settings",
    "cdc_source",
    "cdc_target",
]

# Plugin modules owned by the feature areas; each is import-light in the same way.
pytest_plugins = [
    "pytest_cdc.plugin.queries",
    "pytest_cdc.plugin.metrics",
    "pytest_cdc.plugin.snapshots",
    "pytest_cdc.plugin.replica",
    "pytest_cdc.plugin.xdist",
]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_cdc.plugin import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.addoption(parser)


class BuiltinDialects:
    """Registers PostgreSQL and SQL Server through the hook third parties use."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_cdc_register_dialects(self, registry: DialectRegistry) -> None:
        from pytest_cdc.dialects.mssql import SqlServerDialect
        from pytest_cdc.dialects.postgres import PostgresDialect

        registry.register(PostgresDialect())
        registry.register(SqlServerDialect())


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cdc(db=None, isolation='rollback'): choose the isolation of the test's cdc database"
        " connections: 'rollback' (a transaction rolled back after the test) or 'database' (a"
        " fresh database cloned from the template, dropped after the test); db limits it to"
        " one database name or a list of names.",
    )
    try:
        resolved = options.resolve(config)
        config.stash[SETTINGS_KEY] = resolved
        config.pluginmanager.register(BuiltinDialects(), "cdc-builtin-dialects")
        # With only the embedded default there is nothing to check yet, and building the
        # session (dialects, URL parsing) waits for the first test that asks for a database;
        # URLs and load files are checked now, so a typo is a usage error before any test.
        if resolved.all_load_files or any(s != "embedded" for s in resolved.databases.values()):
            session_for(config)
    except CdcError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_unconfigure(config: pytest.Config) -> None:
    # Runs after Ctrl-C too, so the embedded server and the cdc_test_* databases go away.
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        with contextlib.suppress(Exception):
            session.close()


def _embedded_line(
    name: str, pg_bin: str | None, origin: str = "--cdc-pg-bin", *, when: str = "on first use"
) -> str:
    """Which binaries an embedded database will start from: found now, started ``when``."""
    from pytest_cdc.embedded import describe_binaries

    line = f"cdc: {name} = embedded PostgreSQL (started {when})"
    try:
        return f"{line}: {describe_binaries(pg_bin, origin=origin)}"
    except CdcError as exc:
        return f"{line}: {exc}"


def _header_line(handle: DatabaseHandle, *, prepare: bool) -> str:
    if handle.kind == "embedded" and (handle.embedded is None or not handle.session.hands_out):
        # An xdist controller starts what it shares now, in the background: whether that start
        # has finished by the time the header is written must not change the header.
        when = "on first use" if handle.session.hands_out else "now, for the xdist workers"
        return _embedded_line(handle.name, handle.pg_bin, handle.pg_bin_origin, when=when)
    line = f"cdc: {handle.name} = {handle.describe()}"
    if not prepare:
        return line + " (started on first use)"
    try:
        handle.prepare()
    except CdcError as exc:
        return f"{line}: {exc}"
    assert handle.dialect is not None
    ready = f"{handle.ready_seconds:.2f} s" if handle.ready_seconds is not None else "?"
    version = handle.server_version.split(" (")[0]
    return f"{line}: {handle.dialect.display_name} {version}, ready in {ready}" + "".join(
        f"; {note}" for note in _notes(handle)
    )


def _notes(handle: DatabaseHandle) -> list[str]:
    """What a test starts from on a server given by URL, where the two isolations differ
    unless there is a template, and what was swept."""
    import os

    notes = []
    files = handle.load_files
    if files:
        names = ", ".join(os.path.basename(f) for f in files)
        origin = f" ({handle.template_origin})" if handle.template_origin else ""
        notes.append(f"tests start from a template of {names}{origin}")
    elif handle.kind == "url":
        notes.append(
            f"rollback tests use database {handle.main_database!r} as it is,"
            ' isolation="database" tests get an empty one (no --cdc-load)'
        )
    if handle.swept:
        notes.append(
            f"dropped {len(handle.swept)} cdc_test_* database(s) of sessions that are gone"
        )
    return notes


def pytest_report_header(config: pytest.Config) -> list[str]:
    session: CdcSession | None = config.stash.get(SESSION_KEY, None)
    if session is None:
        resolved = config.stash.get(SETTINGS_KEY, None)
        if resolved is None:
            return []
        # Only the embedded default, not started yet (the session is built on first use).
        return [_embedded_line(name, resolved.pg_bin) for name in resolved.databases]
    resolved = session.settings
    lines = []
    for handle in session.handles.values():
        # Databases named explicitly are reached now, so a wrong URL shows up before the first
        # test; the implicit embedded default starts only if a test asks for it.
        explicit = not (handle.name == "default" and resolved.databases_source == "default")
        lines.append(_header_line(handle, prepare=explicit and handle.kind == "url"))
    return lines


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session: CdcSession | None = config.stash.get(SESSION_KEY, None)
    if session is None:
        return
    for handle in session.handles.values():
        if handle.ready_seconds is not None and handle.kind != "url" and handle.dialect:
            version = handle.server_version.split(" (")[0]
            terminalreporter.write_line(
                f"cdc: {handle.name} = {handle.describe()}: {handle.dialect.display_name}"
                f" {version}, ready in {handle.ready_seconds:.2f} s"
            )
        if handle.embedded is not None and handle.embedded.keep:
            hint = handle.embedded.connect_hint()
            terminalreporter.write_line(
                f"cdc: kept the embedded PostgreSQL {handle.name!r}: {hint}"
            )


@pytest.hookimpl(trylast=True)
def pytest_cdc_load_schema(handle: DatabaseHandle, connection: Any, path: str) -> bool | None:
    from pytest_cdc.session import load_script

    load_script(handle, connection, path)
    return True
