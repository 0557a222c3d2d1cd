"""Transports: MockTransport (sync and async handlers), WSGITransport, ASGITransport, and `mounts`
routing between them and the engine; redirects, auth and hooks run the same over every transport."""

from __future__ import annotations

import json
import typing

import pytest

import requestx
from tests.servers.app import app as asgi_app


def handler(request: requestx.Request) -> requestx.Response:
    if request.url.path == "/redirect":
        return requestx.Response(302, headers={"Location": "/target"})
    if request.url.path == "/fail":
        raise requestx.ConnectError("no route")
    return requestx.Response(
        200,
        json={
            "method": request.method,
            "path": request.url.path,
            "body": request.content.decode(),
            "auth": request.headers.get("authorization"),
        },
    )


def test_mock_transport_sync() -> None:
    seen: list[int] = []
    with requestx.Client(
        transport=requestx.MockTransport(handler),
        base_url="http://mock",
        event_hooks={"response": [lambda r: seen.append(r.status_code)]},
    ) as c:
        r = c.post("/echo", content=b"hi", auth=("u", "p"))
        assert r.json() == {"method": "POST", "path": "/echo", "body": "hi", "auth": "Basic dTpw"}
        assert r.request.url == "http://mock/echo"
        r = c.get("/redirect", follow_redirects=True)
        assert r.json()["path"] == "/target" and [h.status_code for h in r.history] == [302]
        with pytest.raises(requestx.ConnectError) as info:
            c.get("/fail")
        assert info.value.request.url == "http://mock/fail"
        r = c.get("/plain")
        assert r.raise_for_status() is r and r.elapsed.total_seconds() >= 0
    assert seen == [200, 302, 200, 200]


def test_mock_transport_async_handler(arun) -> None:
    async def async_handler(request: requestx.Request) -> requestx.Response:
        return requestx.Response(201, text=f"async {request.url.path}")

    async def main() -> None:
        async with requestx.AsyncClient(transport=requestx.MockTransport(async_handler)) as c:
            r = await c.get("http://mock/x")
            assert (r.status_code, r.text) == (201, "async /x")
            async with c.stream("GET", "http://mock/y") as s:
                assert [line async for line in s.aiter_lines()] == ["async /y"]

    arun(main)


def test_wsgi_transport() -> None:
    def wsgi_app(environ, start_response):
        body = environ["wsgi.input"].read()
        payload = {
            "method": environ["REQUEST_METHOD"],
            "path": environ["PATH_INFO"],
            "query": environ["QUERY_STRING"],
            "body": body.decode(),
            "host": environ["HTTP_HOST"],
        }
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(payload).encode()]

    with requestx.Client(transport=requestx.WSGITransport(wsgi_app)) as c:
        r = c.put("http://testserver/items?a=1", content=b"data")
    assert r.json() == {"method": "PUT", "path": "/items", "query": "a=1", "body": "data", "host": "testserver"}


def test_asgi_transport(arun) -> None:
    async def main() -> None:
        async with requestx.AsyncClient(transport=requestx.ASGITransport(asgi_app), base_url="http://app") as c:
            r = await c.post("/echo", json={"k": 1}, params={"q": "v"})
            echo = r.json()
            assert echo["method"] == "POST" and echo["query"] == "q=v" and json.loads(echo["body"]) == {"k": 1}
            assert (await c.get("/status/404")).status_code == 404

    arun(main)


def test_mounts_route_between_transports_and_the_engine(server) -> None:
    mock = requestx.MockTransport(lambda request: requestx.Response(200, text="mocked"))
    with requestx.Client(mounts={"all://mock.test": mock, "http://*.mock.test": mock}) as c:
        assert c.get("http://mock.test/a").text == "mocked"
        assert c.get("http://api.mock.test/a").text == "mocked"
        assert c.get(server.url + "/small").content == b"x" * 100  # no mount: the engine


def test_transport_must_return_a_response() -> None:
    with requestx.Client(transport=requestx.MockTransport(lambda request: "nope")) as c:
        with pytest.raises(TypeError, match=r"must return a requestx\.Response .* not str: it has no status_code"):
            c.get("http://mock/")


def test_mock_handler_code_written_for_httpx_works_on_requestx_requests(arun) -> None:
    """What handlers commonly do with a request, a streamed body included (read before the call)."""

    def handler(request: requestx.Request) -> requestx.Response:
        assert request.read() == request.content
        return requestx.Response(
            200,
            json={
                "method": request.method,
                "url": str(request.url),
                "host": request.url.host,
                "params": dict(request.url.params),
                "type": request.headers["content-type"],
                "json": json.loads(request.content),
            },
        )

    expected = {
        "method": "POST",
        "url": "http://mock.test/p?q=1",
        "host": "mock.test",
        "params": {"q": "1"},
        "type": "application/json",
        "json": {"a": 1},
    }
    with requestx.Client(transport=requestx.MockTransport(handler)) as c:
        assert c.post("http://mock.test/p?q=1", json={"a": 1}).json() == expected
        streamed = c.post(
            "http://mock.test/p?q=1", content=iter([b'{"a"', b": 1}"]), headers={"Content-Type": "application/json"}
        )
        assert streamed.json() == expected

    async def main() -> None:
        async def body() -> typing.AsyncIterator[bytes]:
            yield b'{"a": 1}'

        async with requestx.AsyncClient(transport=requestx.MockTransport(handler)) as c:
            r = await c.post("http://mock.test/p?q=1", content=body(), headers={"Content-Type": "application/json"})
            assert r.json() == expected

    arun(main)


def test_asgi_transport_waits_for_a_streamed_response(arun) -> None:
    """Starlette's StreamingResponse watches `receive()` for a disconnect while it streams: one
    reported before the last chunk would cut the body short."""
    import anyio
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    async def chunks() -> typing.AsyncIterator[bytes]:
        for i in range(5):
            await anyio.sleep(0)  # other tasks (the disconnect watcher) run between chunks
            yield b"chunk %d;" % i

    async def endpoint(request: typing.Any) -> StreamingResponse:
        return StreamingResponse(chunks(), media_type="text/plain")

    app = Starlette(routes=[Route("/stream", endpoint)])

    async def main() -> None:
        async with requestx.AsyncClient(transport=requestx.ASGITransport(app)) as c:
            r = await c.get("http://app/stream")
            assert r.text == "".join(f"chunk {i};" for i in range(5))
            async with c.stream("GET", "http://app/stream") as s:
                assert b"".join([chunk async for chunk in s.aiter_bytes()]).count(b"chunk") == 5

    arun(main)


def test_http_transport_mounted_per_scheme_with_a_proxy(server, proxy_server) -> None:
    import uuid

    key = uuid.uuid4().hex
    proxied = requestx.HTTPTransport(proxy=proxy_server.url)
    with requestx.Client(mounts={"http://": proxied}) as c:
        assert c.get(server.url + f"/mounted/{key}").status_code == 404  # the app's answer, via the proxy
        with c.stream("GET", server.url + "/stream", params={"chunks": 3}) as r:
            assert len(list(r.iter_lines())) == 3
    assert proxy_server.saw(key)


def test_async_http_transport(server, arun) -> None:
    async def main() -> None:
        transport = requestx.AsyncHTTPTransport(http1=True, retries=1)
        async with requestx.AsyncClient(transport=transport) as c:
            assert (await c.post(server.url + "/echo", json={"a": 1})).json()["body"] == '{"a":1}'

    arun(main)
