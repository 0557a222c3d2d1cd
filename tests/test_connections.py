"""The connection limit as httpx means it: `max_connections` counts connections, so a streamed
response holds its connection until it is read to the end or closed, and HTTP/2 streams share
one connection. Servers report the client's port per request (one port per connection)."""

from __future__ import annotations

import gc
import os
import socket
import sys
import uuid

import pytest

import requestx


def test_a_stream_read_to_its_end_gives_its_connection_back(server) -> None:
    """Three streamed reads then a GET over one connection. hyper hands a finished connection back
    to its pool a few task hops after the body's end, so on a loaded machine a request sent at
    once can still race a new connect: at least one round of five takes a single connection."""
    rounds = []
    for _ in range(5):
        with requestx.Client(limits=requestx.Limits(max_connections=1)) as c:
            ports = []
            for _ in range(3):
                with c.stream("GET", server.url + "/peer") as r:
                    r.read()
                    ports.append(r.json()["port"])
            ports.append(c.get(server.url + "/peer").json()["port"])
        rounds.append(len(set(ports)))
        if rounds[-1] == 1:
            break
    assert rounds[-1] == 1, rounds


def test_an_open_stream_holds_the_connection_limit(server, arun) -> None:
    limits = requestx.Limits(max_connections=1)
    with requestx.Client(limits=limits, timeout=requestx.Timeout(5, pool=0.05)) as c:
        with c.stream("GET", server.url + "/small"), pytest.raises(requestx.PoolTimeout):
            c.get(server.url + "/small")  # the open response still holds the one connection
        assert c.get(server.url + "/small").status_code == 200  # closed: the connection is free

    async def main() -> None:
        async with requestx.AsyncClient(limits=limits, timeout=requestx.Timeout(5, pool=0.05)) as c:
            async with c.stream("GET", server.url + "/small"):
                with pytest.raises(requestx.PoolTimeout):
                    await c.get(server.url + "/small")
            assert (await c.get(server.url + "/small")).status_code == 200

    arun(main)


def test_http2_streams_share_the_connection_limit_of_one(h2_server, arun) -> None:
    group = uuid.uuid4().hex

    async def main() -> None:
        limits = requestx.Limits(max_connections=1)
        async with requestx.AsyncClient(http1=False, http2=True, limits=limits) as c:
            first = await c.get(h2_server.url + "/peer")
            # 30 requests that the server answers only once all 30 are in at the same time.
            url = h2_server.url + f"/meet?group={group}&n=30&wait=10"
            met = await arun.gather([lambda: c.get(url) for _ in range(30)])
            assert [r.json()["met"] for r in met] == [True] * 30
            last = await c.get(h2_server.url + "/peer")
        assert first.json()["http_version"] == "2" and first.json()["port"] == last.json()["port"]

    arun(main)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_closing_a_client_ends_its_stalled_upload_at_once() -> None:
    """An upload the server stops reading times out; closing the client then closes the socket
    and releases the body before close() returns, instead of leaving the connection task flushing
    the rest of the body until TCP gives up (~30 s) and the body resident meanwhile. The server
    never accepts until the client is closed: the connection waits in the listen queue, its
    buffers full."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/upload"
    body = b"x" * (64 << 20)
    refs = sys.getrefcount(body)
    with pytest.raises(requestx.ConnectError):  # the engine started: its own fds are counted
        requestx.get("http://127.0.0.1:1/")
    fds = _open_fds()
    client = requestx.Client(timeout=requestx.Timeout(0.5))
    with pytest.raises(requestx.TimeoutException):
        client.post(url, content=body)
    client.close()
    gc.collect()  # the exception's traceback held the request, and through it the body
    assert sys.getrefcount(body) == refs, "the body is still held"
    assert _open_fds() <= fds, "the connection's socket is still open"
    conn, _ = listener.accept()
    conn.settimeout(10)
    received = 0
    try:
        while chunk := conn.recv(1 << 20):
            received += len(chunk)
    except ConnectionResetError:
        pass
    finally:
        conn.close()
        listener.close()
    # What the kernel had buffered when the client closed, a few MiB; not the rest of the body.
    assert received < len(body) // 2, received
