"""The databases of one test session: started, prepared and handed out lazily.

Long because a configured database's life is one class: reaching or starting its server (or
borrowing the one an xdist controller started), its template, its clones, its pool and its
teardown; the session that holds them sits beside it.  What the throwaway databases are
named and marked with, and the sweep, live in :mod:`pytest_cdc.throwaway`; the xdist hand-over
in :mod:`pytest_cdc.sharing`.

Nothing here touches a database until a test asks for one, so a run that uses no cdc fixture
imports no driver and starts no server.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_cdc.database import CdcConnection
from pytest_cdc.errors import (
    CdcError,
    ConfigError,
    DatabaseSkipped,
    DatabaseUnavailable,
    connect_fix,
    did_you_mean,
    first_line,
)
from pytest_cdc.throwaway import (
    TEST_DB_PREFIX,
    Owner,
    ServerAdmin,
    check_ours,
    new_session_id,
    safe_name,
)
from pytest_cdc.urls import DatabaseURL, mask_password

if TYPE_CHECKING:
    from pytest_cdc.connectors.base import Connector
    from pytest_cdc.dialects import DialectRegistry
    from pytest_cdc.dialects.base import Dialect
    from pytest_cdc.embedded import EmbeddedPostgres
    from pytest_cdc.pool import ConnectionPool
    from pytest_cdc.settings import CdcSettings
    from pytest_cdc.sharing import Keepers, SharedRecord, SharedRun

__all__ = ["TEST_DB_PREFIX", "CdcSession", "DatabaseHandle", "load_script"]

POOL_MAX_SIZE = 8


@dataclass(repr=False)
class DatabaseHandle:
    """One configured database: where it is, its dialect, its pool and throwaway copies."""

    name: str
    spec: str
    session: CdcSession = field(repr=False)
    url: DatabaseURL | None = None
    dialect: Dialect | None = field(default=None, repr=False)
    server_version: str = ""
    ready_seconds: float | None = None
    error: CdcError | None = None
    embedded: EmbeddedPostgres | None = field(default=None, repr=False)
    #: Leftover databases of dead sessions this handle dropped when it started.
    swept: list[str] = field(default_factory=list)
    #: How the template came about: "built", "reused" (--cdc-reuse-db) or "shared" (xdist).
    template_origin: str = ""
    #: A server and template the xdist controller prepared, for this worker to borrow.
    shared: SharedRun | None = field(default=None, repr=False)
    _container: Any = field(default=None, repr=False)
    _pool: ConnectionPool | None = field(default=None, repr=False)
    _main_database: str | None = None
    _template: str | None = None
    _clones: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _admin: ServerAdmin | None = field(default=None, repr=False)
    _prepared: bool = False

    def __repr__(self) -> str:
        # Shown by --showlocals and in assertion rewrites: never with the password.
        state = "error" if self.error else ("ready" if self._prepared else "not started")
        return f"<DatabaseHandle {self.name!r} {self.describe()} ({state})>"

    # -- what it is ----------------------------------------------------------------------
    @property
    def kind(self) -> str:
        lowered = self.spec.lower()
        if lowered == "embedded" or lowered.startswith("embedded:"):
            return "embedded"
        if lowered.startswith("docker:"):
            return "docker"
        return "url"

    @property
    def masked_url(self) -> str:
        return self.url.masked if self.url is not None else mask_password(self.spec)

    @property
    def owns_server(self) -> bool:
        """True for servers this process started itself (embedded, docker)."""
        return self.kind != "url" and self.shared is None

    @property
    def main_database(self) -> str | None:
        """The database rollback-isolated tests use (known once prepared)."""
        return self._main_database

    @property
    def template(self) -> str | None:
        """The template database test databases are cloned from (None: none yet)."""
        return self._template

    @property
    def load_files(self) -> tuple[str, ...]:
        return self.session.settings.load_files(self.name)

    @property
    def pg_bin(self) -> str | None:
        """Which binaries an embedded database uses: ``embedded:SELECTOR``, else --cdc-pg-bin."""
        _, _, selector = self.spec.partition(":")
        return selector or self.session.settings.pg_bin

    @property
    def pg_bin_origin(self) -> str:
        """The setting that chose them, for messages."""
        return f"--cdc-db={self.name}=embedded" if ":" in self.spec else "--cdc-pg-bin"

    def describe(self) -> str:
        if self.kind == "embedded":
            where = "embedded PostgreSQL"
            pg = self.embedded
            if pg is not None and pg.run_dir is not None and pg.binaries is not None:
                where += f" ({pg.binaries.describe()}, socket {pg.socket_dir})"
            return where
        return self.masked_url

    # -- preparing -----------------------------------------------------------------------
    def prepare(self) -> DatabaseHandle:
        """Start or reach the server once; later calls re-raise the first failure."""
        with self._lock:
            if self.error is not None:
                raise self.error
            if self._prepared:
                return self
            started = time.perf_counter()
            try:
                if self.shared is not None:
                    self._borrow(self.shared.wait(self.name))
                else:
                    self._start_server()
                    self._prepare_template()
                if self.session.hands_out:
                    self._prepare_main()
            except CdcError as exc:
                self.error = exc
                raise
            except Exception as exc:
                self.error = DatabaseUnavailable(
                    f"database {self.name!r} ({self.describe()}): {first_line(exc)}"
                )
                raise self.error from None
            self.ready_seconds = time.perf_counter() - started
            self._prepared = True
        self.session.database_ready(self)
        return self

    def _start_server(self) -> None:
        registry = self.session.registry
        if self.kind == "embedded":
            self._start_embedded()
        elif self.kind == "docker":
            self._start_docker()
        else:
            assert self.url is not None
            self.dialect = registry.for_scheme(self.url.scheme)
        assert self.url is not None and self.dialect is not None
        self._main_database = self.url.database
        try:
            conn = self.connect_raw()
        except CdcError:
            raise
        except Exception as exc:
            reason = first_line(exc)
            fix = connect_fix(reason) or f"start it or pass --cdc-db={self.name}=URL"
            raise DatabaseUnavailable(
                f"database {self.name!r} is not reachable at {self.masked_url}: {reason}; {fix}"
            ) from None
        try:
            self.server_version = self.dialect.server_version(conn)
        finally:
            conn.close()
        self.dialect.check_server_version(self.server_version, name=self.name)
        if self.kind == "url":
            # A shared server: first drop what killed sessions left behind.
            self.swept = self.admin.sweep()

    def _borrow(self, record: SharedRecord) -> None:
        """Take over what the xdist controller prepared (a worker's start)."""
        record.raise_error()
        registry = self.session.registry
        if record.url is not None:
            self.url = registry.parse(record.url, name=self.name)
        assert self.url is not None
        self.dialect = registry.for_scheme(self.url.scheme)
        self.server_version = record.server_version
        self._main_database = self.url.database
        self._template = record.template
        self.template_origin = "shared" if record.template else ""
        if self.load_files and not self.dialect.supports_templates:
            self._prepare_template()  # no templates to share: each worker loads its own

    def _start_embedded(self) -> None:
        from pytest_cdc.dialects import get_dialect
        from pytest_cdc.embedded import EmbeddedPostgres, locate_binaries
        from pytest_cdc.errors import EmbeddedError

        try:
            binaries = locate_binaries(self.pg_bin, origin=self.pg_bin_origin)
        except EmbeddedError as exc:
            if self.pg_bin is not None:
                raise  # a wrong --cdc-pg-bin is a mistake to fix, not a reason to skip
            if _docker_answers():
                self.spec = "docker:postgres"
                self._start_docker()
                return
            raise DatabaseSkipped(
                f"{exc}; or run a Docker engine so docker:postgres can stand in"
            ) from None
        pg = EmbeddedPostgres(bindir=self.pg_bin, name=self.name, origin=self.pg_bin_origin)
        pg.binaries = binaries  # looked up once: the system's lookup runs pg_config
        if self.session.settings.keep:
            pg.keep = True
        pg.start()
        if pg.keep:
            pg.mark_kept()
        self.embedded = pg
        self.dialect = get_dialect("postgresql")
        self.url = pg.url

    def _start_docker(self) -> None:
        from pytest_cdc.docker import start_container

        registry = self.session.registry
        container, raw_url = start_container(self.spec, name=self.name, registry=registry)
        self._container = container
        self.url = self.session.registry.parse(raw_url, name=self.name)
        self.dialect = self.session.registry.for_scheme(self.url.scheme)

    def _connector(self, database: str | None = None) -> Connector:
        assert self.url is not None and self.dialect is not None
        return self.dialect.connector(self.url, database=database)

    def connect_raw(self, database: str | None = None) -> Any:
        """A new driver connection (autocommit on) to ``database`` (default: the main one)."""
        return self._connector(database).connect(timeout=10)

    def wrap(self, raw: Any, **kwargs: Any) -> CdcConnection:
        """``raw``, a driver connection to this database, as a recording CdcConnection."""
        assert self.dialect is not None
        return CdcConnection(
            raw, self.dialect, name=self.name, paramstyle=self._connector().paramstyle, **kwargs
        )

    # -- templates -----------------------------------------------------------------------
    def _prepare_template(self) -> None:
        """With --cdc-load: a template database holding the schema (kept between sessions
        with --cdc-reuse-db on a server given by URL)."""
        files = self.load_files
        assert self.dialect is not None
        if not files or not (self.session.hands_out or self.dialect.supports_templates):
            return  # (an xdist controller shares templates; without them workers load)
        if self.session.settings.reuse_db and self.kind == "url":
            from pytest_cdc.throwaway import reusable_template

            self._template, self.template_origin = reusable_template(self, files)
            return
        self._template = self.build_template(files)
        self.template_origin = "built"

    def build_template(self, files: tuple[str, ...]) -> str:
        """A new database of this session holding ``files``."""
        template = self.session.new_database_name(self.name, "tpl")
        self._create_database(template, template=None)
        raw = self.connect_raw(template)
        try:
            for path in files:
                self.session.load_file(self, raw, path)
        finally:
            raw.close()
        return template

    def _prepare_main(self) -> None:
        """The database rollback-isolated tests use: a clone of the template (the user's own
        database stays untouched); without one, the URL's database, or on a server the xdist
        controller shares, an empty database of this worker's own."""
        assert self.dialect is not None
        if self._template is None:
            if self.shared is not None and self.kind != "url":
                self._main_database = self.session.new_database_name(self.name, "main")
                self._create_database(self._main_database, template=None)
            return
        if self.dialect.supports_templates:
            self._main_database = self.session.new_database_name(self.name, "main")
            self._create_database(self._main_database, template=self._template)
        else:
            self._main_database = self._template

    # -- server-level operations ---------------------------------------------------------
    @property
    def admin(self) -> ServerAdmin:
        """The connection databases are created and dropped through; on a server given by
        URL it marks them as this session's (see :mod:`pytest_cdc.throwaway`)."""
        if self._admin is None:
            assert self.dialect is not None
            owner = self.session.owner if self.kind == "url" else None
            self._admin = ServerAdmin(self.connect_raw, self.dialect, owner=owner)
        return self._admin

    def _create_database(self, name: str, template: str | None) -> None:
        self.admin.create(name, template, server_version=self.server_version)
        self._clones.add(name)

    def forget(self, name: str) -> None:
        """Leave database ``name`` to outlive the session (a template kept for reuse)."""
        self._clones.discard(name)

    def drop_database(self, name: str) -> None:
        check_ours(name, "drop")
        self.admin.drop(name)
        self._clones.discard(name)

    def clone(self) -> str:
        """A fresh database for one test: a copy of the template (or a new, loaded one)."""
        self.prepare()
        assert self.dialect is not None
        name = self.session.new_database_name(self.name, "t")
        if self.dialect.supports_templates:
            if self._template is None:
                with self._lock:
                    if self._template is None:
                        template = self.session.new_database_name(self.name, "tpl")
                        self._create_database(template, template=None)
                        self._template = template
            self._create_database(name, template=self._template)
        else:
            self._create_database(name, template=None)
            raw = self.connect_raw(name)
            try:
                for path in self.load_files:
                    self.session.load_file(self, raw, path)
            finally:
                raw.close()
        return name

    # -- connections ---------------------------------------------------------------------
    @property
    def pool(self) -> ConnectionPool:
        """The pool of connections to the main database (created on first use)."""
        self.prepare()
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    from pytest_cdc.pool import ConnectionPool

                    self._pool = ConnectionPool(
                        self._connector(self._main_database),
                        min_size=0,
                        max_size=POOL_MAX_SIZE,
                        name=f"cdc-{self.name}",
                        metrics=self.session.metrics(),
                    )
        return self._pool

    def connect(self, database: str | None = None) -> CdcConnection:
        """A new, unpooled connection (autocommit on); the caller closes it."""
        self.prepare()
        return self.wrap(self.connect_raw(database or self._main_database))

    def close(self) -> None:
        if self._pool is not None:
            with contextlib.suppress(Exception):
                self._pool.close()
            self._pool = None
        if self._admin is not None and not self.owns_server:
            for name in sorted(self._clones):
                with contextlib.suppress(Exception):
                    self.drop_database(name)
            if self.kind == "url":
                # Whatever this session (with its xdist workers) made and did not drop: a
                # worker that crashed, or one stopped while it still dropped its own.
                with contextlib.suppress(Exception):
                    self.admin.drop_prefix(self.session.run_prefix)
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self.embedded is not None:
            if self.embedded.keep:
                self.embedded.join_background()
            else:
                self.embedded.stop()
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.stop()
            self._container = None


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        client.ping()
    except Exception:
        return False
    return True


class CdcSession:
    """All databases of this pytest session (of this xdist worker).

    Under xdist with databases to share (see :mod:`pytest_cdc.sharing`) the controller's
    session prepares them (:meth:`share`) and hands out none itself; a worker's session is
    given the controller's :class:`~pytest_cdc.sharing.SharedRun` and borrows them.
    """

    def __init__(
        self,
        settings: CdcSettings,
        registry: DialectRegistry,
        *,
        worker: str = "main",
        on_ready: Callable[[DatabaseHandle], None] | None = None,
        loader: Callable[[DatabaseHandle, Any, str], bool | None] | None = None,
        shared: SharedRun | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.worker = worker
        # Names every database this session makes (cdc_test_<id>_<worker>_...); the workers
        # of one xdist run share the controller's, so it can drop whatever they leave.
        self.session_id = shared.session_id if shared is not None else new_session_id()
        self.owner = Owner.this_process(self.session_id)
        #: False on an xdist controller: it prepares templates but runs no tests.
        self.hands_out = True
        self._keepers: Keepers | None = None
        self._counter = 0
        self._counter_lock = threading.Lock()
        self._on_ready = on_ready
        self._loader = loader
        self.handles: dict[str, DatabaseHandle] = {}
        for name, spec in settings.databases.items():
            handle = DatabaseHandle(name=name, spec=spec, session=self)
            if handle.kind == "url":
                handle.url = registry.parse(spec, name=name)
            elif handle.kind == "docker":
                registry.parse(spec, name=name)  # validates the image name now, not at first use
            if shared is not None and name in shared.names:
                handle.shared = shared
            self.handles[name] = handle
        for path in settings.all_load_files:
            if not Path(path).is_file():
                raise ConfigError(f"--cdc-load file {path!r} does not exist")

    @property
    def run_prefix(self) -> str:
        """The start of the names of every database this session makes (a worker's own, or
        on the controller and in a serial run, every database of the run)."""
        if self.worker == "main":
            return f"{TEST_DB_PREFIX}{self.session_id}_"
        return f"{TEST_DB_PREFIX}{self.session_id}_{self.worker}_"

    def get(self, name: str) -> DatabaseHandle:
        try:
            return self.handles[name]
        except KeyError:
            raise ConfigError(
                f"no database named {name!r}{did_you_mean(name, self.handles)}; configured: "
                f"{', '.join(self.handles)}; add it with --cdc-db={name}=URL"
            ) from None

    def new_database_name(self, db_name: str, kind: str) -> str:
        with self._counter_lock:
            self._counter += 1
            n = self._counter
        return f"{TEST_DB_PREFIX}{self.session_id}_{self.worker}_{safe_name(db_name)}_{kind}{n}"

    def metrics(self) -> Any:
        """The pool metrics of this session (``--cdc-metrics-file``/``--cdc-pushgateway``),
        or None when metrics are off (prometheus_client is then never imported)."""
        from pytest_cdc.metrics import session_metrics

        return session_metrics()

    def database_ready(self, handle: DatabaseHandle) -> None:
        if self._on_ready is not None:
            self._on_ready(handle)

    def load_file(self, handle: DatabaseHandle, raw: Any, path: str) -> None:
        if self._loader is not None and self._loader(handle, raw, path):
            return
        load_script(handle, raw, path)

    # -- xdist ---------------------------------------------------------------------------
    def shareable(self) -> tuple[str, ...]:
        """The databases worth preparing once for every worker: all that were asked for
        (named, or given load files); the implicit embedded default without a load file
        waits, per worker, for a test that uses it (most runs never do)."""
        return tuple(
            name
            for name, handle in self.handles.items()
            if handle.spec != "embedded" or name != "default" or handle.load_files
        )

    def share(self, run: SharedRun) -> None:
        """(xdist controller) Prepare the databases of ``run`` for the workers, in the
        background, and publish what they are."""
        from pytest_cdc.sharing import Keepers

        self.hands_out = False
        self._keepers = Keepers(self, run)

    # -- the end -------------------------------------------------------------------------
    def close(self) -> None:
        keepers, self._keepers = self._keepers, None
        for handle in self.handles.values():
            if keepers is not None:
                with handle._lock:  # a keeper still preparing it finishes first
                    pass
            handle.close()
        if keepers is not None:
            keepers.release()

    def abandon(self) -> None:
        """Undo what this process made, from another thread, without the locks the main
        thread may hold: the process exits next (its xdist controller is gone)."""
        for handle in self.handles.values():
            with contextlib.suppress(Exception):
                if handle.kind == "url" and handle._prepared and handle.dialect is not None:
                    admin = ServerAdmin(handle.connect_raw, handle.dialect)
                    try:
                        admin.drop_prefix(self.run_prefix)
                    finally:
                        admin.close()
            with contextlib.suppress(Exception):
                if handle.embedded is not None and not handle.embedded.keep:
                    handle.embedded.stop()
            with contextlib.suppress(Exception):
                if handle._container is not None:
                    handle._container.stop()


def load_script(handle: DatabaseHandle, raw: Any, path: str) -> None:
    """Run one SQL file, batch by batch, with autocommit (it builds the template)."""
    assert handle.dialect is not None
    try:
        script = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read --cdc-load file {path!r}: {first_line(exc)}") from None
    cur = raw.cursor()
    try:
        for batch in handle.dialect.split_script(script):
            try:
                cur.execute(batch.text)
            except Exception as exc:
                raise ConfigError(
                    f"--cdc-load {os.path.basename(path)!r} failed in the statement at line"
                    f" {batch.line} on database {handle.name!r}: {first_line(exc)}"
                ) from None
    finally:
        cur.close()
