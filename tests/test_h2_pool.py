"""The direct client's own HTTP/2 connections (src/http/h2_pool.rs): one per origin, shared by the
requests that open it together, replaced when the server closes it, closed with the client; an
https:// origin moves to it once its server has answered in HTTP/2. Servers report the client's
port per request (one port per connection)."""

from __future__ import annotations

import os

import requestx


def test_requests_that_open_the_connection_together_share_it(h2_server, arun) -> None:
    async def main() -> None:
        async with requestx.AsyncClient(http1=False, http2=True) as c:
            responses = await arun.gather([lambda: c.get(h2_server.url + "/peer") for _ in range(40)])
        assert {r.http_version for r in responses} == {"HTTP/2"}
        assert len({r.json()["port"] for r in responses}) == 1

    arun(main)


def test_a_connection_the_server_closed_is_replaced(h2_oneshot_server, arun) -> None:
    async def main() -> list[int]:
        async with requestx.AsyncClient(http1=False, http2=True) as c:
            return [int((await c.get(h2_oneshot_server.url + "/")).text) for _ in range(5)]

    numbers = arun(main)
    assert numbers == sorted(set(numbers)), numbers  # a new connection for each


def test_a_blocking_client_replaces_a_closed_connection_too(h2_oneshot_server) -> None:
    with requestx.Client(http1=False, http2=True) as c:
        numbers = [int(c.get(h2_oneshot_server.url + "/").text) for _ in range(5)]
    assert numbers == sorted(set(numbers)), numbers


def test_an_alpn_h2_origin_keeps_one_connection(tls_server, tls_certs, arun) -> None:
    async def main() -> list[int]:
        async with requestx.AsyncClient(http2=True, verify=tls_certs["ca"]) as c:
            ports = []
            for _ in range(20):
                r = await c.get(tls_server.url + "/peer")
                assert r.http_version == "HTTP/2"
                ports.append(r.json()["port"])
            return ports

    ports = arun(main)
    # The first answer (on hyper-util's connection) shows the origin speaks HTTP/2; the pool's
    # own connection carries every request after it.
    assert len(set(ports[1:])) == 1, ports


def test_closing_the_client_closes_its_http2_connection(h2_server) -> None:
    with requestx.Client(http1=False, http2=True) as c:
        c.get(h2_server.url + "/small")  # the engine and its runtime are up: their fds counted
    fds = len(os.listdir("/proc/self/fd"))
    client = requestx.Client(http1=False, http2=True)
    assert client.get(h2_server.url + "/small").http_version == "HTTP/2"
    assert len(os.listdir("/proc/self/fd")) > fds
    client.close()
    assert len(os.listdir("/proc/self/fd")) <= fds
