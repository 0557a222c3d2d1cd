"""The models alone (no network): URL, QueryParams, Response helpers, as httpx shapes them."""

from __future__ import annotations

import typing

import pytest

import requestx


def test_url_parts_and_copies() -> None:
    url = requestx.URL("https://user:pa%20ss@Example.org:8443/a%20b/c?x=1&y=2#frag")
    assert (url.scheme, url.raw_scheme, url.host, url.port) == ("https", b"https", "example.org", 8443)
    assert (url.username, url.password, url.userinfo) == ("user", "pa ss", b"user:pa%20ss")
    assert (url.path, url.query, url.fragment) == ("/a b/c", b"x=1&y=2", "frag")
    assert url.raw_path == b"/a%20b/c?x=1&y=2"
    assert url.params["x"] == "1" and url.is_absolute_url
    assert str(url.copy_set_param("x", "9")).endswith("?x=9&y=2#frag")  # the key keeps its place
    assert str(url.copy_add_param("x", "3").params.get_list("x")) == "['1', '3']"
    assert "x=" not in str(url.copy_remove_param("x"))
    assert url.copy_merge_params({"y": "5"}).params["y"] == "5"
    assert str(requestx.URL("https://a.example/b/c").join("../d")) == "https://a.example/d"
    assert requestx.URL("http://a.example:80/").port is None
    assert "[secure]" in repr(url)
    with pytest.raises(requestx.InvalidURL):
        requestx.URL("http://a.example/\nX")


def test_query_params() -> None:
    q = requestx.QueryParams({"a": ["1", "2"], "b": True, "c": None})
    assert str(q) == "a=1&a=2&b=true&c="
    assert q.get_list("a") == ["1", "2"] and q["a"] == "1" and "b" in q and len(q) == 3
    assert q.set("a", "x").multi_items() == [("a", "x"), ("b", "true"), ("c", "")]
    assert requestx.QueryParams("a=1&b=2") == requestx.QueryParams([("b", "2"), ("a", "1")])


def test_response_status_helpers() -> None:
    assert requestx.Response(101).is_informational
    assert requestx.Response(503).is_server_error and requestx.Response(503).is_error
    redirect = requestx.Response(302, headers={"Location": "/x"})
    assert redirect.is_redirect and redirect.has_redirect_location
    assert requestx.Response(302).is_redirect and not requestx.Response(302).has_redirect_location
    r = requestx.Response(200, headers={"Link": '<https://a/next>; rel="next"'})
    assert r.links == {"next": {"url": "https://a/next", "rel": "next"}}
    with pytest.raises(RuntimeError):
        r.raise_for_status()  # no request set


def test_reason_phrase_comes_from_the_extensions_as_in_httpx() -> None:
    assert requestx.Response(404).reason_phrase == "Not Found"
    assert requestx.Response(200, extensions={"reason_phrase": b"Fine \xe9"}).reason_phrase == "Fine "
    assert requestx.Response(799).reason_phrase == ""
    assert requestx.Response(200, extensions={"reason_phrase": b""}).reason_phrase == ""


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # Each expected value is what httpx 0.28 prints for the same input.
        ("https://例え.テスト/a b?q=x y#f", "https://xn--r8jz45g.xn--zckzah/a%20b?q=x%20y#f"),
        ("HTTP://Example.COM:80/%7Efoo/./bar/../baz", "http://example.com/%7Efoo/baz"),
        (
            "https://user:pa ss@Example.org:8443/a%20b/c?x=1&y=2#frag",
            "https://user:pa%20ss@example.org:8443/a%20b/c?x=1&y=2#frag",
        ),
        ("http://[::1]:8080/a b", "http://[::1]:8080/a%20b"),
        ("https://example.com/.well-known/x", "https://example.com/.well-known/x"),
        ("https://example.com/a?b=c d", "https://example.com/a?b=c%20d"),
        ("/relative/../path", "/relative/../path"),
        ("http://127.0.0.1:8080/small", "http://127.0.0.1:8080/small"),
    ],
)
def test_url_is_normalized_as_httpx_does(given: str, expected: str) -> None:
    assert str(requestx.URL(given)) == expected


def test_response_url_is_normalized_and_bad_urls_refused(server) -> None:
    with requestx.Client() as client:
        response = client.get(server.url.replace("127.0.0.1", "LOCALHOST") + "/echo?q=a b")
        assert str(response.url) == server.url.replace("127.0.0.1", "localhost") + "/echo?q=a%20b"
        assert response.json()["query"] == "q=a%20b"
        with pytest.raises(requestx.InvalidURL):
            client.get(server.url + "/small\n")
        with pytest.raises(TypeError):
            client.get(42)  # type: ignore[arg-type]


def test_byte_streams_as_httpx_exports_them(arun) -> None:
    stream = requestx.ByteStream(b"abc")
    assert isinstance(stream, requestx.SyncByteStream) and isinstance(stream, requestx.AsyncByteStream)
    assert list(stream) == [b"abc"] and list(stream) == [b"abc"]

    async def main() -> None:
        assert [chunk async for chunk in stream] == [b"abc"]

    arun(main)


def test_response_stream_as_httpx_has_it(arun) -> None:
    import gzip

    # A buffered response (built, or read from the engine) yields its content on every pass, as
    # httpx's `Response(content=...)` does: httpx's own client drains it again, harmlessly.
    built = requestx.Response(200, content=b"body")
    assert list(built.stream) == [b"body"] and list(built.stream) == [b"body"]
    assert list(requestx.Response(204).stream) == []
    # `stream=`: a raw body, Content-Encoding undone as it is read.
    packed = gzip.compress(b"unpacked")
    r = requestx.Response(200, stream=requestx.ByteStream(packed), headers={"Content-Encoding": "gzip"})
    assert not r.is_stream_consumed and r.read() == b"unpacked"
    assert list(r.stream) == [packed]  # the stream given, as httpx's `Response(stream=...)` keeps it
    r = requestx.Response(200, stream=iter([b"a", b"", b"b"]))
    assert list(r.stream) == [b"a", b"", b"b"] and not r.is_stream_consumed
    with pytest.raises(requestx.ResponseNotRead):
        _ = r.content

    closed: list[str] = []

    class Tracked(requestx.AsyncByteStream):
        async def __aiter__(self) -> typing.AsyncIterator[bytes]:
            yield b"x"
            yield b"y"

        async def aclose(self) -> None:
            closed.append("aclose")

    async def main() -> None:
        r = requestx.Response(200, stream=Tracked())
        # `.stream` is the stream given (as httpx): iterating it reads it, closing is the response's.
        assert [chunk async for chunk in r.stream] == [b"x", b"y"] and closed == []
        await r.aclose()
        assert r.is_closed and closed == ["aclose"]
        assert await requestx.Response(200, stream=Tracked()).aread() == b"xy"
        assert closed == ["aclose", "aclose"]

    arun(main)
    with pytest.raises(RuntimeError, match="async"):
        requestx.Response(200, stream=Tracked()).read()


def test_streamed_engine_response_stream(server) -> None:
    with requestx.Client() as c:
        with c.stream("GET", server.url + "/compressed", params={"enc": "gzip"}) as r:
            raw = b"".join(r.stream)  # the bytes as sent, still gzip'd
        import gzip

        assert gzip.decompress(raw) == b"compressible " * 2000 and r.is_closed
        r = c.get(server.url + "/small")
        assert list(r.stream) == [b"x" * 100]
