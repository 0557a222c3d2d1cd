"""requestx's engine as the transport of httpx's own clients: `HttpxTransport` and `AsyncHttpxTransport`
serving httpx 0.28 and httpx2 2.16 clients, answering with the host's Response and raising the host's
exceptions (requestx's as their cause), against real servers."""

from __future__ import annotations

import concurrent.futures
import json
import socket
import threading
import time
import urllib.request
import uuid

import httpx
import httpx2
import pytest

import requestx


@pytest.fixture(params=[httpx, httpx2], ids=["httpx", "httpx2"])
def host(request: pytest.FixtureRequest):
    """The host library: httpx 0.28 or httpx2 2.16."""
    return request.param


def get_json(url: str) -> dict:
    """A plain client of its own (urllib), for asking the server what it saw."""
    with urllib.request.urlopen(url, timeout=15) as r:
        return json.loads(r.read())


def server_saw_disconnect(server, key: str) -> bool:
    return get_json(f"{server.url}/disconnected?id={key}&wait=5")["disconnected"]


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HEADERS = [("X-Multi", "one"), ("X-Other", "between"), ("X-Multi", "two"), ("X-Multi", "three")]


def check_sent_headers(echo: dict) -> None:
    """Each of HEADERS reached the server as its own field line, same-name values in order (the order
    that carries meaning, RFC 9110 5.3), and Host exactly once."""
    sent = [(k, v) for k, v in echo["headers"]]
    assert [v for k, v in sent if k == "x-multi"] == ["one", "two", "three"]
    assert [v for k, v in sent if k == "x-other"] == ["between"]
    assert len([v for k, v in sent if k in ("host", ":authority")]) <= 1


WIRE_ORDER_REASON = (
    "requestx engine regroups header fields by name (hyper HeaderMap) and sends Host last: "
    "[X-Multi one, X-Other between, X-Multi two] goes out as x-multi, x-multi, x-other, ..., host; "
    "httpcore sends the host's list as given, Host first (RFC 9112 3.2 SHOULD)"
)


def check_response(host, r, version: str = "HTTP/1.1") -> None:
    assert type(r) is host.Response
    assert r.status_code == 200
    assert r.http_version == version
    assert r.reason_phrase == "OK"
    assert r.extensions["http_version"] == version.encode()
    assert isinstance(r.extensions["http_version"], bytes)
    assert r.extensions["reason_phrase"] == b"OK"


# --- requests and responses -------------------------------------------------------------------------


def test_reason_phrase_is_the_servers_own(raw_server, host) -> None:
    """httpcore hands the host the status line's own reason phrase; so does the engine."""
    with host.Client(transport=requestx.HttpxTransport()) as client:
        r = client.get(raw_server.url + "/custom-reason")
        assert (r.status_code, r.reason_phrase) == (404, "Gone Fishing")
        assert r.extensions["reason_phrase"] == b"Gone Fishing"
        check_response(host, client.get(raw_server.url + "/ok"))


def test_get_sync(server, host) -> None:
    with host.Client(transport=requestx.HttpxTransport()) as c:
        r = c.get(server.url + "/echo", params={"q": "1"}, headers=HEADERS)
    check_response(host, r)
    echo = r.json()
    assert echo["method"] == "GET" and echo["query"] == "q=1"
    check_sent_headers(echo)
    assert [v for k, v in echo["headers"] if k == "host"] == [server.url.split("://")[1]]
    assert r.request.url == server.url + "/echo?q=1"


def test_get_async(server, host, arun) -> None:
    async def main() -> None:
        async with host.AsyncClient(transport=requestx.AsyncHttpxTransport()) as c:
            r = await c.get(server.url + "/echo", params={"q": "1"}, headers=HEADERS)
        check_response(host, r)
        echo = r.json()
        assert echo["method"] == "GET" and echo["query"] == "q=1"
        check_sent_headers(echo)
        assert [v for k, v in echo["headers"] if k == "host"] == [server.url.split("://")[1]]

    arun(main)


