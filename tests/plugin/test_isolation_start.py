"""What a test starts from, by isolation, on a server given by URL (issue 17).

Decided: the template is what ``--cdc-load`` builds, on every kind of database.  Without a
load file a server's ``database``-isolated test gets an empty database, while a rollback test
uses the URL's own database as it is (copying a live database would need everyone else
disconnected from it, and all of its data copied for every test).  The report header says
so for each such database, and README.md's isolation section too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import masked_server_url, server_dsn, server_url
from throwaway_helpers import server, token

URL = server_url()

TESTS = """
import pytest

def test_rollback_sees_the_real_table(cdc_db):
    assert cdc_db.fetchval("select to_regclass('{table}') is not null")

@pytest.mark.cdc(isolation="database")
def test_database_isolation_starts_from_the_template(cdc_db):
    assert cdc_db.fetchval("select to_regclass('{table}') is null")
"""


@pytest.fixture
def table() -> Iterator[str]:
    """A committed table in the URL's database, as a project's own tables are."""
    name = f"real_{token()}"
    conn = server(URL)
    with conn.cursor() as cur:
        cur.execute(f"create table {name} (id int)")
    yield name
    with conn.cursor() as cur:
        cur.execute(f"drop table {name}")
    conn.close()


def test_without_load_file_the_header_says_what_each_isolation_gets(
    pytester: pytest.Pytester, table: str
) -> None:
    pytester.makepyfile(TESTS.format(table=table))
    result = pytester.runpytest(f"--cdc-db={URL}")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            f"cdc: default = {masked_server_url()}: PostgreSQL *, ready in *;"
            f" rollback tests use database {server_dsn()['dbname']!r} as it is,"
            ' isolation="database" tests get an'
            " empty one (no --cdc-load)*"  # (and what it swept, if another test left some)
        ]
    )


def test_with_a_load_file_both_start_from_its_template(
    pytester: pytest.Pytester, table: str
) -> None:
    schema = pytester.makefile(".sql", schema="create table seeded (id int);")
    pytester.makepyfile(
        test_both=f"""
        import pytest

        def test_rollback(cdc_db):
            assert cdc_db.fetchval("select to_regclass('seeded') is not null")
            assert cdc_db.fetchval("select to_regclass('{table}') is null")

        @pytest.mark.cdc(isolation="database")
        def test_database(cdc_db):
            assert cdc_db.fetchval("select to_regclass('seeded') is not null")
            assert cdc_db.fetchval("select to_regclass('{table}') is null")
        """
    )
    result = pytester.runpytest(f"--cdc-db={URL}", f"--cdc-load={schema}")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        # (and what it swept, if another test's killed session left databases on the server)
        ["cdc: default = *: PostgreSQL *; tests start from a template of schema.sql (built)*"]
    )
