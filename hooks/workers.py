"""Bounded work: statements are parsed and checked in worker processes the hook can kill.

sqlglot loops forever on some inputs (one flipped byte of a real T-SQL file was enough:
``CREATE TABLE t (id INT) WITH (SYSTEM_VERSIONING = ON (X@ = 1))``), and a pre-commit hook must
never hang.  A thread cannot be stopped in Python, and a ``SIGALRM`` handler never runs inside
sqlglotc (mypyc-compiled sqlglot does not check for signals), so the work runs in forked worker
processes instead:

- before each statement a worker bumps a sequence number in shared memory and writes the
  statement's offset beside it (:func:`statement`);
- the parent, while it waits for results, notices a statement that has been running longer
  than the bound, kills that worker and gives the file to a new one, which reports the
  statement as not understood ("gave up after N s") without parsing it again.

Workers are kept for the whole run, so the schema a worker parsed for the index model is still
in its parse memo when it lints the same migration; a job goes back to the worker that already
ran a job with the same key.  Work that does not fit the model (an exception, a worker that
dies) becomes a :class:`JobFailed` result, never a traceback.

With the bound switched off (``statement-timeout = 0``) or where processes cannot be started,
everything runs in this process, unbounded.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

__all__ = [
    "JobFailed",
    "WorkerPool",
    "gave_up_reason",
    "state",
    "statement",
]

#: Below this many files, one worker: starting more costs more than it saves.
PARALLEL_MIN_JOBS = 64
#: A file with more stuck statements than this is given up as a whole.
MAX_RESTARTS_PER_JOB = 20

Job = tuple[str, tuple[Any, ...]]  # (key: the file, arguments)


def gave_up_reason(seconds: float) -> str:
    return f"gave up after {seconds:g} s"


def _nothing() -> None:
    pass


# -- inside a worker (or this process, when unbounded) -------------------------------------

_slot: Any = None  # shared [sequence, offset]; offset -1 while no statement is running
_gave_up: dict[int, str] = {}
_state: dict[str, Any] = {}


def statement(offset: int) -> str | None:
    """Mark the start of work on the statement at file ``offset``.

    Returns why the statement must be skipped (it made an earlier worker hang), else None.
    """
    slot = _slot
    if slot is not None:
        slot[1] = offset
        slot[0] += 1
    return _gave_up.get(offset)


def state() -> dict[str, Any]:
    """What the job functions share in this worker (set by the pool's init and set_state)."""
    return _state


class JobFailed(NamedTuple):
    """A job that raised or whose worker died outside any statement."""

    message: str


def _run_job(func: Callable[..., Any], args: tuple[Any, ...], gave_up: dict[int, str]) -> Any:
    _gave_up.clear()
    _gave_up.update(gave_up)
    try:
        return func(*args)
    except Exception as error:  # the hook reports it on the file, never as a traceback
        return JobFailed(f"{type(error).__name__}: {error}".split("\n")[0][:300])
    finally:
        _gave_up.clear()
        if _slot is not None:
            _slot[1] = -1
            _slot[0] += 1


def _serve(
    receive: Callable[[], Any],
    send: Callable[[Any], None],
    slot: Any,
    init: tuple[Callable[..., Any], tuple[Any, ...]],
) -> None:
    """A worker's life: run ``init``, then jobs and state updates until told to stop."""
    global _slot
    _slot = slot
    init[0](*init[1])
    while True:
        try:
            message = receive()
        except (EOFError, OSError):
            return  # the parent is gone
        if message[0] == "stop":
            return
        if message[0] == "state":
            _state[message[1]] = message[2]
            continue
        _, index, func, args, gave_up = message
        send((index, _run_job(func, args, gave_up)))


# -- in the hook process --------------------------------------------------------------------

Init = tuple[Callable[..., Any], tuple[Any, ...]]


def _write(fd: int, message: Any) -> None:
    import pickle

    data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    view = memoryview(len(data).to_bytes(8, "little") + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read(fd: int) -> Any:
    import pickle

    return pickle.loads(_read_exactly(fd, int.from_bytes(_read_exactly(fd, 8), "little")))


class _ForkWorker:
    """A forked child talking over two pipes, its progress in an anonymous shared mapping.

    Plain ``os.fork``: multiprocessing's machinery (sockets, ctypes, tempfile) costs more to
    import than a worker costs to start, and a cold lint of one changed file pays it.
    """

    def __init__(self, init: Init, siblings: Sequence[Any]) -> None:
        import mmap

        self.slot = memoryview(mmap.mmap(-1, 16)).cast("q")
        self.slot[1] = -1
        job_read, self._jobs = os.pipe()
        self._results, result_write = os.pipe()
        self.fds: tuple[int, ...] = (self._jobs, self._results)
        import gc

        # The child's collector would otherwise walk (and so copy, page by page) every object
        # it inherited: measured, that was most of what a worker costs to start.
        gc.freeze()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child (its results are what tests check)
            code = 0
            try:
                # other workers' pipes: holding them open would hide their end-of-file
                for fd in (*self.fds, *(fd for w in siblings for fd in w.fds)):
                    with contextlib.suppress(OSError):
                        os.close(fd)
                _serve(lambda: _read(job_read), lambda m: _write(result_write, m), self.slot, init)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        gc.unfreeze()  # here the objects stay collectable
        os.close(job_read)
        os.close(result_write)
        self.exitcode: int | None = None
        self.job: int | None = None
        self.seen = (-1, 0.0)  # (sequence, when the parent first saw it)

    def send(self, message: Any) -> None:
        _write(self._jobs, message)

    def recv(self) -> Any:
        return _read(self._results)

    def alive(self) -> bool:
        if self.exitcode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.exitcode = os.waitstatus_to_exitcode(status)
        return self.exitcode is None

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # a worker that died has closed its end
            self.send(("stop",))
        deadline = time.monotonic() + 1
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.001)
        self.kill()

    def kill(self) -> None:
        if self.alive():
            import signal

            os.kill(self.pid, signal.SIGKILL)
            _, status = os.waitpid(self.pid, 0)
            self.exitcode = os.waitstatus_to_exitcode(status)
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = ()  # the numbers may be reused by the next pipe: never close them again

    @staticmethod
    def wait(workers: Sequence[Any], timeout: float) -> set[Any]:
        import select

        by_fd = {w.fds[1]: w for w in workers}
        readable, _, _ = select.select(list(by_fd), [], [], timeout)
        return {by_fd[fd] for fd in readable}


class _SpawnWorker:
    """The same over multiprocessing's spawn, where there is no fork (Windows)."""

    def __init__(self, init: Init, siblings: Sequence[Any]) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.slot = context.RawArray("q", 2)
        self.slot[1] = -1
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_spawned, args=(child, self.slot, init), daemon=True)
        self.process.start()
        child.close()
        self.job: int | None = None
        self.seen = (-1, 0.0)

    @property
    def exitcode(self) -> int | None:
        code = self.process.exitcode
        return None if code is None else int(code)

    def send(self, message: Any) -> None:
        self.conn.send(message)

    def recv(self) -> Any:
        return self.conn.recv()

    def alive(self) -> bool:
        return bool(self.process.is_alive())

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(("stop",))
        self.process.join(timeout=1)
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()

    @staticmethod
    def wait(workers: Sequence[Any], timeout: float) -> set[Any]:
        from multiprocessing.connection import wait

        ready = wait([w.conn for w in workers], timeout)
        return {w for w in workers if w.conn in ready}


