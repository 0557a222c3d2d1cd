"""A small SOCKS5 proxy (RFC 1928, with RFC 1929 username/password) on 127.0.0.1 for the proxy tests.

It relays CONNECT tunnels to loopback targets only and records each target as the client named it
(an IPv4 address, or a host name when the client left resolution to the proxy, as socks5h does).
"""

from __future__ import annotations

import socket
import struct
import threading

from tests.servers.listener import ThreadedServer


class SocksServer(ThreadedServer):
    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.credentials = credentials
        self.targets: list[tuple[str, int]] = []
        super().__init__()

    def url(self, scheme: str = "socks5", auth: tuple[str, str] | None = None) -> str:
        userinfo = f"{auth[0]}:{auth[1]}@" if auth else ""
        return f"{scheme}://{userinfo}127.0.0.1:{self.port}"

    @staticmethod
    def _read(conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError("client went away")
            data += chunk
        return data

    def _handle(self, conn: socket.socket) -> None:
        upstream = None
        try:
            conn.settimeout(10)
            version, count = self._read(conn, 2)
            methods = self._read(conn, count)
            wanted = 2 if self.credentials else 0
            if version != 5 or wanted not in methods:
                conn.sendall(b"\x05\xff")
                return
            conn.sendall(bytes([5, wanted]))
            if self.credentials:
                _, ulen = self._read(conn, 2)
                user = self._read(conn, ulen).decode()
                (plen,) = self._read(conn, 1)
                password = self._read(conn, plen).decode()
                ok = (user, password) == self.credentials
                conn.sendall(b"\x01\x00" if ok else b"\x01\x01")
                if not ok:
                    return
            _, command, _, atyp = self._read(conn, 4)
            if atyp == 1:
                host = socket.inet_ntoa(self._read(conn, 4))
            elif atyp == 3:
                (length,) = self._read(conn, 1)
                host = self._read(conn, length).decode()
            else:
                conn.sendall(b"\x05\x08\x00\x01" + bytes(6))  # address type not supported
                return
            (port,) = struct.unpack("!H", self._read(conn, 2))
            self.targets.append((host, port))
            if command != 1 or host not in ("127.0.0.1", "localhost"):
                conn.sendall(b"\x05\x02\x00\x01" + bytes(6))  # not allowed: loopback only
                return
            upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
            conn.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", port))
            self._relay(conn, upstream)
        except (OSError, ConnectionError, ValueError):
            pass
        finally:
            conn.close()
            if upstream is not None:
                upstream.close()

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        def pipe(src: socket.socket, dst: socket.socket) -> None:
            try:
                while chunk := src.recv(65536):
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        other = threading.Thread(target=pipe, args=(b, a), daemon=True)
        other.start()
        pipe(a, b)
        other.join(10)
