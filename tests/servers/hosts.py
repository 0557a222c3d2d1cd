"""Many hosts in one process: a keep-alive HTTP/1.1 server on N loopback ports (each port is a
host to the pool's per-host limits), counting per port the requests in flight now and at most, and
when each started, so a test can see the limits held across a whole cluster.

`python -m tests.servers.hosts N` prints the ports as one JSON line, then serves until killed.
`GET /item?i=..&delay=S` answers after S seconds; `GET /stats` (any port) gives every port's
{"count", "max", "starts"}; `GET /reset` clears them.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.parse

STATS: dict[int, dict[str, float | int | list[float]]] = {}
INFLIGHT: dict[int, int] = {}


def _reset(ports: list[int]) -> None:
    for port in ports:
        STATS[port] = {"count": 0, "max": 0, "starts": []}
        INFLIGHT[port] = 0


async def _serve(port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ", 2)[1].decode()
            path, _, query = target.partition("?")
            params = dict(urllib.parse.parse_qsl(query))
            status = b"200 OK"
            if path == "/item":
                stats = STATS[port]
                INFLIGHT[port] += 1
                stats["count"] = int(stats["count"]) + 1
                stats["max"] = max(int(stats["max"]), INFLIGHT[port])
                starts = stats["starts"]
                assert isinstance(starts, list)
                starts.append(time.monotonic())
                try:
                    delay = float(params.get("delay", "0"))
                    if delay:
                        await asyncio.sleep(delay)
                finally:
                    INFLIGHT[port] -= 1
                body = json.dumps({"port": port, "i": params.get("i")}).encode()
            elif path == "/stats":
                body = json.dumps(STATS).encode()
            elif path == "/reset":
                _reset(list(STATS))
                body = b"{}"
            elif path.startswith("/status/"):
                status = path[8:].encode() + b" X"
                body = b"{}"
            else:
                status, body = b"404 Not Found", b"{}"
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main(n: int) -> None:
    ports = []
    running = []
    for _ in range(n):
        holder: list[int] = []

        def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter, holder: list[int] = holder) -> object:
            return _serve(holder[0], r, w)

        server = await asyncio.start_server(handler, "127.0.0.1", 0, backlog=2048)
        holder.append(server.sockets[0].getsockname()[1])
        ports.append(holder[0])
        running.append(server)
    _reset(ports)
    print(json.dumps(ports), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(int(sys.argv[1])))
    else:
        uvloop.run(main(int(sys.argv[1])))
