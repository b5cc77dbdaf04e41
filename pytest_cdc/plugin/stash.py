"""What the plugin keeps on the pytest config: the settings and the session, built on first
use.  Only the plugin layer touches pytest; :class:`~pytest_cdc.session.CdcSession` knows
nothing of it and is handed the hooks as plain callables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_cdc.session import CdcSession
    from pytest_cdc.settings import CdcSettings
    from pytest_cdc.sharing import SharedRun

#: The ``workerinput`` keys the xdist controller fills (pytest_cdc.plugin.xdist).
SHARED_INPUT = "cdc_shared"
CONTROLLER_INPUT = "cdc_controller_pid"

SESSION_KEY = pytest.StashKey["CdcSession"]()
SETTINGS_KEY = pytest.StashKey["CdcSettings"]()


def worker_id(config: pytest.Config) -> str:
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else "main"


def new_session(
    config: pytest.Config, settings: CdcSettings, *, shared: SharedRun | None = None
) -> CdcSession:
    """A session for ``settings`` whose dialects come from ``pytest_cdc_register_dialects``
    (raises CdcError on bad settings).  The registry they fill is the active one from then on
    (see :func:`pytest_cdc.dialects.activate`), so get_dialect() sees a third party's too.
    ``shared``: what this xdist worker's controller prepares for it."""
    from pytest_cdc.dialects import DialectRegistry, activate
    from pytest_cdc.session import CdcSession

    registry = DialectRegistry()
    config.hook.pytest_cdc_register_dialects(registry=registry)
    config.add_cleanup(activate(registry))
    return CdcSession(
        settings,
        registry,
        worker=worker_id(config),
        on_ready=lambda handle: config.hook.pytest_cdc_database_ready(
            name=handle.name, handle=handle
        ),
        loader=lambda handle, raw, path: config.hook.pytest_cdc_load_schema(
            handle=handle, connection=raw, path=path
        ),
        shared=shared,
    )


def shared_run(config: pytest.Config) -> SharedRun | None:
    """On an xdist worker: the databases its controller prepares (see pytest_cdc.sharing)."""
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    data = (workerinput or {}).get(SHARED_INPUT)
    if not data:
        return None
    from pytest_cdc.sharing import SharedRun

    return SharedRun.from_input(data)


def session_for(config: pytest.Config) -> CdcSession:
    """The session of this pytest run, built on first use from the resolved settings.

    Dialects are collected through ``pytest_cdc_register_dialects`` at this point, so a
    dialect from any conftest.py loaded by then is known.
    """
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        session = new_session(config, config.stash[SETTINGS_KEY], shared=shared_run(config))
        config.stash[SESSION_KEY] = session
    return session
