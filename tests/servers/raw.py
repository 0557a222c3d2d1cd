"""A tiny raw-socket server for responses no real server would send: garbage, truncations, floods.

Only for malformed responses; everything else is served by uvicorn/hypercorn.
"""

from __future__ import annotations

import socket
import threading
import time

RESPONSES: dict[str, bytes] = {
    "/garbage": b"HELLO THERE\r\n\r\n",
    "/truncated": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
    "/close": b"",
    "/badchunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nhello\r\n",
    "/headerflood": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n",
    "/badgzip": (
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Encoding: gzip\r\nContent-Length: 12\r\n\r\nnot gzipped!"
    ),
    "/badstatus": b"HTTP/1.1 9999 Nope\r\nContent-Length: 0\r\n\r\n",
    "/ok": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
}
STALL_AFTER_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123"


class RawServer:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.drops: dict[str, int] = {}
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
        try:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            path = data.split(b" ", 2)[1].decode()
            if path == "/stall":
                conn.sendall(STALL_AFTER_HEAD)
                self._stop.wait(10)
            elif path == "/silent":
                self._stop.wait(10)
            elif path.startswith("/drop/"):
                # /drop/KEY/N: the first N requests of KEY get the connection closed, no response.
                _, _, key, n = path.split("/")
                with self._lock:
                    self.drops[key] = self.drops.get(key, 0) + 1
                    seen = self.drops[key]
                if seen > int(n):
                    conn.sendall(RESPONSES["/ok"])
                    time.sleep(0.05)
            else:
                conn.sendall(RESPONSES.get(path, RESPONSES["/ok"]))
                time.sleep(0.05)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        for conn in self._conns:
            try:
                conn.close()
            except OSError:
                pass
