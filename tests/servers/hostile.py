"""A hostile HTTP/1.1 server on raw sockets: the request path picks the misbehaviour.

`/NAME` or `/NAME/ARG`: NAME is a route below, ARG its argument (a gate key, a count, an encoding).
Every blocking wait of a handler (a read, a stall, a trickle's pause, a gate) also wakes when the
server closes, so `close()` ends every thread it started; `threads()` lists them for the fixture to
check. Gates let a test, not a timer, decide when the server goes on: `/rst-mid-body-gated/KEY`
sends half a body and waits until the test called `release(KEY)` (it got those bytes), then resets.
"""

from __future__ import annotations

import gzip
import select
import socket
import struct
import threading
import time
import typing
import zlib

#: What every decompression bomb inflates to: zeros, a few MiB (enough to pass any 1 MiB limit).
BOMB_SIZE = 8 << 20
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
#: A complete response a keep-alive connection carries unasked after a good one.
EVIL = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"
TEXT = b"hello, world! " * 100


def _bombs() -> dict[str, bytes]:
    zeros = bytes(BOMB_SIZE)
    bombs = {"gzip": gzip.compress(zeros, 9), "deflate": zlib.compress(zeros, 9)}
    try:
        import brotli

        bombs["br"] = brotli.compress(zeros, quality=5)
    except ImportError:  # pragma: no cover - the test extra installs it
        pass
    try:
        import zstandard

        bombs["zstd"] = zstandard.ZstdCompressor(level=3).compress(zeros)
    except ImportError:  # pragma: no cover
        pass
    return bombs


BOMBS = _bombs()


def _chunked(body: bytes, piece: int = 7) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i : i + piece]), body[i : i + piece]) for i in range(0, len(body), piece)]
    return b"".join(parts) + b"0\r\n\r\n"


def _head(*lines: str | bytes, status: bytes = b"200 OK") -> bytes:
    encoded = [line.encode() if isinstance(line, str) else line for line in lines]
    return b"HTTP/1.1 " + status + b"\r\n" + b"".join(line + b"\r\n" for line in encoded) + b"\r\n"


def _headers(count: int) -> bytes:
    """A response with exactly `count` header lines (Content-Length among them)."""
    return _head("Content-Length: 2", *(f"X-Flood-{i}: v" for i in range(count - 1))) + b"ok"


_GZIPPED = gzip.compress(TEXT)

#: Sent as they are, then the connection is kept for the next request (a FIN right after a complete
#: response would race the client's next request on it: `keepalive-fin` is that case, on purpose),
#: except those in CLOSE, whose end is the connection's.
STATIC: dict[str, bytes] = {
    # -- status lines --
    "garbage": b"HELLO THERE\r\n\r\n",
    "empty": b"",
    "http09": b"hello from 1991\n",  # no status line at all: an HTTP/0.9 answer
    "status-9999": b"HTTP/1.1 9999 Nope\r\nContent-Length: 0\r\n\r\n",
    "status-20": b"HTTP/1.1 20 Short\r\nContent-Length: 0\r\n\r\n",
    "status-abc": b"HTTP/1.1 abc Letters\r\nContent-Length: 0\r\n\r\n",
    "status-600": b"HTTP/1.1 600 Beyond\r\nContent-Length: 2\r\n\r\nok",  # three digits: valid (h11 too)
    "no-reason": b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok",  # the reason phrase is optional
    "http3-version": b"HTTP/3.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "lf-only": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",  # bare LF line ends (RFC 9112 2.2 allows)
    # -- header lines --
    "no-colon": b"HTTP/1.1 200 OK\r\nThis line has no colon\r\nContent-Length: 2\r\n\r\nok",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-Folded: first\r\n  second\r\nContent-Length: 2\r\n\r\nok",
    "space-before-colon": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
    "header-nul": b"HTTP/1.1 200 OK\r\nX-Nul: a\x00b\r\nContent-Length: 2\r\n\r\nok",
    "headers-1000": _headers(1000),  # the default Limits(max_headers=1000): just within
    "headers-1001": _headers(1001),
    "headers-10": _headers(10),
    "headers-11": _headers(11),
    "big-head": _head("Content-Length: 2", "X-Big: " + "a" * (1 << 20)) + b"ok",  # one 1 MiB header
    # -- framing --
    "fin-mid-body": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
    "read-to-eof": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + TEXT,  # no length: the body ends at FIN
    "chunked-truncated": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nwor",
    "chunked-no-last": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    "chunk-zzz": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nhello\r\n0\r\n\r\n",
    "chunk-negative": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
    "chunk-0x": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    "chunk-overflow": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    # fits in 64 bits, but 16 EiB never come
    "chunk-huge": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\nhello\r\n0\r\n\r\n",
    "chunk-too-long": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
    "chunk-extension": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;name=value\r\nok\r\n0\r\n\r\n",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(TEXT),
    "cl-conflict": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
    "cl-list-conflict": b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok!",
    "cl-duplicate-same": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    "cl-negative": b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok",
    "cl-letters": b"HTTP/1.1 200 OK\r\nContent-Length: two\r\n\r\nok",
    # RFC 9112 6.3: Transfer-Encoding overrides Content-Length (which here would cut the body short)
    "cl-and-te": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(TEXT),
    "te-unknown": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: mystery\r\n\r\nbody",
    # a transfer coding the client did not ask for (TE:) and does not undo: not a body to hand out
    "te-gzip-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + _chunked(_GZIPPED),
    "switch": b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: nonsense\r\n\r\n",
    "continue-flood": b"HTTP/1.1 100 Continue\r\n\r\n" * 1000 + OK,
    "early-hints-flood": b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" * 1000 + OK,
    # -- content codings --
    "gzip-invalid": (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % (40 + 64)
        + _GZIPPED[:40]  # the header and a start of valid deflate data ...
        + b"\xff" * 64  # ... then bytes no deflate stream can hold
    ),
    "gzip-ok": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(_GZIPPED), _GZIPPED),
}


