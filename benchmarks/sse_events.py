"""Server-sent events parsed into events, per second: requestx's Rust parser beside what users of
the peers write (their line iterators feeding a Python decoder that follows the same WHATWG rules,
as httpx-sse does). The referee (../shared/bench) has no such row; this is the project's own.

    python benchmarks/sse_events.py --requestx-python .venv/bin/python \
        --peers-python ~/.cache/requestx-bench/venv/bin/python

Each (library) cell runs in its own process against one nginx serving a 200,000-event stream on
127.0.0.1, pinned like the referee (nginx on the last CPU, clients on the others), best of --repeat.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

EVENTS = 200_000
STREAMS = 5

CLIENT = r'''
import asyncio, json, sys, time
LIB, URL, STREAMS, EVENTS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

class Decoder:
    """The WHATWG line rules in Python, as httpx-sse's SSEDecoder applies them."""
    def __init__(self):
        self.event, self.data, self.last_id, self.retry = "", [], "", None
    def decode(self, line):
        if not line:
            if not self.event and not self.data and not self.last_id and self.retry is None:
                return None
            out = (self.event or "message", "\n".join(self.data), self.last_id, self.retry)
            self.event, self.data, self.retry = "", [], None
            return out
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event": self.event = value
        elif field == "data": self.data.append(value)
        elif field == "id":
            if "\0" not in value: self.last_id = value
        elif field == "retry":
            try: self.retry = int(value)
            except ValueError: pass
        return None

async def requestx_async():
    import requestx
    async with requestx.AsyncClient(timeout=60) as c:
        n = 0
        async with requestx.aconnect_sse(c, "GET", URL) as source:
            async for _event in source.aiter_sse():
                n += 1
        return n

async def httpx_async():
    import httpx
    async with httpx.AsyncClient(timeout=60) as c:
        n, d = 0, Decoder()
        async with c.stream("GET", URL) as r:
            async for line in r.aiter_lines():
                n += d.decode(line) is not None
        return n

async def aiohttp_async():
    import aiohttp
    async with aiohttp.ClientSession() as s:
        n, d = 0, Decoder()
        async with s.get(URL) as r:
            async for raw in r.content:
                n += d.decode(raw.decode().rstrip("\r\n")) is not None
        return n

async def pyreqwest_async():
    from pyreqwest.client import ClientBuilder
    c = ClientBuilder().build()
    n, d, tail = 0, Decoder(), b""
    async with c.get(URL).build_streamed() as r:
        while chunk := await r.body_reader.read_chunk():
            parts = (tail + bytes(chunk)).split(b"\n")
            tail = parts.pop()
            for p in parts:
                n += d.decode(p.decode()) is not None
    return n

async def rnet_async():
    import rnet
    c = rnet.Client()
    n, d, tail = 0, Decoder(), b""
    r = await c.get(URL)
    async with r.stream() as s:
        async for chunk in s:
            parts = (tail + bytes(chunk)).split(b"\n")
            tail = parts.pop()
            for p in parts:
                n += d.decode(p.decode()) is not None
    return n

async def main():
    fn = globals()[LIB.replace("-", "_")]
    await fn()  # warm-up: imports, connection
    start = time.perf_counter()
    total = 0
    for _ in range(STREAMS):
        total += await fn()
    elapsed = time.perf_counter() - start
    assert total == STREAMS * EVENTS, total
    print(json.dumps({"value": total / elapsed}))

asyncio.run(main())
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requestx-python", default=sys.executable)
    p.add_argument("--peers-python", default=os.path.expanduser("~/.cache/requestx-bench/venv/bin/python"))
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        print("nginx is not installed (the referee installs it: ../shared/bench/run --quick)", file=sys.stderr)
        return 2
    cpus = sorted(os.sched_getaffinity(0))
    tmp = tempfile.mkdtemp(prefix="requestx-sse-")
    body = b"".join(b'data: {"i": %d, "text": "the quick brown fox jumps over"}\n\n' % i for i in range(EVENTS))
    with open(os.path.join(tmp, "sse"), "wb") as f:
        f.write(body)
    port = free_port()
    with open(os.path.join(tmp, "nginx.conf"), "w") as f:
        f.write(
            f"user root; worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/error.log;\n"
            "events { worker_connections 1024; }\n"
            f"http {{ access_log off; sendfile on; server {{ listen 127.0.0.1:{port}; root {tmp};\n"
            "location = /sse { default_type text/event-stream; } } }\n"
        )
    server = subprocess.Popen(["taskset", "-c", str(cpus[-1]), nginx, "-c", os.path.join(tmp, "nginx.conf")])
    client_cpus = ",".join(map(str, cpus[:-1] or cpus))
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/sse"
        cells = [("requestx-async", args.requestx_python)] + [
            (lib, args.peers_python) for lib in ("httpx-async", "aiohttp-async", "pyreqwest-async", "rnet-async")
        ]
        results: dict[str, float] = {}
        for lib, python in cells:
            best = 0.0
            for _ in range(args.repeat):
                out = subprocess.run(
                    [
                        "taskset",
                        "-c",
                        client_cpus,
                        python,
                        "-c",
                        CLIENT,
                        lib.replace("-async", "_async"),
                        url,
                        str(STREAMS),
                        str(EVENTS),
                    ],
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                if out.returncode != 0:
                    print(f"{lib}: failed: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                    break
                best = max(best, json.loads(out.stdout)["value"])
            results[lib] = best
        peers = {k: v for k, v in results.items() if not k.startswith("requestx") and v}
        best_peer = max(peers, key=lambda k: peers[k]) if peers else None
        print("| workload | unit | " + " | ".join(results) + " | requestx / best peer |")
        print("|---|---|" + "---|" * len(results) + "---|")
        ratio = f"{results['requestx-async'] / peers[best_peer]:.2f}x vs {best_peer}" if best_peer else ""
        print("| sse_events | events/s | " + " | ".join(f"{v:,.0f}" for v in results.values()) + f" | {ratio} |")
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
