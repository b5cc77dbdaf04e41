"""Databases prepared once for every xdist worker.

Under pytest-xdist the controller runs no tests, but it lives for the whole run: it starts the
servers and builds the templates (one per database, in threads of their own, while the workers
start up and collect) and publishes a :class:`SharedRecord` per database in a private
directory.  A worker waits for the record of a database the first time a test asks for it,
then clones the template into a database of its own.  Servers and templates stay the
controller's: it stops and drops them after the workers are done, with every database of the
run the workers left behind.

Nothing here knows pytest or xdist; :mod:`pytest_cdc.plugin.xdist` wires it in.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_cdc.errors import CdcError, DatabaseSkipped, DatabaseUnavailable, first_line
from pytest_cdc.processes import pid_alive

if TYPE_CHECKING:
    from pytest_cdc.session import CdcSession, DatabaseHandle

#: How long a worker waits for the controller to prepare one database.
WAIT_SECONDS = 600.0


@dataclass(frozen=True)
class SharedRecord:
    """What the controller made of one configured database."""

    name: str
    #: A URL to the server the controller started (embedded, docker); None for a URL database,
    #: which the workers already know (and whose password then never goes into a file).
    url: str | None = None
    server_version: str = ""
    #: The template built from the database's load files, for the workers to clone.
    template: str | None = None
    ready_seconds: float | None = None
    #: Why it could not be prepared; ``skipped``: the database cannot exist here.
    error: str | None = None
    skipped: bool = False

    def raise_error(self) -> None:
        if self.error is not None:
            raise (DatabaseSkipped if self.skipped else DatabaseUnavailable)(self.error)


@dataclass(frozen=True)
class SharedRun:
    """The controller's side of the hand-over, as the workers receive it (``workerinput``)."""

    directory: str
    controller_pid: int
    session_id: str
    names: tuple[str, ...]

    @classmethod
    def create(cls, session_id: str, names: tuple[str, ...]) -> SharedRun:
        # 0700: records of servers the controller started hold their URLs.
        directory = tempfile.mkdtemp(prefix=f"pytest-cdc-{session_id}-")
        return cls(directory, os.getpid(), session_id, names)

    def to_input(self) -> dict[str, Any]:
        return {**asdict(self), "names": list(self.names)}

    @classmethod
    def from_input(cls, data: dict[str, Any]) -> SharedRun:
        return cls(
            directory=str(data["directory"]),
            controller_pid=int(data["controller_pid"]),
            session_id=str(data["session_id"]),
            names=tuple(data["names"]),
        )

    def _path(self, name: str) -> Path:
        return Path(self.directory) / f"{name}.json"

    def publish(self, record: SharedRecord) -> None:
        path = self._path(record.name)
        staging = path.with_suffix(f".tmp-{os.getpid()}")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(record), out)
        os.replace(staging, path)  # a reader sees the whole record or none

    def wait(self, name: str, *, timeout: float = WAIT_SECONDS) -> SharedRecord:
        """The controller's record of ``name``, once it is there (raises CdcError if the
        controller exits first or takes longer than ``timeout``)."""
        path = self._path(name)
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            with contextlib.suppress(FileNotFoundError):
                data = json.loads(path.read_text(encoding="utf-8"))
                return SharedRecord(**data)
            if not pid_alive(self.controller_pid):
                raise DatabaseUnavailable(
                    f"database {name!r}: the xdist controller that prepares it has exited"
                )
            if time.monotonic() > deadline:
                raise DatabaseUnavailable(
                    f"database {name!r}: the xdist controller did not prepare it in"
                    f" {timeout:.0f} s; run without -n to see why"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.05)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class Keepers:
    """The controller's threads that prepare one database each and publish its record.

    Each thread then waits until :meth:`release`: Linux sends a server its parent-death
    signal when the *thread* that started it ends, not the process, so the thread must
    outlive the server it started.
    """

    def __init__(self, session: CdcSession, run: SharedRun) -> None:
        self.run = run
        self._release = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._prepare,
                args=(session.handles[name],),
                name=f"cdc-{name}",
                daemon=True,
            )
            for name in run.names
        ]
        for thread in self._threads:
            thread.start()

    def _prepare(self, handle: DatabaseHandle) -> None:
        try:
            handle.prepare()
        except CdcError as exc:
            self.run.publish(record_error(handle.name, exc))
        except BaseException as exc:  # a bug: the workers must not wait for ever
            self.run.publish(record_error(handle.name, DatabaseUnavailable(first_line(exc))))
            raise
        else:
            assert handle.url is not None
            self.run.publish(
                SharedRecord(
                    name=handle.name,
                    url=None if handle.kind == "url" else handle.url.raw,
                    server_version=handle.server_version,
                    template=handle.template,
                    ready_seconds=handle.ready_seconds,
                )
            )
        self._release.wait()

    def release(self) -> None:
        """After the servers are stopped: end the threads and remove the records."""
        self._release.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.run.remove()


def record_error(name: str, exc: CdcError) -> SharedRecord:
    return SharedRecord(name=name, error=str(exc), skipped=isinstance(exc, DatabaseSkipped))
