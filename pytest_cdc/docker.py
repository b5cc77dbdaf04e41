"""``docker:KIND[:TAG]`` databases through testcontainers: the engine named KIND starts its
own image (:meth:`~pytest_cdc.dialects.base.Dialect.start_container`); this module turns what
can go wrong into one line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_cdc.errors import DatabaseUnavailable, first_line

if TYPE_CHECKING:
    from pytest_cdc.dialects import DialectRegistry


def start_container(spec: str, *, name: str, registry: DialectRegistry) -> tuple[Any, str]:
    """Start the container for ``spec`` (``docker:KIND[:TAG]``); return it and a URL (with
    its random password) to it."""
    kind, _, tag = spec.split(":", 1)[1].partition(":")
    dialect = registry.get(kind)
    try:
        return dialect.start_container(tag or dialect.docker_tag)
    except ImportError:
        raise DatabaseUnavailable(
            f"database {name!r}: {spec} needs testcontainers: pip install 'pytest-cdc[docker]'"
        ) from None
    except Exception as exc:
        raise DatabaseUnavailable(
            f"database {name!r}: cannot start {spec}: {first_line(exc)}; is a Docker engine"
            " running?"
        ) from None
