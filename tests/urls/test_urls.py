from __future__ import annotations

import pytest

from pytest_cdc.dialects import default_registry, get_dialect, parse_url
from pytest_cdc.dialects.base import split_qualified
from pytest_cdc.errors import UnsupportedDialect, UrlError
from pytest_cdc.urls import mask_password, split_spec


@pytest.mark.parametrize(
    ("spec", "name", "url"),
    [
        ("postgresql://u@h/db", "default", "postgresql://u@h/db"),
        ("source=mssql://sa:pw@h:1433/erp", "source", "mssql://sa:pw@h:1433/erp"),
        ("target=postgresql://app@pg/erp", "target", "postgresql://app@pg/erp"),
        ("embedded", "default", "embedded"),
        ("docker:postgres:16", "default", "docker:postgres:16"),
        ("x=docker:mssql", "x", "docker:mssql"),
        (
            "postgresql://u@h/db?options=-csearch_path=a",
            "default",
            "postgresql://u@h/db?options=-csearch_path=a",
        ),
    ],
)
def test_split_spec(spec: str, name: str, url: str) -> None:
    assert split_spec(spec) == (name, url)


def test_parse_postgres_url() -> None:
    url = parse_url("target=postgres://app:placeholder@pg.example:6543/erp?sslmode=disable")
    assert (url.name, url.scheme, url.host, url.port, url.user, url.password, url.database) == (
        "target",
        "postgres",
        "pg.example",
        6543,
        "app",
        "placeholder",
        "erp",
    )
    assert url.params == {"sslmode": "disable"}
    assert "placeholder" not in str(url) and "placeholder" not in repr(url)
    assert url.masked == "postgres://app:***@pg.example:6543/erp?sslmode=disable"


def test_socket_url_needs_no_host() -> None:
    url = parse_url("postgresql://postgres@/postgres?host=/tmp/x&port=5432")
    assert url.host is None and url.params["host"] == "/tmp/x"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("mysql://root@h/db", "unknown scheme 'mysql'"),
        ("postgresq://u@h/db", "did you mean 'postgresql'?"),
        ("postgresql:///db", "no host"),
        ("postgresql://u@h:99999/db", "bad port"),
        ("postgresql://u@h:abc/db", "bad port"),
        ("just-a-name", "is not a URL"),
        ("docker:oracle", "unknown docker image 'oracle'"),
        ("a=", "empty URL"),
    ],
)
def test_bad_urls_have_clear_messages(spec: str, message: str) -> None:
    with pytest.raises(UrlError, match=message.replace("?", r"\?")) as info:
        parse_url(spec)
    assert "\n" not in str(info.value)


def test_bad_url_message_masks_password() -> None:
    with pytest.raises(UrlError) as info:
        parse_url("mysql://root:placeholder22@h/db")
    assert "placeholder22" not in str(info.value)
    assert "root:***@h" in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        ("mssql://sa:p%40ss@h:1433/x", "mssql://sa:***@h:1433/x"),
        ("DRIVER={x};UID=sa;PWD={a;b}}};SERVER=h", "DRIVER={x};UID=sa;PWD=***;SERVER=h"),
        ("host=h password='x y' user=u", "host=h password=*** user=u"),
        ("no secrets here", "no secrets here"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
    ],
)
def test_mask_password(text: str, expected: str) -> None:
    assert mask_password(text) == expected


def test_mssql_connection_string_has_default_driver_and_odbc_keywords() -> None:
    url = parse_url(
        "mssql://sa:place;hold}er@db.local:1433/erp?TrustServerCertificate=yes&Encrypt=no"
    )
    connector = get_dialect("mssql").connector(url)
    cs = connector.connection_string  # type: ignore[attr-defined]
    assert cs.startswith("DRIVER={ODBC Driver 18 for SQL Server};SERVER=db.local,1433;DATABASE=erp")
    assert "UID=sa" in cs and "PWD={place;hold}}er}" in cs
    assert "TrustServerCertificate=yes" in cs and "Encrypt=no" in cs
    assert "place;hold" not in connector.describe()


def test_mssql_driver_query_parameter() -> None:
    # FreeTDS takes SERVER=host;PORT=port (Microsoft's drivers take SERVER=host,port, which
    # FreeTDS reads as a host name) and needs a TDS version SQL Server 2012+ speaks.
    url = parse_url("mssql://sa@h/erp?driver=FreeTDS")
    cs = get_dialect("mssql").connector(url).connection_string  # type: ignore[attr-defined]
    assert cs.startswith("DRIVER=FreeTDS;SERVER=h;PORT=1433;TDS_Version=7.4;DATABASE=erp")
    url = parse_url("mssql://sa@h:2000/erp?driver=FreeTDS&TDS_Version=8.0")
    cs = get_dialect("mssql").connector(url).connection_string  # type: ignore[attr-defined]
    assert "PORT=2000;" in cs and cs.count("TDS_Version") == 1 and cs.endswith("TDS_Version=8.0")


def test_quoting_doubles_the_closing_quote() -> None:
    assert get_dialect("postgresql").quote_table('we"ird.t;drop') == '"we""ird"."t;drop"'
    assert get_dialect("mssql").quote_table("dbo.we]ird") == "[dbo].[we]]ird]"
    assert get_dialect("mssql").quote_table("[dbo].[x]]y]") == "[dbo].[x]]y]"
    assert split_qualified('"a.b".c') == ["a.b", "c"]
    with pytest.raises(ValueError, match="bad qualified name"):
        split_qualified("a..b")


def test_unknown_dialect_suggests() -> None:
    with pytest.raises(UnsupportedDialect, match="did you mean 'postgresql'"):
        default_registry().get("postgresq")
