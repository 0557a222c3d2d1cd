"""The models alone (no network): URL, QueryParams, Response helpers, as httpx shapes them."""

from __future__ import annotations

import pytest

import requestx


def test_url_parts_and_copies() -> None:
    url = requestx.URL("https://user:pa%20ss@Example.org:8443/a%20b/c?x=1&y=2#frag")
    assert (url.scheme, url.raw_scheme, url.host, url.port) == ("https", b"https", "example.org", 8443)
    assert (url.username, url.password, url.userinfo) == ("user", "pa ss", b"user:pa%20ss")
    assert (url.path, url.query, url.fragment) == ("/a b/c", b"x=1&y=2", "frag")
    assert url.raw_path == b"/a%20b/c?x=1&y=2"
    assert url.params["x"] == "1" and url.is_absolute_url
    assert str(url.copy_set_param("x", "9")).endswith("?y=2&x=9#frag")
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
    assert q.set("a", "x").multi_items() == [("b", "true"), ("c", ""), ("a", "x")]
    assert requestx.QueryParams("a=1&b=2") == requestx.QueryParams([("b", "2"), ("a", "1")])


def test_response_status_helpers() -> None:
    assert requestx.Response(101).is_informational
    assert requestx.Response(503).is_server_error and requestx.Response(503).is_error
    redirect = requestx.Response(302, headers={"Location": "/x"})
    assert redirect.is_redirect and redirect.has_redirect_location
    assert not requestx.Response(302).is_redirect  # no Location
    r = requestx.Response(200, headers={"Link": '<https://a/next>; rel="next"'})
    assert r.links == {"next": {"url": "https://a/next", "rel": "next"}}
    with pytest.raises(RuntimeError):
        r.raise_for_status()  # no request set


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # Each expected value is what httpx 0.28 prints for the same input.
        ("https://例え.テスト/a b?q=x y#f", "https://xn--r8jz45g.xn--zckzah/a%20b?q=x%20y#f"),
        ("HTTP://Example.COM:80/%7Efoo/./bar/../baz", "http://example.com:80/%7Efoo/baz"),
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
