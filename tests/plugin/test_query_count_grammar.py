"""``cdc_assert_num_queries`` counts in English (issue 17: "expected 1 queries")."""

from __future__ import annotations

import pytest

TESTS = """
def test_one_expected_two_run(cdc_db, cdc_assert_num_queries):
    with cdc_assert_num_queries(1):
        cdc_db.execute("select 1")
        cdc_db.execute("select 2")

def test_two_expected_one_run(cdc_db, cdc_assert_num_queries):
    with cdc_assert_num_queries(2):
        cdc_db.execute("select 1")

def test_at_most_one(cdc_db, cdc_assert_max_num_queries):
    with cdc_assert_max_num_queries(1, database="default"):
        cdc_db.execute("select 1")
        cdc_db.execute("select 2")
"""


def test_singular_and_plural(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*expected 1 query but 2 were run (add -v to show them)*",
            "*expected 2 queries but 1 was run (add -v to show them)*",
            "*expected at most 1 query on 'default' but 2 were run*",
        ]
    )
