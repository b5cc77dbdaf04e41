"""A stand-in for a database server that hangs: it accepts connections and never answers.

:class:`HangingProxy` forwards TCP connections to a real server until :meth:`hang` is called;
from then on nothing is forwarded either way (what clients send sits in the kernel's buffers,
acknowledged, as with a server process that stopped), and new connections are accepted and
never answered.  :meth:`resume` drops the connections it never answered (as a restarted
server would) and forwards new ones again; connections that hung mid-session stay hung until
:meth:`close`.  With ``upstream=None`` it hangs from the start: a socket that accepts and
never answers.
"""

from __future__ import annotations

import selectors
import socket
import threading
from contextlib import suppress
from typing import Any


def upstream_of(url: str) -> tuple[str, int]:
    """(host, port) of a PostgreSQL URL, for the proxy to forward to."""
    from psycopg2.extensions import parse_dsn

    dsn = parse_dsn(url)
    return dsn.get("host") or "127.0.0.1", int(dsn.get("port") or 5432)


def through(proxy: HangingProxy, url: str, **params: str) -> str:
    """``url`` (a libpq URL or DSN) redirected to ``proxy``, with extra ``params``."""
    from psycopg2.extensions import make_dsn

    return str(make_dsn(url, host="127.0.0.1", port=proxy.port, **params))


class HangingProxy:
    def __init__(self, upstream: tuple[str, int] | None = ("127.0.0.1", 5432)) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._hanging = threading.Event()
        if upstream is None:
            self._hanging.set()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._unanswered: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._start(self._accept, "hung-server-accept")

    def __enter__(self) -> HangingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def hang(self) -> None:
        self._hanging.set()

    def resume(self) -> None:
        with self._lock:
            self._hanging.clear()
            unanswered, self._unanswered = self._unanswered, []
        for sock in unanswered:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed.set()
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() below
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            # shutdown() first: a thread blocked reading the other end wakes up at once.
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for t in self._threads:
            t.join(5)

    def _start(self, target: Any, name: str, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._keep(client)
            with self._lock:
                if self._hanging.is_set() or self.upstream is None:
                    self._unanswered.append(client)
                    continue  # accepted, and never answered
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            self._keep(server)
            self._start(self._pump, "hung-server-pump", client, server)

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        # Any socket error (close() shuts everything down under us) ends the forwarding.
        with suppress(OSError):
            self._forward(client, server)

    def _forward(self, client: socket.socket, server: socket.socket) -> None:
        peer = {client: server, server: client}
        with selectors.DefaultSelector() as sel:
            for sock in peer:
                sock.setblocking(False)
                sel.register(sock, selectors.EVENT_READ)
            while not self._closed.is_set():
                if self._hanging.is_set():
                    self._closed.wait(0.05)
                    continue
                for key, _ in sel.select(0.05):
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = src.recv(65536)
                    except BlockingIOError:
                        continue
                    if not data:
                        peer[src].shutdown(socket.SHUT_WR)
                        return
                    peer[src].setblocking(True)
                    peer[src].sendall(data)
                    peer[src].setblocking(False)
