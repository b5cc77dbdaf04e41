"""The exceptions pytest-cdc raises on purpose.

Every message is one line a person can act on: lower case, naming the object with ``!r``, and
saying what to do.  Anything that shows a database location goes through
:func:`pytest_cdc.urls.mask_password` first.
"""

from __future__ import annotations

from collections.abc import Iterable


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known``, or ``""`` when none is close."""
    from difflib import get_close_matches  # only on the way to an error message

    close = get_close_matches(word, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class CdcError(Exception):
    """Base class: an error pytest-cdc explains itself, shown without a traceback."""


class ConfigError(CdcError):
    """A setting (option, ini key, env var, pyproject table) is wrong."""


class UrlError(ConfigError):
    """A database URL cannot be understood."""


class DatabaseUnavailable(CdcError):
    """A configured database cannot be reached or started."""


class EmbeddedError(DatabaseUnavailable):
    """The embedded PostgreSQL could not be found, initialised or started."""


class UnsafeOperation(CdcError):
    """The plugin refused to touch something it does not own (a non-test database)."""


class UnsupportedDialect(CdcError):
    """The operation is not available for this database dialect."""
