"""pytest-xdist: databases prepared once for all workers, and workers that never outlive them.

* The controller prepares the databases that were asked for (servers started, templates
  built) while xdist spawns the workers, and hands them over (:mod:`pytest_cdc.sharing`);
  each worker clones what it needs, so ``-n 2`` pays for one setup, not one per worker.
* A worker drops its databases in ``pytest_sessionfinish``, before xdist hears that it
  finished: from then on the controller may end it (after a few seconds execnet interrupts a
  worker still busy, and a teardown cut short left ``cdc_test_*`` databases behind).  The
  controller, last, drops whatever its workers left.
* A worker whose controller died (``kill -9``, a CI job cancelled) drops its databases, stops
  its servers and exits at once, instead of running on until its current test ends.

Every hook is optional: without xdist none of them runs, and nothing here imports xdist.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from pytest_cdc.errors import CdcError
from pytest_cdc.plugin.stash import (
    CONTROLLER_INPUT,
    SESSION_KEY,
    SETTINGS_KEY,
    SHARED_INPUT,
    session_for,
)

RUN_KEY = pytest.StashKey[Any]()
#: How often a worker looks for its controller, and how long it gives its own clean-up.
WATCH_INTERVAL = 0.2
ABANDON_SECONDS = 10.0


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """(controller) Start preparing the databases before xdist spawns the workers, and before
    the report header, which then says so."""
    config = session.config
    if config.pluginmanager.has_plugin("dsession"):
        try:
            import importlib

            workermanage = importlib.import_module("xdist.workermanage")
            specs: list[str] = workermanage.parse_tx_spec_config(config)
        except Exception:  # an xdist without it: pytest_xdist_setupnodes comes next
            return
        _share(config, local=all(_local(spec) for spec in specs))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config, specs: Sequence[Any]) -> None:
    """(controller) The latest moment to start preparing: before the workers are spawned."""
    local = all(getattr(spec, "popen", False) and not getattr(spec, "via", None) for spec in specs)
    _share(config, local=local)


def _local(spec: str) -> bool:
    # "popen", "popen//python=python3.12"; not "ssh=host", nor popen via another gateway
    return spec.split("//")[0].split("*")[-1] == "popen" and "via=" not in spec


def _share(config: pytest.Config, *, local: bool) -> None:
    if config.stash.get(RUN_KEY, None) is not None or config.stash.get(SETTINGS_KEY, None) is None:
        return
    # Servers the controller starts listen on a local socket, and records are local files:
    # workers on other hosts (ssh, socket gateways) prepare their own, as before.
    if not local:
        return
    try:
        session = session_for(config)
    except CdcError:
        return  # reported as a usage error already, or by the first test that asks
    names = session.shareable()
    if not names:
        return
    from pytest_cdc.sharing import SharedRun

    run = SharedRun.create(session.session_id, names)
    session.share(run)
    config.stash[RUN_KEY] = run


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """(controller) What each worker is told: who to watch, and what is prepared for it."""
    node.workerinput[CONTROLLER_INPUT] = os.getpid()
    run = node.config.stash.get(RUN_KEY, None)
    if run is not None:
        node.workerinput[SHARED_INPUT] = run.to_input()


def pytest_configure(config: pytest.Config) -> None:
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    controller = (workerinput or {}).get(CONTROLLER_INPUT)
    # Only a controller that is our parent can be watched this way (a local worker).
    if controller is not None and controller == os.getppid():
        threading.Thread(
            target=_watch, args=(config, int(controller)), name="cdc-watch", daemon=True
        ).start()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    # A worker's last word to the controller is sent right after this hook (xdist's own
    # implementation wraps it): drop the databases first.
    config = session.config
    if getattr(config, "workerinput", None) is None:
        return  # serial runs and the controller close in pytest_unconfigure
    cdc_session = config.stash.get(SESSION_KEY, None)
    if cdc_session is not None:
        with contextlib.suppress(Exception):
            cdc_session.close()


def _watch(config: pytest.Config, controller: int) -> None:
    while os.getppid() == controller:
        time.sleep(WATCH_INTERVAL)
    # The controller is gone (a worker is re-parented when its parent dies): nobody will
    # read this worker's results.  Clean up, bounded, from a thread of our own (the main
    # thread may hold the session's locks in the middle of a test), then leave.
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        cleanup = threading.Thread(target=session.abandon, name="cdc-abandon", daemon=True)
        cleanup.start()
        cleanup.join(ABANDON_SECONDS)
    os._exit(int(pytest.ExitCode.INTERRUPTED))