@pytest.mark.xfail(strict=True, reason=WIRE_ORDER_REASON)
def test_header_wire_order_as_httpcore(server, host) -> None:
    """The fields go out exactly in the host request's order, as httpx's own transport sends them."""
    with host.Client(transport=requestx.HttpxTransport()) as c:
        request = c.build_request("GET", server.url + "/echo", headers=HEADERS)
        expected = [(k.decode().lower(), v.decode()) for k, v in request.headers.raw]
        sent = [tuple(h) for h in c.send(request).json()["headers"]]
    assert sent == expected


def test_response_stream_is_the_hosts_sync(server, host) -> None:
    """The transport itself answers with the host's Response and a streaming host SyncByteStream."""
    t = requestx.HttpxTransport()
    try:
        r = t.handle_request(host.Request("GET", server.url + "/stream", params={"chunks": 3, "delay": 0.05}))
        assert type(r) is host.Response
        assert isinstance(r.stream, host.SyncByteStream)
        assert b"".join(r.stream) == b"0000000000\n1111111111\n2222222222\n"
        r.stream.close()
    finally:
        t.close()


def test_response_stream_is_the_hosts_async(server, host, arun) -> None:
    async def main() -> None:
        t = requestx.AsyncHttpxTransport()
        try:
            r = await t.handle_async_request(
                host.Request("GET", server.url + "/stream", params={"chunks": 3, "delay": 0.05})
            )
            assert type(r) is host.Response
            assert isinstance(r.stream, host.AsyncByteStream)
            assert b"".join([chunk async for chunk in r.stream]) == b"0000000000\n1111111111\n2222222222\n"
            await r.stream.aclose()
        finally:
            await t.aclose()

    arun(main)


def test_bytes_body_sync(server, host) -> None:
    with host.Client(transport=requestx.HttpxTransport()) as c:
        r = c.post(server.url + "/echo", content=b"hello \xffbody")
    echo = r.json()
    assert echo["method"] == "POST"
    assert echo["body"] == b"hello \xffbody".decode("latin-1")
    assert ("content-length", "11") in [tuple(h) for h in echo["headers"]]


def test_bytes_body_async(server, host, arun) -> None:
    async def main() -> None:
        async with host.AsyncClient(transport=requestx.AsyncHttpxTransport()) as c:
            r = await c.put(server.url + "/echo", content=b"hello \xffbody")
        echo = r.json()
        assert echo["method"] == "PUT"
        assert echo["body"] == b"hello \xffbody".decode("latin-1")
        assert ("content-length", "11") in [tuple(h) for h in echo["headers"]]

    arun(main)


def test_generator_body_is_streamed_sync(server, host) -> None:
    key = uuid.uuid4().hex
    seen: list[bool] = []

    def body():
        yield b"a" * 1000
        # Still inside the request: the server already has the first chunk, so it was not buffered whole.
        seen.append(get_json(f"{server.url}/upload-started?id={key}")["started"])
        for _ in range(9):
            yield b"b" * 1000

    with host.Client(transport=requestx.HttpxTransport(), timeout=30) as c:
        r = c.post(server.url + "/upload", params={"id": key}, content=body())
    assert r.json() == {"received": 10_000}
    assert seen == [True]


def test_generator_body_is_streamed_async(server, host, arun) -> None:
    async def main() -> None:
        key = uuid.uuid4().hex
        seen: list[bool] = []

        async def body():
            yield b"a" * 1000
            async with requestx.AsyncClient(timeout=15) as plain:
                seen.append((await plain.get(server.url + "/upload-started", params={"id": key})).json()["started"])
            for _ in range(9):
                yield b"b" * 1000

        async with host.AsyncClient(transport=requestx.AsyncHttpxTransport(), timeout=30) as c:
            r = await c.post(server.url + "/upload", params={"id": key}, content=body())
        assert r.json() == {"received": 10_000}
        assert seen == [True]

    arun(main)


# --- timeouts -----------------------------------------------------------------------------------------


def check_timeout(host, exc: BaseException, request, ours: type[BaseException]) -> None:
    assert isinstance(exc, host.TimeoutException)
    assert exc.request is request
    assert isinstance(exc.__cause__, ours)


