"""Whole (non-streamed) bodies: large ones with a Content-Length are written into their `bytes` as they
arrive (src/body/presized.rs); every other body is joined once. Checked byte for byte over the network."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import requestx
from requestx._requestx import _presized_bodies
from tests.servers.app import blob

MIB = 1 << 20
PRESIZED_MIN = 4 * MIB  # src/body/presized.rs


@pytest.mark.parametrize("size", [PRESIZED_MIN - 1, PRESIZED_MIN, PRESIZED_MIN + 1, 9 * MIB + 3])
@pytest.mark.parametrize("length", [True, False], ids=["content-length", "no-length"])
def test_large_bodies_arrive_whole_sync(server, size: int, length: bool) -> None:
    params = {"size": size, "seed": size, **({} if length else {"nolength": 1})}
    before = _presized_bodies()
    with requestx.Client(timeout=30) as c:
        r = c.get(server.url + "/blob", params=params)
    assert r.headers.get("content-length") == (str(size) if length else None)
    assert type(r.content) is bytes
    assert r.content == blob(size, size)
    assert _presized_bodies() - before == (length and size >= PRESIZED_MIN)


def test_large_bodies_arrive_whole_async(server, arun) -> None:
    sizes = [PRESIZED_MIN, 6 * MIB + 1, 5 * MIB]

    async def main() -> list[bytes]:
        async with requestx.AsyncClient(timeout=30) as c:
            calls = [lambda n=n: c.get(server.url + "/blob", params={"size": n, "seed": n}) for n in sizes]
            return [r.content for r in await arun.gather(calls)]

    before = _presized_bodies()
    assert arun(main) == [blob(n, n) for n in sizes]
    assert _presized_bodies() - before == len(sizes)


def test_large_bodies_over_http2(h2_server) -> None:
    with requestx.Client(http1=False, http2=True, timeout=30) as c:
        for size in (PRESIZED_MIN, 5 * MIB + 17):
            r = c.get(h2_server.url + "/blob", params={"size": size, "seed": 3})
            assert r.http_version == "HTTP/2"
            assert r.headers["content-length"] == str(size)
            assert r.content == blob(size, 3)
        assert _presized_bodies() > 0


def test_head_of_a_large_body_is_empty(server) -> None:
    with requestx.Client(timeout=30) as c:
        before = _presized_bodies()
        r = c.head(server.url + "/blob", params={"size": 8 * MIB})
        assert r.status_code == 200
        assert r.headers["content-length"] == str(8 * MIB)
        assert r.content == b""
        assert _presized_bodies() == before  # nothing allocated for a body that never comes
        assert c.get(server.url + "/blob", params={"size": 8 * MIB}).content == blob(8 * MIB, 0)
        assert _presized_bodies() == before + 1


def test_large_body_cut_short_raises_and_the_client_recovers(raw_server) -> None:
    with requestx.Client(timeout=10) as c:
        for _ in range(3):
            with pytest.raises(requestx.RemoteProtocolError):
                c.get(raw_server.url + "/truncated-large")
        assert c.get(raw_server.url + "/ok").text == "ok"


@pytest.mark.parametrize(("path", "size"), [("/te-and-cl-long", 5 << 20), ("/te-and-cl-short", 1 << 20)])
def test_chunked_framing_wins_over_an_announced_length(raw_server, path: str, size: int) -> None:
    with requestx.Client(timeout=10) as c:
        before = _presized_bodies()
        assert c.get(raw_server.url + path).content == bytes(range(256)) * (size // 256)
        assert _presized_bodies() == before  # the announced length was not trusted


def test_body_complete_before_its_bytes_exists(server) -> None:
    """While another thread holds the GIL (a long switch interval) the bytes cannot be allocated and the
    body completes first: it is read into place once the GIL is free, with nothing lost or hung."""
    hold = threading.Event()

    def hog() -> None:
        hold.set()
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            pass

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1.0)
    try:
        with requestx.Client(timeout=30) as c:
            c.get(server.url + "/small")
            before = _presized_bodies()
            thread = threading.Thread(target=hog)
            thread.start()
            hold.wait()
            r = c.get(server.url + "/blob", params={"size": PRESIZED_MIN, "seed": 5})
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert r.content == blob(PRESIZED_MIN, 5)
    assert _presized_bodies() == before + 1


def run_python(script: str, *args: str) -> str:
    """Runs `script` in a fresh interpreter (bounded to 30 s); its stdout, once it exited cleanly."""
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


EXIT_MID_DOWNLOAD = textwrap.dedent(
    """
    import sys, threading, time, requestx
    url, delay = sys.argv[1], float(sys.argv[2])
    def download():
        with requestx.Client(timeout=30) as c:
            while True:
                c.get(url, params={"size": 32 << 20})
    threading.Thread(target=download, daemon=True).start()
    time.sleep(delay)
    """
)


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.03, 0.1])
def test_interpreter_exits_cleanly_mid_download(server, delay: float) -> None:
    """A daemon thread downloading large bodies when the interpreter exits: the process ends normally."""
    run_python(EXIT_MID_DOWNLOAD, server.url + "/blob", str(delay))


AFTER_EXIT_HOOK = textwrap.dedent(
    """
    import sys, requestx
    from requestx._requestx import _before_exit, _presized_bodies
    _before_exit()  # what atexit runs before the interpreter finalizes
    with requestx.Client(timeout=30) as c:
        body = c.get(sys.argv[1], params={"size": 8 << 20}).content
    print(len(body), _presized_bodies())
    """
)


def test_no_allocation_from_tokio_threads_after_the_exit_hook(server) -> None:
    """Once the atexit hook ran, no tokio thread attaches to the interpreter (on the abi3 builds
    `try_attach` cannot tell a finalizing one): large bodies still arrive, as chunks joined once."""
    assert run_python(AFTER_EXIT_HOOK, server.url + "/blob").split() == [str(8 * MIB), "0"]


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