CLOSE = frozenset(
    {
        "empty",
        "http09",
        "fin-mid-body",
        "read-to-eof",
        "chunked-truncated",
        "chunked-no-last",
        "chunk-huge",
        "te-unknown",  # a body of unknown framing ends with the connection
    }
)


def _linger_reset(conn: socket.socket) -> None:
    """Closes with a TCP RST instead of a FIN (SO_LINGER on, timeout 0)."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


class _Closed(Exception):
    """The client went away, or the server is closing."""


class HostileServer:
    """Listens on 127.0.0.1; every connection gets a thread; `close()` stops and joins them all."""

    #: How long a handler waits for anything (a request, a client's close, a gate) at most.
    WAIT = 10.0

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # A port bound but never listening: a connection to it is refused, and nobody else can take it.
        self._dead = socket.socket()
        self._dead.bind(("127.0.0.1", 0))
        self.dead_url = f"http://127.0.0.1:{self._dead.getsockname()[1]}"
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self.connections = 0  # accepted so far
        self._acceptor = threading.Thread(target=self._serve, name="hostile-accept", daemon=True)
        self._acceptor.start()

    # --- the test's side ---------------------------------------------------------------------

    def _event(self, name: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(name, threading.Event())

    def release(self, key: str) -> None:
        """Lets the handler waiting at gate `key` go on."""
        self._event("go:" + key).set()

    def wait_done(self, key: str, timeout: float = 10.0) -> bool:
        """Waits until the handler of `key` did its deed (sent its last bytes, or closed)."""
        return self._event("done:" + key).wait(timeout)

    def threads(self) -> list[threading.Thread]:
        with self._lock:
            return [self._acceptor, *self._threads]

    def close(self) -> None:
        self._stop.set()
        self._wake_w.send(b"x")  # wakes every select() below, for good (never drained)
        deadline = time.monotonic() + 10
        self._acceptor.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # unblocks a sendall() into a full window
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self.threads():
            thread.join(max(0.0, deadline - time.monotonic()))
        self.sock.close()
        self._dead.close()
        self._wake_r.close()
        self._wake_w.close()

    # --- plumbing ----------------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.sock, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            thread = threading.Thread(target=self._connection, args=(conn,), name="hostile-conn", daemon=True)
            with self._lock:
                self.connections += 1
                self._conns.add(conn)
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _readable(self, conn: socket.socket, timeout: float) -> bool:
        """Whether `conn` became readable within `timeout`; raises _Closed if the server closes."""
        ready, _, _ = select.select([conn, self._wake_r], [], [], timeout)
        if self._wake_r in ready:
            raise _Closed
        return conn in ready

    def _recv(self, conn: socket.socket) -> bytes:
        if not self._readable(conn, self.WAIT):
            raise _Closed
        data = conn.recv(65536)
        if not data:
            raise _Closed
        return data

    def _pause(self, conn: socket.socket, seconds: float) -> None:
        """Waits `seconds` (the trickle's pace), or less if the client closed: then raises _Closed."""
        started = time.monotonic()
        if self._readable(conn, seconds):
            if not conn.recv(65536, socket.MSG_PEEK):
                raise _Closed
            self._stop.wait(max(0.0, seconds - (time.monotonic() - started)))  # bytes, not a close

    def _wait_gate(self, conn: socket.socket, key: str) -> None:
        gate = self._event("go:" + key)
        deadline = time.monotonic() + self.WAIT
        while not gate.is_set():  # the gate, the client's close or the server's, bounded
            if time.monotonic() > deadline:
                raise _Closed
            self._pause(conn, 0.01)

    def _finish(self, conn: socket.socket) -> None:
        """Ends the response with a FIN, then waits until the client closed: closing with bytes
        it sent unread would reset the connection and could discard the response."""
        try:
            conn.shutdown(socket.SHUT_WR)
            while self._recv(conn):
                pass
        except (_Closed, OSError):
            pass

    def _connection(self, conn: socket.socket) -> None:
        conn.settimeout(self.WAIT)  # the bound of a sendall() the client never reads
        buffer = b""
        try:
            for index in range(10_000):  # requests on this connection, each answered by a route
                while b"\r\n\r\n" not in buffer:
                    buffer += self._recv(conn)
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += self._recv(conn)
                buffer = buffer[length:]
                name, _, arg = target.split("?", 1)[0].lstrip("/").partition("/")
                if not self._route(conn, method, name, arg, index):
                    return
        except (_Closed, OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._conns.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    # --- the routes: True keeps the connection for the next request ---------------------------

    def _route(self, conn: socket.socket, method: str, name: str, arg: str, index: int) -> bool:
        if name in STATIC:
            conn.sendall(STATIC[name])
            if name in CLOSE:
                self._finish(conn)
                return False
            return True
        handler = getattr(self, "_r_" + name.replace("-", "_"), None)
        if handler is None:
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return True
        return bool(handler(conn, method=method, arg=arg, index=index))

    def _r_ok(self, conn: socket.socket, **_: typing.Any) -> bool:
        conn.sendall(OK)
        return True

    def _r_echo(self, conn: socket.socket, arg: str, **_: typing.Any) -> bool:
        """Answers with ARG: which request an answer belongs to."""
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(arg), arg.encode()))
        return True

    # resets: after the request, after the head, in the middle of the body

    def _r_rst_before(self, conn: socket.socket, **_: typing.Any) -> bool:
        _linger_reset(conn)
        return False

    def _r_rst_after_head(self, conn: socket.socket, **_: typing.Any) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        _linger_reset(conn)
        return False

    def _r_rst_mid_body(self, conn: socket.socket, **_: typing.Any) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 50)
        _linger_reset(conn)
        return False

    def _r_rst_after_head_gated(self, conn: socket.socket, arg: str, **_: typing.Any) -> bool:
        """The head, then a reset once the test says it has the head (it then reads the body)."""
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        self._wait_gate(conn, arg)
        _linger_reset(conn)
        return False

    def _r_rst_mid_body_gated(self, conn: socket.socket, arg: str, **_: typing.Any) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 50)
        self._wait_gate(conn, arg)
        _linger_reset(conn)
        return False

    def _r_fin_mid_body_gated(self, conn: socket.socket, arg: str, **_: typing.Any) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 50)
        self._wait_gate(conn, arg)
        self._finish(conn)
        return False

    # slowness

    def _r_trickle_head(self, conn: socket.socket, **_: typing.Any) -> bool:
        """A whole response, a byte at a time (each well within any read timeout)."""
        for byte in OK:
            conn.sendall(bytes([byte]))
            self._pause(conn, 0.002)
        return True

    def _r_trickle_body_slow(self, conn: socket.socket, **_: typing.Any) -> bool:
        """A byte of the body each second: slower than the tests' read timeout."""
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            conn.sendall(b"x")
            self._pause(conn, 1.0)
        return True

    def _r_trickle_body_fast(self, conn: socket.socket, **_: typing.Any) -> bool:
        """A byte each 20 ms, 500 in all: no read waits long, the whole body takes 10 s."""
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n")
        for _ in range(500):
            conn.sendall(b"x")
            self._pause(conn, 0.02)
        return True

    def _r_continue_endless(self, conn: socket.socket, **_: typing.Any) -> bool:
        """100 Continue after 100 Continue, never the answer (bounded: about 10 s)."""
        for _ in range(1000):
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._pause(conn, 0.01)
        return False

    def _r_endless_head(self, conn: socket.socket, **_: typing.Any) -> bool:
        """Header lines of 8 KiB, never the blank line (bounded: 32 MiB, if the client reads on)."""
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        line = b"X-Endless: " + b"a" * 8192 + b"\r\n"
        for _ in range(4096):
            conn.sendall(line)
        return False

    def _r_stall_after_head(self, conn: socket.socket, **_: typing.Any) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123")
        self._pause(conn, self.WAIT)
        return False

    def _r_silent(self, conn: socket.socket, **_: typing.Any) -> bool:
        """Reads the request, never answers."""
        self._pause(conn, self.WAIT)
        return False

    # redirects

    def _r_redirect_loop(self, conn: socket.socket, **_: typing.Any) -> bool:
        conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /redirect-loop\r\nContent-Length: 0\r\n\r\n")
        return True

    def _r_redirect_ping(self, conn: socket.socket, **_: typing.Any) -> bool:
        conn.sendall(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /redirect-pong\r\nContent-Length: 0\r\n\r\n")
        return True

    def _r_redirect_pong(self, conn: socket.socket, **_: typing.Any) -> bool:
        conn.sendall(b"HTTP/1.1 308 Permanent Redirect\r\nLocation: /redirect-ping\r\nContent-Length: 0\r\n\r\n")
        return True

    def _r_redirect_dead(self, conn: socket.socket, **_: typing.Any) -> bool:
        location = self.dead_url.encode() + b"/nowhere"
        conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n")
        return True

    def _r_redirect_bad_location(self, conn: socket.socket, **_: typing.Any) -> bool:
        conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: http://[::1/\r\nContent-Length: 0\r\n\r\n")
        return True

    # decompression bombs

    def _r_bomb(self, conn: socket.socket, arg: str, **_: typing.Any) -> bool:
        body = BOMBS[arg]
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n%s" % (arg.encode(), len(body), body)
        )
        return True

    # keep-alive abuse

    def _r_head_with_body(self, conn: socket.socket, method: str, **_: typing.Any) -> bool:
        """A body even to a HEAD (whose response has none): the bytes stay on the connection."""
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil")
        return True

    def _r_keepalive_garbage(self, conn: socket.socket, **_: typing.Any) -> bool:
        """A good answer, then a second one nobody asked for, on a connection kept alive."""
        conn.sendall(OK + EVIL)
        return True

    def _r_keepalive_garbage_late(self, conn: socket.socket, arg: str, **_: typing.Any) -> bool:
        """A good answer; once the test has it (gate), an unasked one on the idle connection."""
        conn.sendall(OK)
        self._wait_gate(conn, arg)
        conn.sendall(EVIL)
        self._event("done:" + arg).set()
        return True

    def _r_keepalive_fin(self, conn: socket.socket, arg: str, **_: typing.Any) -> bool:
        """Keeps nothing alive despite saying so: a FIN once the answer is out (`done:ARG` then)."""
        conn.sendall(OK)
        conn.shutdown(socket.SHUT_WR)
        self._event("done:" + arg).set()
        self._finish(conn)
        return False

    def _r_keepalive_drop_second(self, conn: socket.socket, index: int, **_: typing.Any) -> bool:
        """Answers the first request of a connection; takes the next one and closes unanswered (the
        race of a server's keep-alive expiry with the client's next request)."""
        if index == 0:
            conn.sendall(OK)
            return True
        self._finish(conn)
        return False
