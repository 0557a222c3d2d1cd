"""Whole (non-streamed) bodies: large ones with a Content-Length are written into their `bytes` as they
arrive (src/presized.rs); every other body is joined once. Checked byte for byte over the network."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

import requestx
from tests.servers.app import blob

MIB = 1 << 20
PRESIZED_MIN = 4 * MIB  # src/presized.rs


@pytest.mark.parametrize("size", [PRESIZED_MIN - 1, PRESIZED_MIN, PRESIZED_MIN + 1, 9 * MIB + 3])
@pytest.mark.parametrize("length", [True, False], ids=["content-length", "no-length"])
def test_large_bodies_arrive_whole_sync(server, size: int, length: bool) -> None:
    params = {"size": size, "seed": size, **({} if length else {"nolength": 1})}
    with requestx.Client(timeout=30) as c:
        r = c.get(server.url + "/blob", params=params)
    assert r.headers.get("content-length") == (str(size) if length else None)
    assert type(r.content) is bytes
    assert r.content == blob(size, size)


def test_large_bodies_arrive_whole_async(server, arun) -> None:
    sizes = [PRESIZED_MIN, 6 * MIB + 1, 5 * MIB]

    async def main() -> list[bytes]:
        async with requestx.AsyncClient(timeout=30) as c:
            calls = [lambda n=n: c.get(server.url + "/blob", params={"size": n, "seed": n}) for n in sizes]
            return [r.content for r in await arun.gather(calls)]

    assert arun(main) == [blob(n, n) for n in sizes]


def test_large_bodies_over_http2(h2_server) -> None:
    with requestx.Client(http1=False, http2=True, timeout=30) as c:
        for size in (PRESIZED_MIN, 5 * MIB + 17):
            r = c.get(h2_server.url + "/blob", params={"size": size, "seed": 3})
            assert r.http_version == "HTTP/2"
            assert r.headers["content-length"] == str(size)
            assert r.content == blob(size, 3)


def test_head_of_a_large_body_is_empty(server) -> None:
    with requestx.Client(timeout=30) as c:
        r = c.head(server.url + "/blob", params={"size": 8 * MIB})
        assert r.status_code == 200
        assert r.headers["content-length"] == str(8 * MIB)
        assert r.content == b""
        assert c.get(server.url + "/blob", params={"size": 8 * MIB}).content == blob(8 * MIB, 0)


def test_large_body_cut_short_raises_and_the_client_recovers(raw_server) -> None:
    with requestx.Client(timeout=10) as c:
        for _ in range(3):
            with pytest.raises(requestx.RemoteProtocolError):
                c.get(raw_server.url + "/truncated-large")
        assert c.get(raw_server.url + "/ok").text == "ok"


@pytest.mark.parametrize(("path", "size"), [("/te-and-cl-long", 5 << 20), ("/te-and-cl-short", 1 << 20)])
def test_chunked_framing_wins_over_an_announced_length(raw_server, path: str, size: int) -> None:
    with requestx.Client(timeout=10) as c:
        assert c.get(raw_server.url + path).content == bytes(range(256)) * (size // 256)


def test_cancelled_large_download_leaves_the_client_usable(server, arun) -> None:
    async def main() -> bytes:
        async with requestx.AsyncClient(timeout=30) as c:
            url = server.url + "/blob"
            params = {"size": 32 * MIB, "chunk": 4096}
            assert await arun.cancel_after(0.05, lambda: c.get(url, params=params))
            return (await c.get(url, params={"size": PRESIZED_MIN, "seed": 1})).content

    assert arun(main) == blob(PRESIZED_MIN, 1)


PAGE = os.sysconf("SC_PAGE_SIZE")
# Warms up, reports its resident size, waits for "go", then downloads 64 MiB three times.
DOWNLOADER = textwrap.dedent(
    """
    import os, sys, requestx
    url, length = sys.argv[1], sys.argv[2] == "1"
    with requestx.Client(timeout=60) as c:
        c.get(url, params={"size": 1 << 20})
        print(int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE"), flush=True)
        sys.stdin.readline()
        for _ in range(3):
            params = {"size": 64 << 20, **({} if length else {"nolength": 1})}
            assert len(c.get(url, params=params).content) == 64 << 20
    """
)


def peak_growth(url: str, length: bool) -> int:
    """The peak resident size of a fresh process over buffered 64 MiB GETs, above its size before them,
    sampled from outside every half millisecond (the kernel's own high-water mark is updated lazily and
    misses a peak that lasts milliseconds). Bounded by a one-minute deadline."""
    cmd = [sys.executable, "-c", DOWNLOADER, url, "1" if length else "0"]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        base = peak = int(proc.stdout.readline())
        proc.stdin.write("go\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 60
        with open(f"/proc/{proc.pid}/statm") as statm:
            while proc.poll() is None and time.monotonic() < deadline:
                statm.seek(0)
                peak = max(peak, int(statm.read().split()[1]) * PAGE)
                time.sleep(0.0005)
        assert proc.wait(timeout=60) == 0
    return peak - base


def test_buffered_64mib_body_is_held_once(server) -> None:
    """With a Content-Length the chunks are not kept beside the bytes: the peak grows by about the body,
    where a body of unknown length (chunks, then one join) needs about twice that."""
    presized = peak_growth(server.url + "/blob", length=True)
    joined = peak_growth(server.url + "/blob", length=False)
    assert joined > 110 * MIB, joined / MIB
    assert 60 * MIB < presized < 90 * MIB, presized / MIB