def test_read_timeout_sync(server, host) -> None:
    with host.Client(transport=requestx.HttpxTransport()) as c:
        request = c.build_request("GET", server.url + "/slow", params={"delay": 3}, timeout=host.Timeout(5, read=0.3))
        started = time.monotonic()
        with pytest.raises(host.ReadTimeout) as info:
            c.send(request)
        elapsed = time.monotonic() - started
    check_timeout(host, info.value, request, requestx.ReadTimeout)
    assert elapsed < 2.5, elapsed


def test_read_timeout_async(server, host, arun) -> None:
    async def main() -> None:
        async with host.AsyncClient(transport=requestx.AsyncHttpxTransport()) as c:
            request = c.build_request(
                "GET", server.url + "/slow", params={"delay": 3}, timeout=host.Timeout(5, read=0.3)
            )
            started = time.monotonic()
            with pytest.raises(host.ReadTimeout) as info:
                await c.send(request)
            elapsed = time.monotonic() - started
        check_timeout(host, info.value, request, requestx.ReadTimeout)
        assert elapsed < 2.5, elapsed

    arun(main)


def test_pool_timeout_sync(server, host) -> None:
    key = uuid.uuid4().hex
    transport = requestx.HttpxTransport(limits=requestx.Limits(max_connections=1))
    with host.Client(transport=transport, timeout=30) as c:
        with c.stream("GET", server.url + "/gate", params={"id": key}) as held:
            lines = held.iter_lines()
            assert next(lines) == "first"  # the only connection is busy with this response
            request = c.build_request("GET", server.url + "/small", timeout=host.Timeout(5, pool=0.2))
            started = time.monotonic()
            with pytest.raises(host.PoolTimeout) as info:
                c.send(request)
            assert time.monotonic() - started < 2.5
            check_timeout(host, info.value, request, requestx.PoolTimeout)
            urllib.request.urlopen(f"{server.url}/open?id={key}", timeout=15).close()
            assert list(lines) == ["rest"]
        # Read to the end: the connection is back in the pool.
        assert c.get(server.url + "/small", timeout=host.Timeout(5, pool=2)).status_code == 200


def test_pool_timeout_async(server, host, arun) -> None:
    async def main() -> None:
        key = uuid.uuid4().hex
        transport = requestx.AsyncHttpxTransport(limits=requestx.Limits(max_connections=1))
        async with host.AsyncClient(transport=transport, timeout=30) as c:
            async with c.stream("GET", server.url + "/gate", params={"id": key}) as held:
                lines = held.aiter_lines()
                assert await lines.__anext__() == "first"
                request = c.build_request("GET", server.url + "/small", timeout=host.Timeout(5, pool=0.2))
                started = time.monotonic()
                with pytest.raises(host.PoolTimeout) as info:
                    await c.send(request)
                assert time.monotonic() - started < 2.5
                check_timeout(host, info.value, request, requestx.PoolTimeout)
                async with requestx.AsyncClient(timeout=15) as plain:
                    await plain.get(server.url + "/open", params={"id": key})
                assert [line async for line in lines] == ["rest"]
            r = await c.get(server.url + "/small", timeout=host.Timeout(5, pool=2))
            assert r.status_code == 200

    arun(main)


# --- errors -------------------------------------------------------------------------------------------


def test_connect_refused_sync(host) -> None:
    with host.Client(transport=requestx.HttpxTransport()) as c:
        request = c.build_request("GET", f"http://127.0.0.1:{closed_port()}/")
        with pytest.raises(host.ConnectError) as info:
            c.send(request)
    assert info.value.request is request
    assert isinstance(info.value.__cause__, requestx.ConnectError)


def test_connect_refused_async(host, arun) -> None:
    async def main() -> None:
        async with host.AsyncClient(transport=requestx.AsyncHttpxTransport()) as c:
            request = c.build_request("GET", f"http://127.0.0.1:{closed_port()}/")
            with pytest.raises(host.ConnectError) as info:
                await c.send(request)
        assert info.value.request is request
        assert isinstance(info.value.__cause__, requestx.ConnectError)

    arun(main)


