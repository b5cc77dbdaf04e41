"""The plugin's settings as data: :class:`CdcSettings` and the helpers that read them.

Resolving them from the command line, the ini file and the environment (CLI > ini > env >
default, in one place) is the plugin layer's job: :mod:`pytest_cdc.plugin.options`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

ENV_DB = "PYTEST_CDC_DB"
ENV_PG_BIN = "PYTEST_CDC_PG_BIN"
ENV_KEEP = "PYTEST_CDC_KEEP"
ENV_LOAD = "PYTEST_CDC_LOAD"
ENV_REUSE_DB = "PYTEST_CDC_REUSE_DB"
ISOLATIONS = ("rollback", "database")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class CdcSettings:
    #: name -> URL spec, in the order given.
    databases: dict[str, str] = field(default_factory=dict)
    #: where the database list came from: "cli", "ini", "env" or "default".
    databases_source: str = "default"
    pg_bin: str | None = None
    keep: bool = False
    #: Files loaded into the template of every database (``--cdc-load FILE``).
    load: tuple[str, ...] = ()
    #: Files loaded into one database's template only (``--cdc-load NAME=FILE``), by name.
    load_by_db: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Keep templates on servers between sessions (``--cdc-reuse-db``).
    reuse_db: bool = False

    def load_files(self, name: str) -> tuple[str, ...]:
        """What database ``name``'s template is built from: the files for every database
        first, then its own, each in the order given."""
        return self.load + self.load_by_db.get(name, ())

    @property
    def all_load_files(self) -> tuple[str, ...]:
        return self.load + tuple(f for files in self.load_by_db.values() for f in files)

    def __repr__(self) -> str:
        from pytest_cdc.urls import mask_password

        dbs = {name: mask_password(url) for name, url in self.databases.items()}
        return (
            f"CdcSettings(databases={dbs!r}, databases_source={self.databases_source!r},"
            f" pg_bin={self.pg_bin!r}, keep={self.keep!r}, load={self.load!r},"
            f" load_by_db={self.load_by_db!r}, reuse_db={self.reuse_db!r})"
        )


def env_list(value: str | None) -> list[str]:
    if not value:
        return []
    # URLs never contain blanks (they are percent-encoded), so whitespace separates them.
    return value.split()


def env_bool(name: str, value: str | None) -> bool | None:
    from pytest_cdc.errors import ConfigError

    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean; use 1/0, true/false, yes/no")


def databases_from(specs: list[str]) -> dict[str, str]:
    from pytest_cdc.errors import ConfigError
    from pytest_cdc.urls import DEFAULT_NAME, split_spec

    found: dict[str, str] = {}
    for spec in specs:
        name, url = split_spec(spec)
        if name in found:
            raise ConfigError(
                f"database {name!r} is given twice; give each NAME=URL once"
                + (" (a bare URL is the 'default' database)" if name == DEFAULT_NAME else "")
            )
        found[name] = url
    return found


def loads_from(
    items: list[str], databases: dict[str, str], *, resolve: Callable[[str], str]
) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """Split ``--cdc-load`` items into files for every database and ``NAME=FILE`` files for
    one (``resolve`` makes a path absolute).  An item that is an existing file as a whole is
    a file even if it holds a ``=``; ``NAME`` must be a configured database."""
    import re

    from pytest_cdc.errors import ConfigError, did_you_mean

    everywhere: list[str] = []
    by_db: dict[str, list[str]] = {}
    for item in items:
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_\-]*)\s*=\s*(.+)$", item.strip())
        if match is None or os.path.isfile(resolve(item)):
            everywhere.append(resolve(item))
            continue
        name, path = match[1], match[2].strip()
        if name not in databases:
            raise ConfigError(
                f"--cdc-load {item!r} names database {name!r}, which is not configured"
                f"{did_you_mean(name, databases)}; configured: {', '.join(databases)}"
            )
        by_db.setdefault(name, []).append(resolve(path))
    return tuple(everywhere), {name: tuple(files) for name, files in by_db.items()}
