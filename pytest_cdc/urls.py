"""Database URLs: parse ``[NAME=]URL`` specs and show them without their password."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from pytest_cdc.errors import UrlError, did_you_mean

if TYPE_CHECKING:
    from urllib.parse import SplitResult

DEFAULT_NAME = "default"

# A name is what tests use in markers and cdc_connect(); keep it to identifier-ish characters
# so that "postgresql://..." is never mistaken for "NAME=".
_NAME = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)=(?P<url>.*)$", re.S)
_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<rest>\S*)", re.I)
_HOST_PORT = re.compile(r"^[^:@]*:[0-9]*$")
_AT_HOST = re.compile(r"@[^@&]*[:/]")
_PASSWORD_KV = re.compile(
    r"(?P<head>\b(?:password|pwd)\s*=\s*)(?P<pw>'[^']*'|\"[^\"]*\"|\{(?:[^}]|\}\})*\}|[^;\s]*)",
    re.I,
)

MASK = "***"
_BUILTIN_SCHEMES = {
    s: s for s in ("postgresql", "postgres", "postgresql+odbc", "mssql", "sqlserver")
}
#: Passwords seen in parsed URLs.  A driver may echo one in a message (libpq quotes a bad
#: percent-escape, for instance), so every masked text is also scrubbed of these.  Short ones
#: are left alone: masking every "pw" in a message would garble it and protect nothing.
_SECRETS: set[str] = set()
_MIN_SECRET = 4


def remember_secret(secret: str | None) -> None:
    """Scrub ``secret`` from everything :func:`mask_password` masks from now on."""
    if secret and len(secret) >= _MIN_SECRET:
        _SECRETS.add(secret)


def mask_password(text: str) -> str:
    """Hide passwords in URLs (``user:pw@``), in ``password=``/``PWD=`` key-value strings, and
    any password pytest-cdc has parsed from a URL, wherever it appears."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL.sub(_mask_url, text)
    return _PASSWORD_KV.sub(lambda m: m["head"] + MASK, text)


def _cut_short(tail: str) -> bool:
    """Whether what follows the authority reads as the rest of a password: an ``@`` in the
    path, in a fragment, in the first query key, or one followed by a host-like ``:`` or
    ``/`` (a query *value* such as ``application_name=me@box`` may hold a plain one)."""
    path, _, query = tail.partition("?")
    path, hash_, _ = path.partition("#")
    first_key = query.split("&", 1)[0].split("=", 1)[0]
    return "@" in path or bool(hash_) or "@" in first_key or bool(_AT_HOST.search(tail))


def _mask_url(match: re.Match[str]) -> str:
    """``scheme://user:***@rest``.

    The password runs to the last ``@`` of the authority, so one holding ``@`` is hidden
    whole.  When the authority has no ``@`` but one comes later, a password holding ``/``,
    ``?`` or ``#`` (written unencoded) may have cut the authority short: everything up to the
    last ``@`` is hidden then, unless the authority reads as a plain ``host:port``.  Hiding too
    much of a URL is harmless; hiding too little prints part of a secret.
    """
    scheme, rest = match["scheme"], match["rest"]
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority = rest[:cut]
    if "@" in rest[cut:] and _cut_short(rest[cut:]):
        at = rest.rindex("@")
    elif "@" in authority:
        at = authority.rindex("@")
    elif "@" in rest and not _HOST_PORT.match(authority):
        at = rest.rindex("@")
    else:
        return match[0]
    user, colon, password = rest[:at].partition(":")
    if not colon:
        return match[0]
    return f"{scheme}{user}:{MASK if password else ''}{rest[at:]}"


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
    schemes: dict[str, str] | None = None,
    hostless: frozenset[str] = frozenset(),
) -> DatabaseURL:
    """Parse ``[NAME=]URL``.

    ``schemes`` maps URL schemes to canonical dialect names (from the dialect registry), so
    that a dialect registered by a third party gets its URLs parsed too; schemes in
    ``hostless`` (file-based engines) need no host.
    """
    spec_name, url = split_spec(spec)
    name = name or spec_name
    if not url:
        raise UrlError(f"database {name!r}: empty URL; pass --cdc-db=[NAME=]URL")
    lowered = url.lower()
    if lowered == "embedded":
        return DatabaseURL(name=name, scheme="embedded", raw="embedded")
    if lowered.startswith("docker:"):
        target = url.split(":", 1)[1]
        kind, _, tag = target.partition(":")
        if kind not in ("postgres", "postgresql", "mssql"):
            raise UrlError(
                f"database {name!r}: unknown docker image {kind!r} in {mask_password(url)!r};"
                " use docker:postgres[:TAG] or docker:mssql[:TAG]"
            )
        kind = "postgres" if kind.startswith("postgres") else "mssql"
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
    known = schemes if schemes is not None else _BUILTIN_SCHEMES
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
