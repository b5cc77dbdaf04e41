"""Reading the TOML files a mapping or an allow-list lives in: one-line errors."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pytest_cdc.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the package still installs on 3.10
    import tomli as tomllib


def read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist: fix --config")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {str(path)!r}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid toml: {error}") from None
