"""A listening socket on 127.0.0.1 whose accepted connections each get a thread: the base of the
tests' hand-written servers (raw responses, SOCKS5)."""

from __future__ import annotations

import socket
import threading


class ThreadedServer:
    """Subclasses implement `_handle(conn)`; `close()` stops accepting and closes what is open."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port: int = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self._conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        for conn in self._conns:
            try:
                conn.close()
            except OSError:
                pass


def linger(conn: socket.socket) -> None:
    """Ends the response (FIN), then waits, within the socket's timeout, until the client has closed
    its side: closing while bytes the client sent are still unread resets the connection, and a reset
    can discard the response before the client has read it (what a fixed pause used to paper over)."""
    conn.shutdown(socket.SHUT_WR)
    while conn.recv(65536):
        pass
