"""Database URLs: parse ``[NAME=]URL`` specs and show them without their password."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from pytest_cdc.errors import UrlError, did_you_mean
from pytest_cdc.masking import mask_password, remember_secret

__all__ = ["DEFAULT_NAME", "DatabaseURL", "mask_password", "parse_url", "split_spec"]

if TYPE_CHECKING:
    from urllib.parse import SplitResult

DEFAULT_NAME = "default"

# A name is what tests use in markers and cdc_connect(); keep it to identifier-ish characters
# so that "postgresql://..." is never mistaken for "NAME=".
_NAME = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)=(?P<url>.*)$", re.S)


@dataclass(frozen=True)
class DatabaseURL:
    """One parsed database URL.  ``str()`` and ``repr()`` never show the password."""

    name: str
    scheme: str
    raw: str = field(repr=False)
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    query: tuple[tuple[str, str], ...] = ()
    # For "docker:postgres:16" style specs: the image kind and tag.
    target: str | None = None

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)

    @property
    def path(self) -> str:
        """The URL's path, decoded (``sqlite:////abs/app.db`` -> ``//abs/app.db``)."""
        from urllib.parse import unquote, urlsplit

        return unquote(urlsplit(self.raw).path)

    @property
    def masked(self) -> str:
        return mask_password(self.raw)

    def __str__(self) -> str:
        return self.masked

    def with_database(self, database: str) -> DatabaseURL:
        """The same server, another database (used for per-test clones)."""
        from urllib.parse import urlsplit

        parts = urlsplit(self.raw)
        raw = parts._replace(path="/" + database).geturl()
        return DatabaseURL(
            name=self.name,
            scheme=self.scheme,
            raw=raw,
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database,
            query=self.query,
            target=self.target,
        )


def split_spec(spec: str) -> tuple[str, str]:
    """``"source=mssql://..."`` -> ``("source", "mssql://...")``; a bare URL is the default."""
    spec = spec.strip()
    m = _NAME.match(spec)
    if m and "://" not in m["name"] and not spec.lower().startswith(("docker:", "embedded")):
        return m["name"], m["url"].strip()
    return DEFAULT_NAME, spec


def parse_url(
    spec: str,
    *,
    name: str | None = None,
    schemes: Mapping[str, str],
    hostless: frozenset[str] = frozenset(),
    docker_kinds: Mapping[str, str] | None = None,
) -> DatabaseURL:
    """Parse ``[NAME=]URL``: use :meth:`pytest_cdc.dialects.DialectRegistry.parse`, which
    passes what the registered dialects serve.

    ``schemes`` maps URL schemes to the scheme they are read as, so that a dialect registered
    by a third party gets its URLs parsed too; schemes in ``hostless`` (file-based engines)
    need no host; ``docker_kinds`` maps the words of ``docker:KIND[:TAG]`` to dialect names.
    """
    spec_name, url = split_spec(spec)
    name = name or spec_name
    if not url:
        raise UrlError(f"database {name!r}: empty URL; pass --cdc-db=[NAME=]URL")
    lowered = url.lower()
    if lowered == "embedded":
        return DatabaseURL(name=name, scheme="embedded", raw="embedded")
    if lowered.startswith("docker:"):
        kinds = docker_kinds or {}
        kind, _, tag = url.split(":", 1)[1].partition(":")
        if kind.lower() not in kinds:
            hint = did_you_mean(kind.lower(), kinds)
            shown = " or ".join(f"docker:{k}[:TAG]" for k in sorted(set(kinds.values())))
            raise UrlError(
                f"database {name!r}: unknown docker image {kind!r}{hint} in"
                f" {mask_password(url)!r}; use {shown or 'a server URL'}"
            )
        kind = kinds[kind.lower()]
        return DatabaseURL(
            name=name, scheme="docker", raw=url, target=f"{kind}:{tag}" if tag else kind
        )
    if "://" not in url:
        raise UrlError(
            f"database {name!r}: {mask_password(url)!r} is not a URL; expected"
            " postgresql://USER@HOST:PORT/DB, mssql://USER:PASSWORD@HOST:PORT/DB, embedded"
            " or docker:postgres"
        )
    from urllib.parse import parse_qsl, unquote, urlsplit

    if any(ch.isspace() for ch in url):
        # Not even masked: where a blank cuts it, nothing tells the password from the rest.
        scheme = url.split("://", 1)[0]
        raise UrlError(
            f"database {name!r}: the {scheme}:// URL holds a blank: percent-encode blanks in"
            " the user name and password (%20)"
        )

    try:
        parts = urlsplit(url)
        parts.hostname  # noqa: B018 - checks a bracketed (IPv6) host
    except ValueError:
        # Brackets enclose an IPv6 host; anywhere else (a password holding "[") the URL
        # cannot be read.
        raise UrlError(
            f"database {name!r}: cannot read {mask_password(url)!r}: percent-encode '[' and"
            " ']' in the user name and password (%5B, %5D); brackets enclose an IPv6 host only"
        ) from None
    scheme = parts.scheme.lower()
    known = schemes
    if scheme not in known:
        hint = did_you_mean(scheme, known)
        raise UrlError(
            f"database {name!r}: unknown scheme {scheme!r}{hint} in {mask_password(url)!r};"
            f" known: {', '.join(sorted(known))}"
        )
    _check_authority(name, url, parts)
    try:
        port = parts.port
    except ValueError:
        raise UrlError(
            f"database {name!r}: bad port in {mask_password(url)!r}; use a number from 1 to 65535"
        ) from None
    if port == 0:
        raise UrlError(f"database {name!r}: bad port 0 in {mask_password(url)!r}")
    host = unquote(parts.hostname) if parts.hostname else None
    query = tuple(parse_qsl(parts.query, keep_blank_values=True))
    # PostgreSQL accepts ?host=/path/to/socket instead of a network location (libpq style).
    if host is None and scheme not in hostless and not any(k == "host" for k, _ in query):
        raise UrlError(
            f"database {name!r}: no host in {mask_password(url)!r}; write"
            f" {scheme}://USER@HOST:PORT/DATABASE"
        )
    database = unquote(parts.path.lstrip("/")) or None
    password = unquote(parts.password) if parts.password is not None else None
    remember_secret(password)
    remember_secret(parts.password)
    return DatabaseURL(
        name=name,
        scheme=known[scheme],
        raw=url,
        host=host,
        port=port,
        user=unquote(parts.username) if parts.username else None,
        password=password,
        database=database,
        query=query,
    )


def _check_authority(name: str, url: str, parts: SplitResult) -> None:
    """Refuse URLs whose user name or password holds an unencoded ``/``, ``?`` or ``#``.

    The authority ends at the first of those, so such a password would be read as a port, a
    path or a query, and the driver's error would quote part of it.  An ``@`` (also unencoded)
    is fine: the authority is split at its last ``@``, as every URL parser does.
    """
    misplaced = (
        "@" not in parts.netloc
        and "@" in url.split("://", 1)[1]
        and (
            "@" in parts.path
            or any("@" in key for key in parse_qs(parts.query, keep_blank_values=True))
            or _bad_port(parts)
        )
    )
    if misplaced or parts.fragment:
        raise UrlError(
            f"database {name!r}: cannot tell the password from the host in"
            f" {mask_password(url)!r}: percent-encode '/', '?', '#', '[', ']' and '%' in the"
            " user name and password (%2F, %3F, %23, %5B, %5D, %25)"
        )


def _bad_port(parts: SplitResult) -> bool:
    try:
        parts.port  # noqa: B018 - the property raises for a non-numeric port
    except ValueError:
        return True
    return False
