"""Under pytest-xdist nothing is left on the server, and no worker outlives its controller
(issue 17: ``-n 2`` runs left 1-4 ``cdc_test_*`` databases; after a killed controller the
workers and their servers lived on until their running test ended)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from throwaway_helpers import SERVER, databases, token

pytest.importorskip("xdist")


def _of(db: str) -> dict[str, str | None]:
    """The databases made for configured database ``db`` (its name is in theirs)."""
    return databases(f"cdc\\_test\\_%\\_{db}\\_%")


def _wait(condition: object, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_a_crashed_worker_leaves_no_databases(pytester: pytest.Pytester) -> None:
    """The controller drops whatever its workers left, once they are done."""
    db = token()
    schema = pytester.makefile(".sql", schema="create table t (id int);")
    pytester.makepyfile(
        f"""
        import os, pytest

        @pytest.mark.cdc(isolation="database")
        @pytest.mark.parametrize("n", range(4))
        def test_x(cdc_connect, n):
            cdc_connect("{db}").execute("insert into t values (1)")
            if n == 1:
                os._exit(1)  # the worker dies with its databases made
        """
    )
    result = pytester.runpytest_subprocess(
        "-n", "2", "--max-worker-restart=0", f"--cdc-db={db}={SERVER}", f"--cdc-load={schema}"
    )
    result.stdout.fnmatch_lines(["*worker 'gw*' crashed while running*"])
    assert _of(db) == {}


def test_workers_of_a_killed_controller_clean_up_and_exit(pytester: pytest.Pytester) -> None:
    db = token()
    pytester.makefile(".sql", schema="create table t (id int);")
    pytester.makepyfile(
        f"""
        import os, signal, time, pytest

        @pytest.mark.cdc(isolation="database")
        @pytest.mark.parametrize("n", range(2))
        def test_stuck(cdc_connect, n):
            cdc_connect("{db}")
            box = cdc_connect("box")  # an embedded cluster: the controller started it
            pidfile = box.fetchval("select current_setting('data_directory')") + "/postmaster.pid"
            open("postmaster", "w").write(open(pidfile).readline())
            # as a test stuck in C code would, it takes no notice of execnet's SIGINT
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            open(f"started-{{os.getpid()}}", "w").close()
            time.sleep(300)
        """
    )
    args = ["-n", "2", "-p", "no:cacheprovider", f"--cdc-db={db}={SERVER}", "--cdc-db=box=embedded"]
    args.append("--cdc-load=schema.sql")
    controller = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args],
        cwd=pytester.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        started = lambda: list(pytester.path.glob("started-*"))  # noqa: E731
        _wait(lambda: len(started()) == 2, timeout=120, what="both workers to start a test")
        workers = [int(p.name.split("-")[1]) for p in started()]
        postmaster = int((pytester.path / "postmaster").read_text())
        assert {name.split("_")[3] for name in _of(db)} >= {"gw0", "gw1"}
        os.kill(controller.pid, signal.SIGKILL)
        controller.wait()
        # (execnet alone ends such a worker after 15 s, with no clean-up; ours is at once)
        _wait(lambda: all(_gone(pid) for pid in workers), timeout=60, what="the workers to exit")
        # the cluster went with the controller (its parent-death signal)
        _wait(lambda: _gone(postmaster), timeout=30, what="the embedded server to stop")
    finally:
        if controller.poll() is None:
            os.killpg(controller.pid, signal.SIGKILL)
    # the workers dropped theirs on the way out; the controller's template is a leftover of a
    # dead session now, which the next session sweeps
    assert {name.split("_")[3] for name in _of(db)} <= {"main"}
    for stuck in pytester.path.glob("test_*.py"):
        stuck.unlink()
    pytester.makepyfile(test_next="def test_x(): pass")
    pytester.runpytest(f"--cdc-db={db}={SERVER}").assert_outcomes(passed=1)
    assert _of(db) == {}
