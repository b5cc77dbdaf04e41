"""Passwords never shown: the one masking function every message, header, report and log
line goes through.  It imports nothing of pytest-cdc, so anything may use it."""

from __future__ import annotations

import re

_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<rest>\S*)", re.I)
_HOST_PORT = re.compile(r"^[^:@]*:[0-9]*$")
_AT_HOST = re.compile(r"@[^@&]*[:/]")
_PASSWORD_KV = re.compile(
    r"(?P<head>\b(?:password|pwd)\s*=\s*)(?P<pw>'[^']*'|\"[^\"]*\"|\{(?:[^}]|\}\})*\}|[^;\s]*)",
    re.I,
)

MASK = "***"
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
