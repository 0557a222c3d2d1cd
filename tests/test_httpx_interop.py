"""requestx's clients with httpx's and httpx2's objects: URLs, Timeouts, Headers and Requests where
users pass them, their transports and responses, and respx and pytest-httpx mocking requestx
clients through the `requestx.testing` opt-in. Real servers wherever a server answers."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
import typing

import httpx
import httpx2
import pytest
import respx

import requestx
import requestx.testing

LIBRARIES = pytest.mark.parametrize("lib", [httpx, httpx2], ids=["httpx", "httpx2"])


def _echo_headers(response: requestx.Response) -> list[list[str]]:
    return [pair for pair in response.json()["headers"] if pair[0].startswith("x-")]


# --- httpx's objects where users pass them -----------------------------------------------------------


@LIBRARIES
def test_foreign_url_timeout_and_headers(server, lib) -> None:
    with requestx.Client(timeout=lib.Timeout(5.0, connect=2.0), headers=lib.Headers({"X-Client": "c"})) as c:
        assert c.timeout == requestx.Timeout(5.0, connect=2.0)
        r = c.get(lib.URL(server.url + "/echo?a=1"))  # the plain fast path
        assert r.json()["query"] == "a=1" and r.url == server.url + "/echo?a=1"
        r = c.get(
            lib.URL(server.url + "/echo"),
            params={"b": "2"},
            headers=lib.Headers([("X-Multi", "1"), ("X-Multi", "2")]),
            timeout=lib.Timeout(1.0),
        )
        assert r.json()["query"] == "b=2"
        assert _echo_headers(r) == [["x-client", "c"], ["x-multi", "1"], ["x-multi", "2"]]
        assert r.request.extensions["timeout"] == {"connect": 1.0, "read": 1.0, "write": 1.0, "pool": 1.0}
    with requestx.Client(base_url=lib.URL(server.url + "/")) as c:
        assert c.get("echo").json()["path"] == "/echo"
    assert requestx.URL("http://a.example/x") == lib.URL("http://a.example/x")
    assert requestx.Headers(lib.Headers([("A", "1"), ("a", "2")])).raw == [(b"A", b"1"), (b"a", b"2")]


@LIBRARIES
def test_send_a_foreign_request(server, lib) -> None:
    with requestx.Client() as c:
        request = lib.Request("POST", server.url + "/echo?q=1", headers=[("X-One", "1")], content=b"payload")
        r = c.send(request)
        echo = r.json()
        assert (echo["method"], echo["query"], echo["body"]) == ("POST", "q=1", "payload")
        assert _echo_headers(r) == [["x-one", "1"]]
        assert isinstance(r.request, requestx.Request) and r.request.content == b"payload"
        # A streamed body not read yet goes out as a stream.
        r = c.send(lib.Request("PUT", server.url + "/echo", content=iter([b"a", b"b", b"c"])))
        assert r.json()["body"] == "abc"
        r = c.send(c.build_request("GET", server.url + "/echo"))
        assert r.json()["method"] == "GET"


@LIBRARIES
def test_async_send_a_foreign_request(server, arun, lib) -> None:
    async def body() -> typing.AsyncIterator[bytes]:
        for part in (b"x", b"y"):
            yield part

    async def main() -> None:
        async with requestx.AsyncClient() as c:
            r = await c.send(lib.Request("POST", server.url + "/echo", content=body()))
            assert r.json()["body"] == "xy"
            r = await c.get(lib.URL(server.url + "/echo"), timeout=lib.Timeout(2.0))
            assert r.json()["method"] == "GET"

    arun(main)


# --- httpx's transports and responses ---------------------------------------------------------------


@LIBRARIES
def test_foreign_mock_transport_gets_its_own_request(lib) -> None:
    seen: list[typing.Any] = []

    def handler(request: typing.Any) -> typing.Any:
        seen.append(request)
        body = json.loads(request.content) if request.content else None
        return lib.Response(200, json={"path": request.url.path, "body": body, "h": request.headers.get("x-h")})

    with requestx.Client(transport=lib.MockTransport(handler), headers={"X-H": "v"}) as c:
        r = c.post("http://mock.test/items", json={"k": 1})
        assert r.json() == {"path": "/items", "body": {"k": 1}, "h": "v"}
        assert isinstance(r, requestx.Response) and r.request.method == "POST"
        r = c.post("http://mock.test/stream", content=iter([b'{"s"', b": 2}"]))
        assert r.json()["body"] == {"s": 2}
    assert all(isinstance(request, lib.Request) for request in seen)
    assert seen[0].headers.raw[0] == (b"Host", b"mock.test")


@LIBRARIES
def test_foreign_response_body_semantics(lib, arun) -> None:
    document = json.dumps({"many": "words " * 50}).encode()
    packed = gzip.compress(document)

    def handler(request: typing.Any) -> typing.Any:
        gz = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        if request.url.path == "/built":  # decoded by httpx when built: adopted as its content
            return lib.Response(200, content=packed, headers=gz)
        # a stream not read yet: raw bytes, decoded by requestx as they are read
        return lib.Response(200, content=iter([packed[:10], packed[10:]]), headers=[("X-Order", "1"), *gz.items()])

    with requestx.Client(transport=lib.MockTransport(handler)) as c:
        assert c.get("http://mock.test/built").content == document
        r = c.get("http://mock.test/streamed")
        assert r.json() == json.loads(document) and r.num_bytes_downloaded == len(packed)
        assert r.headers.raw[0] == (b"X-Order", b"1") and r.headers["content-encoding"] == "gzip"
        with c.stream("GET", "http://mock.test/streamed") as s:
            assert not s.is_stream_consumed
            assert list(s.iter_raw()) == [packed[:10], packed[10:]]
        with c.stream("GET", "http://mock.test/streamed") as s:
            assert b"".join(s.iter_bytes()) == document

    async def main() -> None:
        async def ahandler(request: typing.Any) -> typing.Any:
            async def chunks() -> typing.AsyncIterator[bytes]:
                yield packed[:7]
                yield packed[7:]

            return lib.Response(201, stream=_AsyncStream(lib, chunks()), headers={"Content-Encoding": "gzip"})

        async with requestx.AsyncClient(transport=lib.MockTransport(ahandler)) as c:
            r = await c.get("http://mock.test/a")
            assert (r.status_code, r.content) == (201, document)
            async with c.stream("GET", "http://mock.test/a") as s:
                assert [chunk async for chunk in s.aiter_raw()] == [packed[:7], packed[7:]]

    arun(main)


def _AsyncStream(lib: typing.Any, chunks: typing.AsyncIterator[bytes]) -> typing.Any:
    class Stream(lib.AsyncByteStream):  # type: ignore[misc, name-defined]
        async def __aiter__(self) -> typing.AsyncIterator[bytes]:
            async for chunk in chunks:
                yield chunk

    return Stream()


def test_requestx_mock_transport_may_return_httpx_responses() -> None:
    packed = gzip.compress(b"hello")
    responses = {
        "/json": httpx.Response(200, json={"a": [1]}),
        "/gzip": httpx2.Response(200, content=packed, headers={"Content-Encoding": "gzip"}),
        "/h2": httpx.Response(200, text="v2", extensions={"http_version": b"HTTP/2"}),
    }
    with requestx.Client(transport=requestx.MockTransport(lambda r: responses[r.url.path])) as c:
        assert c.get("http://mock.test/json").json() == {"a": [1]}
        assert c.get("http://mock.test/gzip").text == "hello"
        r = c.get("http://mock.test/h2")
        assert (r.text, r.http_version, r.extensions["http_version"]) == ("v2", "HTTP/2", b"HTTP/2")


def test_not_a_response_is_a_clear_type_error() -> None:
    with requestx.Client(transport=requestx.MockTransport(lambda request: {"status": 200})) as c:
        with pytest.raises(TypeError, match="status_code, headers"):
            c.get("http://mock.test/")


@LIBRARIES
def test_foreign_http_transport_against_a_real_server(server, lib, arun) -> None:
    with requestx.Client(transport=lib.HTTPTransport()) as c:
        r = c.post(server.url + "/echo", content=b"real", headers={"X-Via": "transport"})
        assert r.json()["body"] == "real" and _echo_headers(r) == [["x-via", "transport"]]
        with c.stream("GET", server.url + "/compressed", params={"enc": "gzip", "chunk": "100"}) as s:
            assert s.headers["content-encoding"] == "gzip"
            assert b"".join(s.iter_bytes()) == b"compressible " * 2000
        assert c.get(server.url + "/compressed", params={"enc": "gzip"}).text == "compressible " * 2000

    async def main() -> None:
        async with requestx.AsyncClient(mounts={"http://127.0.0.1": lib.AsyncHTTPTransport()}) as c:
            async with c.stream("GET", server.url + "/stream", params={"chunks": "3"}) as s:
                assert [line async for line in s.aiter_lines()] == ["0" * 10, "1" * 10, "2" * 10]
            r = await c.get(server.url + "/compressed", params={"enc": "br"})
            assert r.text == "compressible " * 2000

    arun(main)


def test_respx_router_as_a_transport() -> None:
    router = respx.MockRouter(assert_all_called=False)
    route = router.get("http://api.test/users/42").mock(return_value=httpx.Response(200, json={"id": 42}))
    with requestx.Client(transport=httpx.MockTransport(router.handler), base_url="http://api.test") as c:
        assert c.get("/users/42").json() == {"id": 42}
    assert route.call_count == 1 and isinstance(route.calls.last.response, httpx.Response)


# --- respx and pytest-httpx through `requestx.testing` ------------------------------------------------


@pytest.fixture
def via_httpx() -> typing.Iterator[None]:
    """What `pytest_plugins = ["requestx.testing"]` does for a whole session, for one test."""
    was_installed = requestx.testing.installed()
    requestx.testing.install()
    yield
    if not was_installed:
        requestx.testing.uninstall()


def test_respx_mocks_a_requestx_client(server, via_httpx) -> None:
    client = requestx.Client()  # built before the mock, as a module-level client would be
    assert client.get(server.url + "/small").content == b"x" * 100  # nothing mocked: the engine
    with respx.mock:
        route = respx.get(server.url + "/small").mock(return_value=httpx.Response(200, json={"mocked": True}))
        post = respx.post(server.url + "/echo", json={"k": "v"}).mock(return_value=httpx.Response(201))
        r = client.get(server.url + "/small")
        assert r.json() == {"mocked": True}  # the real server would have sent 100 x's
        assert client.post(server.url + "/echo", json={"k": "v"}).status_code == 201
        with client.stream("GET", server.url + "/small") as s:
            assert s.read() == b'{"mocked":true}'
    assert route.call_count == 2 and post.called
    assert isinstance(route.calls.last.request, httpx.Request)
    assert client.get(server.url + "/small").content == b"x" * 100  # the mock is over
    client.close()


def test_respx_decorator_and_pass_through(server, via_httpx) -> None:
    @respx.mock(assert_all_called=True)
    def scenario(respx_mock: respx.MockRouter) -> None:
        respx_mock.get(server.url + "/echo").pass_through()
        respx_mock.get(url__regex=r".*/small$").mock(return_value=httpx.Response(418))
        with requestx.Client(follow_redirects=True) as c:
            assert c.get(server.url + "/small").status_code == 418
            assert c.get(server.url + "/echo").json()["method"] == "GET"  # the real server, via httpx

    scenario()

    @respx.mock
    def bare() -> None:
        route = respx.get(server.url + "/small").mock(return_value=httpx.Response(200, text="bare"))
        with requestx.Client() as c:
            assert c.get(server.url + "/small").text == "bare"
        assert route.called

    bare()


def test_respx_async(server, via_httpx, arun) -> None:
    async def main() -> None:
        with respx.mock:
            route = respx.put(server.url + "/echo").mock(return_value=httpx.Response(200, text="async mock"))
            async with requestx.AsyncClient() as c:
                r = await c.put(server.url + "/echo", content=b"body")
                assert r.text == "async mock"
            assert route.calls.last.request.content == b"body"

    arun(main)


def test_pytest_httpx_mocks_a_requestx_client(server, via_httpx, httpx_mock) -> None:
    httpx_mock.add_response(url=server.url + "/small", json={"from": "httpx_mock"}, headers={"X-Mock": "1"})
    httpx_mock.add_response(method="POST", url=server.url + "/echo", status_code=202)
    with requestx.Client() as c:
        r = c.get(server.url + "/small")
        assert r.json() == {"from": "httpx_mock"} and r.headers["x-mock"] == "1"
        assert c.post(server.url + "/echo", content=b"sent").status_code == 202
    assert httpx_mock.get_request(method="POST").content == b"sent"


def test_pytest_httpx_async(server, via_httpx, httpx_mock, arun) -> None:
    httpx_mock.add_response(url=server.url + "/small", text="async httpx_mock")

    async def main() -> None:
        async with requestx.AsyncClient() as c:
            assert (await c.get(server.url + "/small")).text == "async httpx_mock"

    arun(main)
    assert len(httpx_mock.get_requests()) == 1


def test_the_one_line_opt_in(server, tmp_path) -> None:
    """`pytest_plugins = ["requestx.testing"]` in a conftest.py is all a project adds."""
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["requestx.testing"]\n')
    (tmp_path / "test_app.py").write_text(
        textwrap.dedent(
            f"""
            import httpx
            import respx
            import requestx

            client = requestx.Client()  # the application's own, built at import

            def test_respx():
                with respx.mock:
                    route = respx.get("{server.url}/small").mock(return_value=httpx.Response(204))
                    assert client.get("{server.url}/small").status_code == 204
                assert route.called

            def test_httpx_mock(httpx_mock):
                httpx_mock.add_response(url="{server.url}/small", text="mocked")
                assert client.get("{server.url}/small").text == "mocked"

            def test_unmocked():
                assert client.get("{server.url}/small").content == b"x" * 100
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
