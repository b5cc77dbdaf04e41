"""Throwaway databases on servers given by URL: their names, who owns them, what is left over.

Every database pytest-cdc creates on such a server is named ``cdc_test_<session>_<worker>_...``
and carries a comment naming its session, host and pid (:class:`Owner`); each connection the
session creates databases through holds a lock keyed by the session (the engine's
``owner_lock_sql``), for as long as it lives.  At start a session drops the leftovers of
sessions that are gone (:func:`stale`); the rule is strict, since the server is shared:

* the name starts with ``cdc_test_`` and the comment is an owner mark of a session: a database
  of ours, made by a version that marks its databases (never anyone else's, never a
  ``--cdc-reuse-db`` template);
* nobody holds that session's lock: the session's connections are gone (this works from any
  host, and survives pid reuse);
* and, for a session of this host, its pid is not running (a live session whose connection
  broke keeps its databases);
* the drop itself fails rather than end a connection: a database someone is looking at stays.

Templates kept by ``--cdc-reuse-db`` are named from their *slot* (database name and where the
load files are: one per project checkout) and their *key* (the files' contents and the
pytest-cdc version): :func:`reuse_name`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_cdc import processes

if TYPE_CHECKING:
    from pytest_cdc.dialects.base import Dialect
    from pytest_cdc.session import DatabaseHandle

#: The only databases the plugin ever creates or drops on a server given by URL.
TEST_DB_PREFIX = "cdc_test_"
REUSE_PREFIX = f"{TEST_DB_PREFIX}reuse_"

_OWNER = re.compile(
    r"^pytest-cdc session (?P<session>[0-9a-f]{6}) host (?P<host>\S+) pid (?P<pid>\d+)$"
)
_REUSE = re.compile(r"^pytest-cdc reuse (?P<key>[0-9a-f]+) version (?P<version>\S+)$")


def new_session_id() -> str:
    """Short and random: it names every database of a session, and keys its lock."""
    return os.urandom(3).hex()


def owner_key(session_id: str) -> int:
    return int(session_id, 16)


def _host() -> str:
    # Comments are written as SQL literals: keep to characters that need no quoting.
    return re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:64] or "unknown"


@dataclass(frozen=True)
class Owner:
    """Whose a throwaway database is, as its comment says."""

    session: str
    host: str
    pid: int

    @classmethod
    def this_process(cls, session: str) -> Owner:
        return cls(session=session, host=_host(), pid=os.getpid())

    def comment(self) -> str:
        return f"pytest-cdc session {self.session} host {self.host} pid {self.pid}"

    @classmethod
    def parse(cls, comment: str | None) -> Owner | None:
        match = _OWNER.match(comment or "")
        if match is None:
            return None
        return cls(match["session"], match["host"], int(match["pid"]))


def reuse_comment(key: str, version: str) -> str:
    return f"pytest-cdc reuse {key} version {re.sub(r'[^A-Za-z0-9.-]', '-', version)}"


def is_reuse_comment(comment: str | None) -> bool:
    return _REUSE.match(comment or "") is not None


def stale(
    databases: Iterable[tuple[str, str | None]],
    live_keys: set[int],
    *,
    host: str | None = None,
    pid_alive: Callable[[int], bool] = processes.pid_alive,
) -> list[str]:
    """The databases among ``(name, comment)`` that belong to a session that is gone (see the
    module's rule); ``live_keys`` are the keys of the locks held on the server now."""
    host = _host() if host is None else host
    found = []
    for name, comment in databases:
        owner = Owner.parse(comment)
        if owner is None or not name.startswith(f"{TEST_DB_PREFIX}{owner.session}_"):
            continue
        if owner_key(owner.session) in live_keys:
            continue
        if owner.host == host and pid_alive(owner.pid):
            continue
        found.append(name)
    return found


# -- --cdc-reuse-db ------------------------------------------------------------------------


def reuse_key(files: Sequence[str], *, dialect: str, version: str) -> str:
    """What a kept template is built from: the load files' contents, in order, the engine and
    the pytest-cdc version (a new version may load differently)."""
    digest = hashlib.sha256(f"{version}\0{dialect}\0".encode())
    for path in files:
        digest.update(Path(path).read_bytes())
        digest.update(b"\0file\0")
    return digest.hexdigest()[:12]


def reuse_slot(db_name: str, files: Sequence[str]) -> str:
    """Where a kept template belongs: one configured database of one project checkout, so a
    rebuilt template replaces its predecessor and never another project's."""
    where = "\0".join(str(Path(p).resolve().parent) for p in files)
    return f"{safe_name(db_name)}_{hashlib.sha256(where.encode()).hexdigest()[:6]}"


def reuse_name(slot: str, key: str) -> str:
    return f"{REUSE_PREFIX}{slot}_{key}"


def reusable_template(handle: DatabaseHandle, files: tuple[str, ...]) -> tuple[str, str]:
    """--cdc-reuse-db: the template a previous session kept for these files, or a new one
    kept for the next (built under a name of this session, renamed once complete, so a
    session killed half-way leaves nothing that looks reusable)."""
    from pytest_cdc import __version__

    dialect = handle.dialect
    assert dialect is not None
    if not dialect.supports_templates or dialect.test_databases_sql(REUSE_PREFIX) is None:
        return handle.build_template(files), "built"  # nothing to keep, or no way to find it
    key = reuse_key(files, dialect=dialect.name, version=__version__)
    slot = reuse_slot(handle.name, files)
    name = reuse_name(slot, key)
    kept = dict(handle.admin.listing(reuse_name(slot, "")) or [])
    if is_reuse_comment(kept.get(name)):
        return name, "reused"
    built = handle.build_template(files)
    try:
        handle.admin.run(dialect.rename_database_sql(built, name))
    except Exception:
        # Another session kept the same template a moment ago: use that one.
        handle.drop_database(built)
        if not is_reuse_comment(dict(handle.admin.listing(name) or []).get(name)):
            raise
        return name, "reused"
    handle.forget(built)  # the next session's now
    handle.admin.run(dialect.comment_database_sql(name, reuse_comment(key, __version__)))
    for old in kept:
        if old != name:  # its predecessor in this slot, unless a session is cloning it
            with contextlib.suppress(Exception):
                handle.admin.run(dialect.drop_idle_database_sql(old))
    return name, "built and kept"


def safe_name(db_name: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else "_" for c in db_name.lower())[:12]


# -- the connection databases are created and dropped through -------------------------------


class ServerAdmin:
    """One long-lived autocommit connection for CREATE/DROP DATABASE on one server (opening
    one per statement would cost two connects per database-isolated test).

    With an ``owner`` (servers given by URL) the connection holds the session's lock from the
    moment it opens, and every database created through it gets the owner's comment, so the
    lock is held before any database of the session exists.
    """

    def __init__(
        self, connect: Callable[[], Any], dialect: Dialect, *, owner: Owner | None = None
    ) -> None:
        self._connect = connect
        self.dialect = dialect
        self.owner = owner
        self._conn: Any = None
        self._lock = threading.Lock()

    def _cursor_run(self, statements: Sequence[str], *, fetch: bool = False) -> list[Any]:
        with self._lock:
            if self._conn is None:
                conn = self._connect()
                owner = self.owner
                lock_sql = owner and self.dialect.owner_lock_sql(owner_key(owner.session))
                if lock_sql:
                    cur = conn.cursor()
                    cur.execute(lock_sql)
                    cur.close()
                self._conn = conn
            try:
                cur = self._conn.cursor()
                try:
                    rows: list[Any] = []
                    for sql in statements:
                        cur.execute(sql)
                        if fetch:
                            rows = list(cur.fetchall())
                    return rows
                finally:
                    cur.close()
            except Exception:
                # A broken connection is replaced next time (and takes the lock again).
                conn, self._conn = self._conn, None
                with contextlib.suppress(Exception):
                    conn.close()
                raise

    def run(self, statements: Sequence[str]) -> None:
        self._cursor_run(statements)

    def query(self, sql: str) -> list[Any]:
        return self._cursor_run([sql], fetch=True)

    def create(self, name: str, template: str | None, *, server_version: str = "") -> None:
        check_ours(name, "create")
        self.run(self.dialect.create_database_sql(name, template, server_version=server_version))
        if self.owner is not None:
            self.run(self.dialect.comment_database_sql(name, self.owner.comment()))

    def drop(self, name: str) -> None:
        check_ours(name, "drop")
        self._wait_disconnected(name)
        self.run(self.dialect.drop_database_sql(name))

    def _wait_disconnected(self, name: str, timeout: float = 0.2) -> None:
        # A test's connection was closed a moment ago, but its server process may not have
        # exited yet; DROP DATABASE then checks again only every 100 ms (PostgreSQL's
        # CountOtherDBBackends), which made a database-isolated test's teardown cost 105 ms
        # one time in three instead of 5 ms.  Polling here takes a fraction of a ms a round.
        sql = self.dialect.sessions_sql(name)
        if sql is None:
            return
        deadline = time.monotonic() + timeout
        while self.query(sql)[0][0] and time.monotonic() < deadline:
            time.sleep(0.0005)

    def listing(
        self, prefix: str, *, idle_only: bool = False
    ) -> list[tuple[str, str | None]] | None:
        """``(name, comment)`` of the databases named ``prefix...``, with ``idle_only`` only
        those nobody is connected to (None: the engine cannot list them)."""
        sql = self.dialect.test_databases_sql(prefix)
        if sql is None:
            return None
        rows = self.query(sql)
        return [(str(name), comment) for name, comment, busy in rows if not (idle_only and busy)]

    def sweep(self) -> list[str]:
        """Drop the leftovers of sessions that are gone (the module's rule); what went."""
        # Busy ones are left out before trying: a DROP waits 5 s for connections to go.
        listing = self.listing(TEST_DB_PREFIX, idle_only=True)
        locks_sql = self.dialect.owner_locks_sql()
        if not listing or locks_sql is None:
            return []
        live = {int(row[0]) for row in self.query(locks_sql)}
        dropped = []
        for name in stale(listing, live):
            try:
                self.run(self.dialect.drop_idle_database_sql(name))
            except Exception:
                continue  # in use after all (someone looking at it): it stays
            dropped.append(name)
        return dropped

    def drop_prefix(self, prefix: str) -> None:
        """Drop every database named ``prefix...`` (a whole run's, at its end)."""
        for name, _ in self.listing(prefix) or []:
            with contextlib.suppress(Exception):
                self.drop(name)

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


def check_ours(name: str, verb: str) -> None:
    from pytest_cdc.errors import UnsafeOperation

    if not name.startswith(TEST_DB_PREFIX):
        raise UnsafeOperation(f"refusing to {verb} database {name!r}: not a {TEST_DB_PREFIX}* name")
