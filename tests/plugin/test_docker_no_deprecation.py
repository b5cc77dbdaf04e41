"""``docker:postgres`` (and ``docker:mssql``) take testcontainers' classes from where its
release keeps them (issue 17: ``testcontainers.postgres`` emits a DeprecationWarning on import,
which ``-W error`` turns into a failure).  There is no Docker engine here: these tests go as
far as testcontainers gets without one."""

from __future__ import annotations

import warnings

import pytest

from pytest_cdc.dialects.mssql import SqlServerDialect
from pytest_cdc.dialects.postgres import PostgresDialect

pytest.importorskip("testcontainers")


@pytest.mark.parametrize("dialect", [PostgresDialect(), SqlServerDialect()], ids=str)
def test_starting_a_container_warns_of_nothing(dialect: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        with pytest.raises(Exception) as raised:  # no Docker engine: the client cannot connect
            dialect.start_container("18")  # type: ignore[attr-defined]
    assert not isinstance(raised.value, DeprecationWarning), raised.value


def test_through_the_plugin_with_warnings_as_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(cdc_connect): cdc_connect('box')")
    result = pytester.runpytest_subprocess(
        "-W", "error::DeprecationWarning", "--cdc-db=box=docker:postgres"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*database 'box': cannot start docker:postgres: *; is a Docker engine running?"]
    )
    assert "deprecated" not in result.stdout.str()
