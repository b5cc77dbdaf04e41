"""Profiles and allow-lists: names, patterns with modifier ranges, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from schema_helpers import mssql_column, pg_column

from pytest_cdc.dialects.mssql import catalog as catalog_mssql
from pytest_cdc.dialects.postgres import catalog as catalog_postgres
from pytest_cdc.errors import ConfigError
from pytest_cdc.schema.compare import check_profile
from pytest_cdc.schema.profiles import (
    PROFILES,
    Expectations,
    TypePattern,
    allow_rules,
    check_names,
    get_profile,
    load_allow_list,
)

MS, PG = catalog_mssql.READER, catalog_postgres.READER


def ms(declared: str) -> object:
    return catalog_mssql.domain(mssql_column(declared))


def pg(declared: str) -> object:
    return catalog_postgres.domain(pg_column(declared))


def test_profile_typo_names_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"unknown profile 'pgloder' \(did you mean 'pgloader'"):
        get_profile("pgloder")
    assert get_profile(" DMS ").name == "dms"


def test_profiles_fit_their_engines() -> None:
    check_profile(PROFILES["debezium"], "mssql", "postgresql")
    check_profile(PROFILES["identity"], "postgresql", "postgresql")
    with pytest.raises(ConfigError, match="describes postgresql -> postgresql pipelines"):
        check_profile(PROFILES["identity"], "mssql", "postgresql")


def test_every_profile_cites_its_sources() -> None:
    for profile in PROFILES.values():
        assert profile.identity or profile.sources, profile.name


@pytest.mark.parametrize(
    ("pattern", "declared", "matches"),
    [
        ("datetime2(0-6)", "datetime2(6)", True),
        ("datetime2(0-6)", "datetime2(7)", False),
        ("decimal(1-18,0-4)", "decimal(18,4)", True),
        ("decimal(1-18,0-4)", "decimal(19,4)", False),
        ("decimal(1-18, 0-4)", "numeric(18,4)", False),  # another type name
        ("nvarchar(max)", "nvarchar(max)", True),
        ("nvarchar(max)", "nvarchar(4000)", False),
        ("nvarchar(*)", "nvarchar(max)", True),
        ("NVARCHAR", "nvarchar(20)", True),
        ("rowversion", "rowversion", True),
        ("integer", "int", True),  # a pattern may use another spelling
    ],
)
def test_sql_server_patterns(pattern: str, declared: str, matches: bool) -> None:
    assert TypePattern.parse(pattern).matches(ms(declared), MS) is matches


@pytest.mark.parametrize(
    ("pattern", "declared", "matches"),
    [
        ("timestamp(6)", "timestamp", True),  # no typmod keeps 6 digits
        ("timestamp without time zone", "timestamp(3)", True),
        ("timestamp(6) with time zone", "timestamptz", True),
        ("character varying(10-20)", "varchar(15)", True),
        ("int4", "integer", True),
        ("numeric(19-38,4)", "numeric(19,4)", True),
        ("numeric(19-38,4)", "numeric(19,2)", False),
    ],
)
def test_postgres_patterns(pattern: str, declared: str, matches: bool) -> None:
    assert TypePattern.parse(pattern).matches(pg(declared), PG) is matches


@pytest.mark.parametrize("bad", ["", "int(", "decimal(a,b)", "varchar(9-1)"])
def test_bad_patterns(bad: str) -> None:
    with pytest.raises(ValueError):
        TypePattern.parse(bad)


def test_allow_list_overrides_the_verdict_and_the_profile_expectation(tmp_path: Path) -> None:
    path = tmp_path / "allow.toml"
    path.write_text(
        '[[allow]]\nsource = "datetime2(7)"\ntarget = "timestamp(3)"\n'
        'verdict = "representation"\nwhy = "ms is enough"\n'
    )
    rules = load_allow_list(path)
    expect = Expectations(PROFILES["dms"], rules)
    src, dst = ms("datetime2(7)"), pg("timestamp(3)")
    accepted = expect.override(src, dst, MS, PG)
    assert accepted is not None and accepted.origin == str(path)
    # The allow-list replaces what the profile says the pipeline creates for that type...
    assert expect.expected(src, MS) == (("timestamp(3)",), str(path))
    # ...and leaves the profile in charge of every other type.
    assert expect.expected(ms("datetime2(3)"), MS) == (("timestamp(3)",), "profile dms")
    assert expect.expected(ms("bit"), MS) == (("numeric(1,0)", "boolean"), "profile dms")
    assert expect.override(ms("datetime2(6)"), dst, MS, PG) is None


def test_allow_list_file_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "allow.toml"
    path.write_text('[[alow]]\nsource = "int"\n')
    with pytest.raises(ConfigError, match=r"unknown key 'alow' \(did you mean 'allow'\?\)"):
        load_allow_list(path)
    path.write_text("[[allow]\n")
    with pytest.raises(ConfigError, match="invalid toml"):
        load_allow_list(path)


def test_unknown_sql_server_type_names_in_an_allow_list_are_errors() -> None:
    rules = allow_rules([{"source": "datetim2(7)", "target": "timestamp(6)"}], "allow.toml")
    with pytest.raises(
        ConfigError,
        match=r"'datetim2\(7\)' is not a source type \(did you mean"
        r" 'datetime2'\?\)",
    ):
        check_names(rules, MS, PG)
