"""``docker:postgres[:TAG]`` and ``docker:mssql[:TAG]`` databases, through testcontainers."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from pytest_cdc.errors import DatabaseUnavailable, first_line

POSTGRES_IMAGE = "postgres"
POSTGRES_TAG = "18"  # the newest major the suite runs on
MSSQL_IMAGE = "mcr.microsoft.com/mssql/server"
MSSQL_TAG = "2022-latest"


def start_container(spec: str, *, name: str) -> tuple[Any, str]:
    """Start the container for ``spec``; return it and a URL (with its random password)."""
    target = spec.split(":", 1)[1]
    kind, _, tag = target.partition(":")
    try:
        if kind.startswith("postgres"):
            from testcontainers.postgres import PostgresContainer

            password = secrets.token_urlsafe(16)
            pg = PostgresContainer(
                f"{POSTGRES_IMAGE}:{tag or POSTGRES_TAG}",
                username="postgres",
                password=password,
                dbname="postgres",
                driver=None,
            )
            pg.start()
            host, port = pg.get_container_host_ip(), pg.get_exposed_port(5432)
            return pg, f"postgresql://postgres:{quote(password)}@{host}:{port}/postgres"
        from testcontainers.mssql import SqlServerContainer

        # SQL Server insists on a complex password: upper, lower, digit and symbol.
        password = "Cdc!" + secrets.token_hex(12) + "a"
        ms = SqlServerContainer(f"{MSSQL_IMAGE}:{tag or MSSQL_TAG}", password=password)
        ms.start()
        host, port = ms.get_container_host_ip(), ms.get_exposed_port(1433)
        return ms, (
            f"mssql://sa:{quote(password)}@{host}:{port}/master"
            "?TrustServerCertificate=yes&Encrypt=no"
        )
    except ImportError:
        raise DatabaseUnavailable(
            f"database {name!r}: {spec} needs testcontainers: pip install 'pytest-cdc[docker]'"
        ) from None
    except Exception as exc:
        first = first_line(exc)
        raise DatabaseUnavailable(
            f"database {name!r}: cannot start {spec}: {first}; is a Docker engine running?"
        ) from None
