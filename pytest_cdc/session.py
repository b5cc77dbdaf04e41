"""The databases of one test session: started, prepared and handed out lazily.

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
    UnsafeOperation,
    connect_fix,
    did_you_mean,
    first_line,
)
from pytest_cdc.urls import DatabaseURL, mask_password

if TYPE_CHECKING:
    from pytest_cdc.connectors.base import Connector
    from pytest_cdc.dialects import DialectRegistry
    from pytest_cdc.dialects.base import Dialect
    from pytest_cdc.embedded import EmbeddedPostgres
    from pytest_cdc.pool import ConnectionPool
    from pytest_cdc.settings import CdcSettings

#: The only databases the plugin ever creates or drops on a server given by URL.
TEST_DB_PREFIX = "cdc_test_"
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
    _container: Any = field(default=None, repr=False)
    _pool: ConnectionPool | None = field(default=None, repr=False)
    _main_database: str | None = None
    _template: str | None = None
    _clones: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _admin_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _admin_conn: Any = field(default=None, repr=False)
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
        """True for servers the plugin started itself (embedded, docker)."""
        return self.kind != "url"

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
                self._start_server()
                self._load_template()
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

    def _load_template(self) -> None:
        """With --cdc-load: a template database holding the schema, and the main database the
        rollback-isolated tests use, cloned from it (the user's own database stays untouched)."""
        if not self.session.settings.load:
            return
        assert self.dialect is not None
        self._template = self.session.new_database_name(self.name, "tpl")
        self._create_database(self._template, template=None)
        raw = self.connect_raw(self._template)
        try:
            for path in self.session.settings.load:
                self.session.load_file(self, raw, path)
        finally:
            raw.close()
        if self.dialect.supports_templates:
            self._main_database = self.session.new_database_name(self.name, "main")
            self._create_database(self._main_database, template=self._template)
        else:
            self._main_database = self._template

    # -- server-level operations ---------------------------------------------------------
    def _admin(self, statements: list[str]) -> None:
        # One long-lived autocommit connection for CREATE/DROP DATABASE: opening one per
        # statement would cost two connects per database-isolated test.
        with self._admin_lock:
            if self._admin_conn is None:
                self._admin_conn = self.connect_raw()
            try:
                cur = self._admin_conn.cursor()
                try:
                    for sql in statements:
                        cur.execute(sql)
                finally:
                    cur.close()
            except Exception:
                # A broken admin connection is replaced next time rather than reused.
                conn, self._admin_conn = self._admin_conn, None
                with contextlib.suppress(Exception):
                    conn.close()
                raise

    def _create_database(self, name: str, template: str | None) -> None:
        if not name.startswith(TEST_DB_PREFIX):
            raise UnsafeOperation(
                f"refusing to create database {name!r}: not a {TEST_DB_PREFIX}* name"
            )
        assert self.dialect is not None
        sql = self.dialect.create_database_sql(name, template, server_version=self.server_version)
        self._admin(sql)
        self._clones.add(name)

    def drop_database(self, name: str) -> None:
        if not name.startswith(TEST_DB_PREFIX):
            raise UnsafeOperation(
                f"refusing to drop database {name!r}: not a {TEST_DB_PREFIX}* name"
            )
        assert self.dialect is not None
        self._admin(self.dialect.drop_database_sql(name))
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
                for path in self.session.settings.load:
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
        if self.url is not None and self._prepared and not self.owns_server:
            for name in sorted(self._clones):
                with contextlib.suppress(Exception):
                    self.drop_database(name)
        if self._admin_conn is not None:
            with contextlib.suppress(Exception):
                self._admin_conn.close()
            self._admin_conn = None
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
    """All databases of this pytest session (of this xdist worker)."""

    def __init__(
        self,
        settings: CdcSettings,
        registry: DialectRegistry,
        *,
        worker: str = "main",
        on_ready: Callable[[DatabaseHandle], None] | None = None,
        loader: Callable[[DatabaseHandle, Any, str], bool | None] | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.worker = worker
        # Short and random: names every database this session makes (cdc_test_<id>_...).
        self.session_id = os.urandom(3).hex()
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
            self.handles[name] = handle
        for path in settings.load:
            if not Path(path).is_file():
                raise ConfigError(f"--cdc-load file {path!r} does not exist")

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
        safe = "".join(c if c.isalnum() else "_" for c in db_name.lower())[:12]
        return f"{TEST_DB_PREFIX}{self.session_id}_{self.worker}_{safe}_{kind}{n}"

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

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()


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