def _spawned(conn: Any, slot: Any, init: Init) -> None:
    _serve(conn.recv, conn.send, slot, init)


class WorkerPool:
    """Runs jobs in worker processes, each statement bounded by ``timeout`` seconds.

    ``timeout`` None or 0: no bound, jobs run in this process.  ``init`` runs first in every
    worker (and here when unbounded); it must be picklable where processes are spawned.
    """

    def __init__(
        self,
        *,
        timeout: float | None,
        init: tuple[Callable[..., Any], tuple[Any, ...]] = (_nothing, ()),
        max_workers: int | None = None,
        start_method: str | None = None,
        preload: Sequence[str] = ("pytest_cdc_hooks.lint", "pytest_cdc_hooks.usage"),
    ) -> None:
        self.timeout = timeout or None
        self._init = init
        self._preload = preload
        self._max_workers = max_workers or min(os.cpu_count() or 1, 8)
        self._workers: list[Any] = []
        self._kind: Any = None
        self._state: dict[str, Any] = {}
        self._home: dict[str, int] = {}
        #: job key -> {statement offset: reason} of statements given up on
        self.gave_up: dict[str, dict[int, str]] = {}
        if self.timeout is not None:
            self._kind = _worker_kind(init, start_method)
            if self._kind is None:
                self.timeout = None  # no way to start processes: unbounded, in process
        if self.timeout is None:
            init[0](*init[1])

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._workers.clear()

    def set_state(self, name: str, value: Any) -> None:
        """Give every worker (present and future) ``state()[name] = value``."""
        self._state[name] = value
        if self.timeout is None:
            _state[name] = value
        for worker in self._workers:
            worker.send(("state", name, value))

    def map(self, func: Callable[..., Any], jobs: Sequence[Job]) -> list[Any]:
        """``func(*args)`` for every job, in order; JobFailed where a job could not run."""
        if self.timeout is None:
            return [_run_job(func, args, {}) for _key, args in jobs]
        if not jobs:
            return []
        wanted = 1 if len(jobs) < PARALLEL_MIN_JOBS else self._max_workers
        if wanted > len(self._workers) + 1:
            # forked workers share what the parent imported: import the parser once, here
            import importlib

            for module in self._preload:
                importlib.import_module(module)
        while len(self._workers) < wanted:
            self._workers.append(self._start())
        return self._run(func, jobs)

    def _start(self) -> Any:
        worker = self._kind(self._init, self._workers)
        for name, value in self._state.items():
            worker.send(("state", name, value))
        return worker

    def _run(self, func: Callable[..., Any], jobs: Sequence[Job]) -> list[Any]:
        assert self.timeout is not None
        timeout = self.timeout
        poll = min(max(timeout / 5, 0.01), 0.25)
        results: list[Any] = [None] * len(jobs)
        done = [False] * len(jobs)
        pending = list(range(len(jobs)))
        restarts: dict[int, int] = {}
        while pending or any(w.job is not None for w in self._workers):
            for slot, worker in enumerate(self._workers):
                if worker.job is None and pending:
                    index = self._pick(pending, slot, jobs)
                    key, args = jobs[index]
                    self._home[key] = slot
                    worker.job = index
                    worker.seen = (worker.slot[0], time.monotonic())
                    worker.send(("job", index, func, args, self.gave_up.get(key, {})))
            busy = [w for w in self._workers if w.job is not None]
            ready = self._kind.wait(busy, poll)
            now = time.monotonic()
            for slot, worker in enumerate(self._workers):
                if worker.job is None:
                    continue
                index = worker.job
                if worker in ready:
                    try:
                        got, result = worker.recv()
                    except (EOFError, OSError):
                        pass  # died while answering: handled as dead below
                    else:
                        results[got], done[got] = result, True
                        worker.job = None
                        continue
                seq, offset = worker.slot[0], worker.slot[1]
                if seq != worker.seen[0]:
                    worker.seen = (seq, now)
                stuck = offset >= 0 and now - worker.seen[1] > timeout
                if not stuck and worker.alive():
                    continue
                worker.kill()
                code = worker.exitcode
                self._workers[slot] = self._start()
                key = jobs[index][0]
                restarts[index] = restarts.get(index, 0) + 1
                if offset < 0:
                    results[index] = JobFailed(f"the worker process died (exit code {code})")
                    done[index] = True
                elif restarts[index] > MAX_RESTARTS_PER_JOB:
                    results[index] = JobFailed(
                        f"gave up on the file after {MAX_RESTARTS_PER_JOB} stuck statements"
                    )
                    done[index] = True
                else:
                    reason = (
                        gave_up_reason(timeout)
                        if stuck
                        else f"the worker process died on it (exit code {code})"
                    )
                    self.gave_up.setdefault(key, {})[offset] = reason
                    pending.insert(0, index)
        assert all(done)
        return results

    def _pick(self, pending: list[int], slot: int, jobs: Sequence[Job]) -> int:
        # The worker that already ran a job for this file has its statements in its parse memo.
        for position, index in enumerate(pending):
            if self._home.get(jobs[index][0], slot) == slot:
                return pending.pop(position)
        return pending.pop(0)


def _worker_kind(init: Init, method: str | None) -> Any:
    """Fork where the platform has it (workers inherit the imported parser); else spawn, when
    ``init`` can be sent to a new interpreter; else None (work in this process)."""
    if hasattr(os, "fork") and method in (None, "fork"):
        return _ForkWorker
    import pickle

    try:
        pickle.dumps(init)
    except Exception:
        return None
    return _SpawnWorker