def test_unsupported_protocol_sync(host) -> None:
    # A transport mounted for every scheme, so the engine (not httpx's client) meets ftp://.
    with (
        host.Client(mounts={"all://": requestx.HttpxTransport()}) as c,
        pytest.raises(host.UnsupportedProtocol) as info,
    ):
        c.get("ftp://127.0.0.1/file")
    assert isinstance(info.value.__cause__, requestx.UnsupportedProtocol)
    assert info.value.request.url == "ftp://127.0.0.1/file"


def test_unsupported_protocol_async(host, arun) -> None:
    async def main() -> None:
        async with host.AsyncClient(mounts={"all://": requestx.AsyncHttpxTransport()}) as c:
            with pytest.raises(host.UnsupportedProtocol) as info:
                await c.get("ftp://127.0.0.1/file")
        assert isinstance(info.value.__cause__, requestx.UnsupportedProtocol)

    arun(main)


def test_invalid_header_value_sync(server, host) -> None:
    with host.Client(transport=requestx.HttpxTransport()) as c:
        request = c.build_request("GET", server.url + "/small")
        request.headers["X-Bad"] = "a\nb"  # set after the client built it: only the engine checks it
        with pytest.raises(host.LocalProtocolError) as info:
            c.send(request)
    assert info.value.request is request
    assert isinstance(info.value.__cause__, requestx.LocalProtocolError)


def test_invalid_header_value_async(server, host, arun) -> None:
    async def main() -> None:
        async with host.AsyncClient(transport=requestx.AsyncHttpxTransport()) as c:
            request = c.build_request("GET", server.url + "/small")
            request.headers["X-Bad"] = "a\r\nInjected: 1"
            with pytest.raises(host.LocalProtocolError) as info:
                await c.send(request)
        assert info.value.request is request
        assert isinstance(info.value.__cause__, requestx.LocalProtocolError)

    arun(main)


def test_body_generator_error_unchanged_sync(server, host) -> None:
    boom = ValueError("boom")

    def body():
        yield b"first"
        raise boom

    with host.Client(transport=requestx.HttpxTransport(), timeout=30) as c:
        with pytest.raises(ValueError) as info:
            c.post(server.url + "/upload", content=body())
        assert info.value is boom
        assert c.get(server.url + "/small").status_code == 200  # the client lives on


def test_body_generator_error_unchanged_async(server, host, arun) -> None:
    async def main() -> None:
        boom = ValueError("boom")

        async def body():
            yield b"first"
            raise boom

        async with host.AsyncClient(transport=requestx.AsyncHttpxTransport(), timeout=30) as c:
            with pytest.raises(ValueError) as info:
                await c.post(server.url + "/upload", content=body())
            assert info.value is boom
            assert (await c.get(server.url + "/small")).status_code == 200

    arun(main)


# --- streaming responses ------------------------------------------------------------------------------


def test_incremental_delivery_sync(server, host) -> None:
    key = uuid.uuid4().hex
    with host.Client(transport=requestx.HttpxTransport(), timeout=30) as c:
        with c.stream("GET", server.url + "/gate", params={"id": key}) as r:
            lines = r.iter_lines()
            assert next(lines) == "first"  # a buffered body would only arrive after /open (or as "timeout")
            assert c.get(server.url + "/open", params={"id": key}).status_code == 200
            assert next(lines) == "rest"


def test_incremental_delivery_async(server, host, arun) -> None:
    async def main() -> None:
        key = uuid.uuid4().hex
        async with host.AsyncClient(transport=requestx.AsyncHttpxTransport(), timeout=30) as c:
            async with c.stream("GET", server.url + "/gate", params={"id": key}) as r:
                lines = r.aiter_lines()
                assert await lines.__anext__() == "first"
                assert (await c.get(server.url + "/open", params={"id": key})).status_code == 200
                assert await lines.__anext__() == "rest"

    arun(main)


