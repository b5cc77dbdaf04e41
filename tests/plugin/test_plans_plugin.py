"""The cdc_no_table_scan marker and the cdc_queries fixtures, run through pytester."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_cdc.plugin.queries import checked_statement

CONFTEST = """
pytest_plugins = ["pytest_cdc.plugin.queries"]
import pytest

@pytest.fixture
def items(cdc_db):
    cdc_db.execute("CREATE TABLE items (id int PRIMARY KEY, sku text, qty int)")
    cdc_db.execute("INSERT INTO items SELECT g, 'sku' || g, g FROM generate_series(1, 20) g")
    return cdc_db
"""


@pytest.fixture
def pt(
    pytester: pytest.Pytester, cdc_databases: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """A pytester whose runs use this session's database instead of starting their own."""
    url = cdc_databases["default"].prepare().url
    assert url is not None
    monkeypatch.setenv("PYTEST_CDC_DB", url.raw)
    pytester.makeconftest(CONFTEST)
    return pytester


def test_marker_fails_on_any_scanning_statement(pt: pytest.Pytester) -> None:
    pt.makepyfile(
        """
        import pytest

        @pytest.mark.cdc_no_table_scan
        def test_lookup_then_scan(items):
            items.fetchone("SELECT * FROM items WHERE id = %s", (3,))
            items.fetchall("SELECT * FROM items WHERE sku = %s", ("sku3",))
        """
    )
    result = pt.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*cdc_no_table_scan: 1 of 2 checked statements scan a table*",
            "*table scan: Seq Scan on items (no index can serve it)*",
            ">> Seq Scan on items*",
            '*CREATE INDEX CONCURRENTLY IF NOT EXISTS "ix_items_sku" ON "items" ("sku")*',
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_marker_passes_when_indexed_and_skips_ddl_inserts_and_tableless(
    pt: pytest.Pytester,
) -> None:
    pt.makepyfile(
        """
        import pytest

        @pytest.mark.cdc_no_table_scan
        def test_ok(items):
            items.execute("CREATE INDEX ix_items_sku ON items (sku)")
            items.execute("INSERT INTO items VALUES (100, 'x', 1)")
            assert items.fetchval("SELECT 1") == 1
            items.execute("UPDATE items SET qty = qty + 1 WHERE sku = %s", ("x",))
            items.execute("DELETE FROM items WHERE id = %s", (100,))
        """
    )
    pt.runpytest().assert_outcomes(passed=1)


def test_marker_allow_and_mode(pt: pytest.Pytester) -> None:
    pt.makepyfile(
        """
        import pytest

        @pytest.mark.cdc_no_table_scan(allow=["items"])
        def test_allowed(items):
            items.fetchall("SELECT * FROM items WHERE qty > 3")

        @pytest.mark.cdc_no_table_scan(mode="planner")
        def test_planner_mode(items):
            # no statistics on a 20-row table: the planner scans although the pkey could serve
            items.execute("ANALYZE items")
            items.fetchall("SELECT * FROM items WHERE id > 0")

        @pytest.mark.cdc_no_table_scan(mode="sometimes")
        def test_bad_mode(items):
            pass
        """
    )
    result = pt.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*the planner chose it with current statistics*",
            "*unknown plan mode 'sometimes'*",
        ]
    )


def test_marker_warns_about_statements_it_cannot_explain(pt: pytest.Pytester) -> None:
    pt.makepyfile(
        """
        import pytest

        @pytest.mark.cdc_no_table_scan
        def test_two_statements(items):
            items.execute("SELECT 1 FROM items WHERE id = 1; SELECT 2")
        """
    )
    result = pt.runpytest()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*cdc_no_table_scan: could not explain 1 statement(s)*"])


def test_marker_without_cdc_connection_statements_passes(pt: pytest.Pytester) -> None:
    pt.makepyfile(
        """
        import pytest

        @pytest.mark.cdc_no_table_scan
        def test_nothing():
            assert True
        """
    )
    pt.runpytest("--strict-markers").assert_outcomes(passed=1)


def test_cdc_queries_records_and_counts(pt: pytest.Pytester) -> None:
    pt.makepyfile(
        """
        from pytest_cdc.plugin.queries import AssertNumQueries, CdcQueries

        def test_records(items, cdc_queries: CdcQueries):
            cdc_queries.clear()
            items.execute("SELECT * FROM items WHERE id = 1")
            items.fetchall("SELECT count(*) FROM items")
            assert cdc_queries.sql == [
                "SELECT * FROM items WHERE id = 1", "SELECT count(*) FROM items"]
            assert cdc_queries[0].database == "default"
            assert len(cdc_queries.on("other")) == 0

        def test_exact(items, cdc_assert_num_queries: AssertNumQueries):
            with cdc_assert_num_queries(2) as captured:
                items.execute("SELECT 1")
                items.execute("SELECT 2")
            assert len(captured) == 2

        def test_too_many(items, cdc_assert_num_queries: AssertNumQueries):
            with cdc_assert_num_queries(1, info="the report page"):
                items.execute("SELECT 1")
                items.execute("SELECT 2 AS second_query")

        def test_max(items, cdc_assert_max_num_queries: AssertNumQueries):
            with cdc_assert_max_num_queries(3):
                items.execute("SELECT 1")
        """
    )
    result = pt.runpytest()
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*expected 1 query but 2 were run (add -v to show them)*",
        ]
    )
    verbose = pt.runpytest("-v", "-k", "too_many")
    verbose.assert_outcomes(failed=1)
    verbose.stdout.fnmatch_lines(
        [
            "*expected 1 query but 2 were run*",
            "*the report page*",
            "*queries:*",
            "*1. [[]default[]] SELECT 1*",
            "*2. [[]default[]] SELECT 2 AS second_query*",
        ]
    )


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("SELECT * FROM t", "SELECT"),
        ("  -- comment\n/* block */ (select a from t)", "SELECT"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "WITH"),
        ("update t set a = 1", "UPDATE"),
        ("DELETE FROM t", "DELETE"),
        ("SELECT 1", None),
        ("SELECT now()", None),
        ("INSERT INTO t VALUES (1)", None),
        ("CREATE INDEX ix ON t (a)", None),
        ("SET LOCAL work_mem = '1MB'", None),
        ("", None),
    ],
)
def test_statement_kind(sql: str, kind: str | None) -> None:
    assert checked_statement(sql) == kind
