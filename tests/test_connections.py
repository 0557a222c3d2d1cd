"""The connection limit as httpx means it: `max_connections` counts connections, so a streamed
response holds its connection until it is read to the end or closed, and HTTP/2 streams share
one connection. Servers report the client's port per request (one port per connection)."""

from __future__ import annotations

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