def test_read_timeout_mid_stream_sync(server, host) -> None:
    """A read timeout while the body streams is the host's ReadTimeout, raised from the iteration."""
    key = uuid.uuid4().hex
    try:
        with host.Client(transport=requestx.HttpxTransport(), timeout=host.Timeout(5, read=0.3)) as c:
            with c.stream("GET", server.url + "/gate", params={"id": key}) as r:
                lines = r.iter_lines()
                assert next(lines) == "first"
                started = time.monotonic()
                with pytest.raises(host.ReadTimeout) as info:
                    next(lines)
                assert time.monotonic() - started < 2.5
        check_timeout(host, info.value, r.request, requestx.ReadTimeout)
    finally:
        urllib.request.urlopen(f"{server.url}/open?id={key}", timeout=15).close()


def test_read_timeout_mid_stream_async(server, host, arun) -> None:
    async def main() -> None:
        key = uuid.uuid4().hex
        try:
            transport = requestx.AsyncHttpxTransport()
            async with host.AsyncClient(transport=transport, timeout=host.Timeout(5, read=0.3)) as c:
                async with c.stream("GET", server.url + "/gate", params={"id": key}) as r:
                    lines = r.aiter_lines()
                    assert await lines.__anext__() == "first"
                    started = time.monotonic()
                    with pytest.raises(host.ReadTimeout) as info:
                        await lines.__anext__()
                    assert time.monotonic() - started < 2.5
            check_timeout(host, info.value, r.request, requestx.ReadTimeout)
        finally:
            async with requestx.AsyncClient(timeout=15) as plain:
                await plain.get(server.url + "/open", params={"id": key})

    arun(main)


def test_stream_lines_sync(server, host) -> None:
    with host.Client(transport=requestx.HttpxTransport(), timeout=30) as c:
        with c.stream("GET", server.url + "/stream", params={"chunks": 3, "delay": 0.05}) as r:
            assert type(r) is host.Response
            assert list(r.iter_lines()) == ["0" * 10, "1" * 10, "2" * 10]


def test_stream_lines_async(server, host, arun) -> None:
    async def main() -> None:
        async with host.AsyncClient(transport=requestx.AsyncHttpxTransport(), timeout=30) as c:
            async with c.stream("GET", server.url + "/stream", params={"chunks": 3, "delay": 0.05}) as r:
                assert type(r) is host.Response
                assert [line async for line in r.aiter_lines()] == ["0" * 10, "1" * 10, "2" * 10]

    arun(main)


# --- the transport contract: connections come back ----------------------------------------------------


def test_early_close_releases_connection_sync(server, host) -> None:
    key = uuid.uuid4().hex
    transport = requestx.HttpxTransport(limits=requestx.Limits(max_connections=1))
    with host.Client(transport=transport, timeout=30) as c:
        with c.stream("GET", server.url + "/firehose", params={"id": key, "total": 1 << 30}) as r:
            for chunk in r.iter_raw():
                assert chunk
                break
        assert server_saw_disconnect(server, key)
        # The only permit came back: a pool wait would otherwise time out.
        assert c.get(server.url + "/small", timeout=host.Timeout(5, pool=2)).status_code == 200


def test_early_close_releases_connection_async(server, host, arun) -> None:
    key = uuid.uuid4().hex

    async def main() -> None:
        transport = requestx.AsyncHttpxTransport(limits=requestx.Limits(max_connections=1))
        async with host.AsyncClient(transport=transport, timeout=30) as c:
            async with c.stream("GET", server.url + "/firehose", params={"id": key, "total": 1 << 30}) as r:
                async for chunk in r.aiter_raw():
                    assert chunk
                    break
            r = await c.get(server.url + "/small", timeout=host.Timeout(5, pool=2))
            assert r.status_code == 200

    arun(main)
    assert server_saw_disconnect(server, key)


def test_read_responses_return_their_connection_sync(server, host) -> None:
    transport = requestx.HttpxTransport(limits=requestx.Limits(max_connections=1))
    with host.Client(transport=transport, timeout=host.Timeout(10, pool=2)) as c:
        for i in range(50):
            r = c.get(server.url + "/echo", params={"i": i})
            assert r.status_code == 200 and r.json()["query"] == f"i={i}"


