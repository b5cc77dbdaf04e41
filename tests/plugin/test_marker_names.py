"""Misspelt names in ``@pytest.mark.cdc`` are errors naming the closest valid one (issue 17:
``db="taget"`` ran on the default database without a word; ``isolation="databse"`` said no
more than what the valid values are)."""

from __future__ import annotations

import pytest


def _run(pytester: pytest.Pytester, marker: str) -> pytest.RunResult:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.cdc({marker})
        def test_x(cdc_db, cdc_connect):
            cdc_connect("target")
        """
    )
    return pytester.runpytest("--cdc-db=target=embedded")


def test_unknown_database_is_an_error_with_did_you_mean(pytester: pytest.Pytester) -> None:
    result = _run(pytester, 'db="taget", isolation="database"')
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.cdc(db='taget'): no database named 'taget' (did you mean 'target'?);"
            " configured: default, target*"
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_unknown_database_in_a_list(pytester: pytest.Pytester) -> None:
    result = _run(pytester, 'db=["target", "defualt"], isolation="database"')
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no database named 'defualt' (did you mean 'default'?)*"])


def test_misspelt_isolation_says_which_was_meant(pytester: pytest.Pytester) -> None:
    result = _run(pytester, 'isolation="databse"')
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*isolation='databse'* is not one of rollback, database (did you mean 'database'?)*"]
    )


def test_misspelt_argument_says_which_was_meant(pytester: pytest.Pytester) -> None:
    result = _run(pytester, 'isolaton="database"')
    result.assert_outcomes(errors=1)
    assert (
        "@pytest.mark.cdc got unknown argument(s) ['isolaton'] (did you mean 'isolation'?);"
        " use db=, isolation=" in result.stdout.str()
    )


def test_valid_names_still_pass(pytester: pytest.Pytester) -> None:
    result = _run(pytester, 'db=["target"], isolation="database"')
    result.assert_outcomes(passed=1)


def test_a_database_this_run_lacks_still_skips(pytester: pytest.Pytester) -> None:
    """Names are checked when the test asks for a connection: a test of an optional database
    skips first when the run does not configure it."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.cdc(db="target", isolation="database")
        def test_x(cdc_target): pass
        """
    )
    pytester.runpytest().assert_outcomes(skipped=1)
