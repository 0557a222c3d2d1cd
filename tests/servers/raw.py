"""A tiny raw-socket server for responses no real server would send: garbage, truncations, floods.

Only for malformed responses; everything else is served by uvicorn/hypercorn.
"""

from __future__ import annotations

import socket
import threading

from tests.servers.listener import ThreadedServer, linger

RESPONSES: dict[str, bytes] = {
    "/garbage": b"HELLO THERE\r\n\r\n",
    "/truncated": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
    "/close": b"",
    # Announces a body large enough to be read into place (src/body/presized.rs), then ends early.
    "/truncated-large": b"HTTP/1.1 200 OK\r\nContent-Length: 8388608\r\n\r\n" + b"x" * 100_000,
    # Announces a petabyte, sends 100 bytes: a clean protocol error (the length is above what is
    # ever allocated up front, src/body/presized.rs).
    "/huge-length": b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000\r\n\r\n" + b"x" * 100,
    "/badchunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nhello\r\n",
    "/headerflood": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n",
    "/badgzip": (
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Encoding: gzip\r\nContent-Length: 12\r\n\r\nnot gzipped!"
    ),
    "/badstatus": b"HTTP/1.1 9999 Nope\r\nContent-Length: 0\r\n\r\n",
    # 500 header lines: more than hyper's default of 100, fewer than httpx's order of magnitude.
    "/many-headers": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n"
    + b"".join(b"Set-Cookie: c%d=v\r\n" % i for i in range(500))
    + b"\r\nok",
    # A protocol switch nobody asked for, and a transfer coding nobody knows (h11 refuses both).
    "/switch": b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: nonsense\r\n\r\n",
    "/unknown-te": b"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: mystery\r\n\r\nbody",
    "/ok": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    # A reason phrase of the server's own.
    "/custom-reason": b"HTTP/1.1 404 Gone Fishing\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno",
    "/empty-reason": b"HTTP/1.1 200 \r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
}


def _chunked(body: bytes, piece: int = 1 << 16) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i : i + piece]), body[i : i + piece]) for i in range(0, len(body), piece)]
    return b"".join(parts) + b"0\r\n\r\n"


# Both framings at once (RFC 9112: Transfer-Encoding wins), announcing 4 MiB around a chunked body
# that is longer or shorter: the announced length must not decide what the body is.
for _name, _size in (("/te-and-cl-long", 5 << 20), ("/te-and-cl-short", 1 << 20)):
    RESPONSES[_name] = (
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4194304\r\nTransfer-Encoding: chunked\r\n\r\n"
        + _chunked(bytes(range(256)) * (_size // 256))
    )
STALL_AFTER_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123"


class RawServer(ThreadedServer):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.drops: dict[str, int] = {}
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}"

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
                    linger(conn)
            else:
                conn.sendall(RESPONSES.get(path, RESPONSES["/ok"]))
                linger(conn)
        except OSError:
            pass
        finally:
            conn.close()