def test_read_responses_return_their_connection_async(server, host, arun) -> None:
    async def main() -> None:
        transport = requestx.AsyncHttpxTransport(limits=requestx.Limits(max_connections=1))
        async with host.AsyncClient(transport=transport, timeout=host.Timeout(10, pool=2)) as c:
            for i in range(50):
                r = await c.get(server.url + "/echo", params={"i": i})
                assert r.status_code == 200 and r.json()["query"] == f"i={i}"

    arun(main)


def test_stream_iterated_twice_sync(server, host) -> None:
    """Documented behaviour: iterating the transport's stream again yields nothing (no error, no
    repeated bytes); the host's `read()` twice returns the same content."""
    t = requestx.HttpxTransport()
    try:
        r = t.handle_request(host.Request("GET", server.url + "/stream", params={"chunks": 3, "delay": 0.05}))
        assert b"".join(r.stream) == b"0000000000\n1111111111\n2222222222\n"
        assert list(r.stream) == []
        r.stream.close()
        assert list(r.stream) == []
    finally:
        t.close()
    with host.Client(transport=requestx.HttpxTransport()) as c:
        with c.stream("GET", server.url + "/stream", params={"chunks": 3}) as r:
            assert r.read() == r.read() == b"0000000000\n1111111111\n2222222222\n"
            with pytest.raises(host.StreamConsumed):
                list(r.iter_raw())


def test_stream_iterated_twice_async(server, host, arun) -> None:
    async def main() -> None:
        t = requestx.AsyncHttpxTransport()
        try:
            r = await t.handle_async_request(
                host.Request("GET", server.url + "/stream", params={"chunks": 3, "delay": 0.05})
            )
            assert b"".join([c async for c in r.stream]) == b"0000000000\n1111111111\n2222222222\n"
            assert [c async for c in r.stream] == []
            await r.stream.aclose()
        finally:
            await t.aclose()
        async with host.AsyncClient(transport=requestx.AsyncHttpxTransport()) as c:
            async with c.stream("GET", server.url + "/stream", params={"chunks": 3}) as r:
                assert await r.aread() == await r.aread() == b"0000000000\n1111111111\n2222222222\n"

    arun(main)


# --- content encoding ---------------------------------------------------------------------------------


