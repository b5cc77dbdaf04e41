"""The plugin's settings as data: :class:`CdcSettings` and the helpers that read them.

Resolving them from the command line, the ini file and the environment (CLI > ini > env >
default, in one place) is the plugin layer's job: :mod:`pytest_cdc.plugin.options`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ENV_DB = "PYTEST_CDC_DB"
ENV_PG_BIN = "PYTEST_CDC_PG_BIN"
ENV_KEEP = "PYTEST_CDC_KEEP"
ENV_LOAD = "PYTEST_CDC_LOAD"
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
    load: tuple[str, ...] = ()

    def __repr__(self) -> str:
        from pytest_cdc.urls import mask_password

        dbs = {name: mask_password(url) for name, url in self.databases.items()}
        return (
            f"CdcSettings(databases={dbs!r}, databases_source={self.databases_source!r},"
            f" pg_bin={self.pg_bin!r}, keep={self.keep!r}, load={self.load!r})"
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
