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

from pytest_cdc.embedded import EmbeddedPostgres, cleanup_leftovers, find_bindir
from pytest_cdc.errors import EmbeddedError

REPO = Path(__file__).resolve().parents[1]
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


@pytest.fixture
def home() -> Iterator[Path]:
    # Not under tmp_path: pytest makes that 0700 for root, and the server user must reach it.
    path = Path(tempfile.mkdtemp(prefix="cdc-home-"))
    path.chmod(0o711)
    yield path
    cleanup_leftovers(path)
    shutil.rmtree(path, ignore_errors=True)


def test_unreachable_home_is_explained(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root hands the server to another user")
    with pytest.raises(EmbeddedError, match=r"cannot enter .*set PYTEST_CDC_HOME"):
        EmbeddedPostgres(home=tmp_path / "home").start()


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


def test_later_starts_use_the_cache_and_its_spares(home: Path) -> None:
    first = EmbeddedPostgres(home=home).start()
    first.stop()  # waits for the background work: cache filled, one spare copy made
    cache = home / "cache"
    assert [p.name for p in cache.glob("*/PG_VERSION")] != []
    assert len([p for p in cache.iterdir() if p.is_dir() and "." not in p.name]) == 1
    assert len(list(cache.glob("*.spare-*"))) == 1
    second = EmbeddedPostgres(home=home).start()
    second.stop()
    assert first.timings["initdb"] > 0  # cold: initdb ran (into the run directory)
    assert second.timings["initdb"] == 0.0
    assert "spare" in second.timings  # warm: a ready copy was renamed into place
    assert len(list(cache.glob("*.spare-*"))) == 1  # and replaced in the background
    # with the spares gone, a start copies the cached cluster itself
    for spare in cache.glob("*.spare-*"):
        shutil.rmtree(spare)
    third = EmbeddedPostgres(home=home).start()
    third.stop()
    assert "spare" not in third.timings and third.timings["initdb"] == 0.0


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


def test_killed_pytest_leaves_nothing_running_and_next_run_cleans(
    pytester: pytest.Pytester, home: Path, run_in_home: Callable[..., pytest.RunResult]
) -> None:
    pytester.makepyfile(
        """
        import os, signal
        def test_killed(cdc_db, cdc_databases):
            print("PID", cdc_databases["default"].embedded.pid, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = run_in_home("-s")
    pid = _printed_pid(result)
    # the parent-death signal stops the postmaster without any cleanup code running
    if not _exited(pid, timeout=10):
        pytest.fail("the postmaster outlived the killed pytest process")
    leftovers = list((home / "run").iterdir())
    assert len(leftovers) == 1
    removed = cleanup_leftovers(home)
    assert leftovers[0] in removed
    # and any half-made cache copy of the killed process goes too
    assert list((home / "run").iterdir()) == []
    assert list((home / "cache").glob("*.tmp-*")) == []


def test_ctrl_c_stops_and_removes_the_cluster(
    pytester: pytest.Pytester, home: Path, run_in_home: Callable[..., pytest.RunResult]
) -> None:
    pytester.makepyfile(
        """
        import os, signal
        def test_interrupted(cdc_db, cdc_databases):
            print("PID", cdc_databases["default"].embedded.pid, flush=True)
            os.kill(os.getpid(), signal.SIGINT)
        """
    )
    result = run_in_home("-s")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    pid = _printed_pid(result)
    assert not Path(f"/proc/{pid}").exists()
    assert list((home / "run").iterdir()) == []


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
    pytest.importorskip("xdist")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_x(cdc_db, n):
            cdc_db.execute("create table t (id int)")  # would clash if the clusters were shared
            print("SOCK", cdc_db.fetchval("select current_setting('unix_socket_directories')"))
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "-s", "-p", "no:randomly")
    result.assert_outcomes(passed=4)


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


def test_context_manager_for_scripts(home: Path) -> None:
    from pytest_cdc.embedded import embedded_postgres

    with embedded_postgres(home=home) as pg:
        conn = psycopg2.connect(pg.url_for("postgres").raw)
        conn.close()
        run_dir = pg.run_dir
    assert run_dir is not None and not run_dir.exists()