def test_gzip_decoded_by_host_sync(server, host) -> None:
    with host.Client(transport=requestx.HttpxTransport()) as c:
        r = c.get(server.url + "/compressed", params={"enc": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.text == "compressible " * 2000


def test_gzip_decoded_by_host_async(server, host, arun) -> None:
    async def main() -> None:
        async with host.AsyncClient(transport=requestx.AsyncHttpxTransport()) as c:
            r = await c.get(server.url + "/compressed", params={"enc": "gzip", "chunk": 100})
        assert r.headers["content-encoding"] == "gzip"
        assert r.text == "compressible " * 2000

    arun(main)


# --- cancellation -------------------------------------------------------------------------------------


def test_cancellation_reaches_the_socket(server, host, arun) -> None:
    key = uuid.uuid4().hex

    async def main() -> None:
        transport = requestx.AsyncHttpxTransport(limits=requestx.Limits(max_connections=1))
        async with host.AsyncClient(transport=transport, timeout=30) as c:
            cancelled = await arun.cancel_after(0.3, lambda: c.get(server.url + "/hang", params={"id": key}))
            assert cancelled
            r = await c.get(server.url + "/small", timeout=host.Timeout(5, pool=2))
            assert r.status_code == 200

    arun(main)
    assert server_saw_disconnect(server, key)


# --- HTTP/2 -------------------------------------------------------------------------------------------


def test_http2_over_tls_async(tls_server, tls_certs, host, arun) -> None:
    async def main() -> None:
        transport = requestx.AsyncHttpxTransport(http2=True, verify=tls_certs["ca"])
        async with host.AsyncClient(transport=transport) as c:
            r = await c.post(tls_server.url + "/echo", content=b"over h2", headers=HEADERS)
            check_response(host, r, "HTTP/2")
            echo = r.json()
            assert echo["http_version"] == "2" and echo["body"] == "over h2"
            check_sent_headers(echo)

    arun(main)


def test_http2_over_tls_sync(tls_server, tls_certs, host) -> None:
    with host.Client(transport=requestx.HttpxTransport(http2=True, verify=tls_certs["ca"])) as c:
        r = c.get(tls_server.url + "/echo")
    check_response(host, r, "HTTP/2")
    assert r.json()["http_version"] == "2"


def test_h2c_prior_knowledge_sync(h2_server, host) -> None:
    with host.Client(transport=requestx.HttpxTransport(http1=False, http2=True)) as c:
        r = c.get(h2_server.url + "/echo")
        check_response(host, r, "HTTP/2")
        assert r.json()["http_version"] == "2"
        with c.stream("GET", h2_server.url + "/stream", params={"chunks": 3}) as s:
            assert list(s.iter_lines()) == ["0" * 10, "1" * 10, "2" * 10]


def test_h2c_prior_knowledge_async(h2_server, host, arun) -> None:
    async def main() -> None:
        async with host.AsyncClient(transport=requestx.AsyncHttpxTransport(http1=False, http2=True)) as c:
            r = await c.get(h2_server.url + "/echo")
            check_response(host, r, "HTTP/2")
            assert r.json()["http_version"] == "2"

    arun(main)


# --- threads ------------------------------------------------------------------------------------------


def test_sync_transport_shared_by_threads(server, host) -> None:
    group = uuid.uuid4().hex
    barrier = threading.Barrier(8, timeout=10)
    with host.Client(transport=requestx.HttpxTransport(), timeout=30) as c:

        def work(i: int) -> list[str]:
            barrier.wait()
            got = [c.get(server.url + "/track", params={"group": group, "delay": 0.2, "i": i}).json()["i"]]
            for j in range(5):
                got.append(c.get(server.url + "/echo", params={"i": f"{i}-{j}"}).json()["query"])
            return got

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(work, range(8), timeout=30))
    assert results == [[str(i)] + [f"i={i}-{j}" for j in range(5)] for i in range(8)]
    stats = get_json(f"{server.url}/track-stats?group={group}")
    assert stats["count"] == 8
    assert stats["max"] >= 2  # the threads' requests were in flight together


# --- misuse and closing -------------------------------------------------------------------------------


def test_foreign_request_is_a_type_error(server) -> None:
    with requestx.HttpxTransport() as t:
        with pytest.raises(TypeError, match="HttpxTransport serves httpx and httpx2 clients"):
            t.handle_request(requestx.Request("GET", server.url + "/small"))
        with pytest.raises(TypeError, match="not a request of either"):
            t.handle_request(object())


def test_foreign_request_is_a_type_error_async(server, arun) -> None:
    async def main() -> None:
        async with requestx.AsyncHttpxTransport() as t:
            with pytest.raises(TypeError, match="HttpxTransport serves httpx and httpx2 clients"):
                await t.handle_async_request(requestx.Request("GET", server.url + "/small"))

    arun(main)


def test_context_manager_closes_sync(server, host) -> None:
    with requestx.HttpxTransport() as t:
        c = host.Client(transport=t)
        assert c.get(server.url + "/small").status_code == 200
    request = c.build_request("GET", server.url + "/small")
    with pytest.raises(host.TransportError) as info:
        c.send(request)
    assert info.value.request is request
    assert isinstance(info.value.__cause__, requestx.TransportError)


def test_context_manager_closes_async(server, host, arun) -> None:
    async def main() -> None:
        async with requestx.AsyncHttpxTransport() as t:
            c = host.AsyncClient(transport=t)
            assert (await c.get(server.url + "/small")).status_code == 200
        request = c.build_request("GET", server.url + "/small")
        with pytest.raises(host.TransportError) as info:
            await c.send(request)
        assert info.value.request is request
        assert isinstance(info.value.__cause__, requestx.TransportError)

    arun(main)
