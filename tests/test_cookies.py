"""`Cookies` (requestx/_cookies.py): the client's jar, a mapping over `http.cookiejar.CookieJar`.

No server: Set-Cookie is read from a `Response` built here and the Cookie header written onto a
`Request` built here, with the standard library's cookie policy deciding what applies, as in httpx.
(The client's use of the jar across requests and redirects is tested against a server in
test_client.py and test_httpbin.py.)
"""

from __future__ import annotations

import typing
from http.cookiejar import CookieJar

import pytest

import requestx
from requestx import Cookies


def _names(cookies: Cookies) -> list[tuple[str, str, str, str]]:
    return sorted((c.name, c.value, c.domain, c.path) for c in cookies.jar)


# --- building ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [{"a": "1", "b": "2"}, [("a", "1"), ("b", "2")], Cookies({"a": "1", "b": "2"})],
)
def test_built_from(given: typing.Any) -> None:
    assert dict(Cookies(given)) == {"a": "1", "b": "2"}


def test_built_from_a_jar_shares_it() -> None:
    jar = CookieJar()
    cookies = Cookies(jar)
    cookies["a"] = "1"
    assert cookies.jar is jar and [c.name for c in jar] == ["a"]


def test_built_from_cookies_is_a_copy() -> None:
    original = Cookies({"a": "1"})
    Cookies(original)["b"] = "2"
    assert dict(original) == {"a": "1"}


def test_set_defaults_and_scope() -> None:
    cookies = Cookies()
    cookies.set("a", "1")
    cookies.set("b", "2", domain=".example.org", path="/p")
    a, b = sorted(cookies.jar, key=lambda c: c.name)
    assert (a.domain, a.domain_specified, a.path, a.path_specified) == ("", False, "/", True)
    assert (b.domain, b.domain_specified, b.domain_initial_dot, b.path) == (".example.org", True, True, "/p")
    assert not a.secure and a.expires is None and a.discard


# --- reading -------------------------------------------------------------------------------------


@pytest.fixture
def two_domains() -> Cookies:
    cookies = Cookies()
    cookies.set("a", "1", domain="x.org", path="/p")
    cookies.set("a", "2", domain="y.org", path="/q")
    cookies.set("b", "3")
    return cookies


@pytest.mark.parametrize(
    ("kwargs", "value"),
    [
        ({"domain": "y.org"}, "2"),
        ({"path": "/p"}, "1"),
        ({"domain": "x.org", "path": "/p"}, "1"),
        ({"domain": "x.org", "path": "/q"}, None),
        ({"domain": "z.org", "default": "d"}, "d"),
    ],
)
def test_get_narrowed_by_domain_and_path(two_domains: Cookies, kwargs: dict[str, str], value: str | None) -> None:
    assert two_domains.get("a", **kwargs) == value


def test_a_name_on_two_domains_is_a_conflict(two_domains: Cookies) -> None:
    with pytest.raises(requestx.CookieConflict, match="name=a"):
        two_domains.get("a")
    with pytest.raises(requestx.CookieConflict):
        two_domains["a"]


def test_missing_and_empty_values() -> None:
    cookies = Cookies()
    cookies.set("empty", "")
    assert (cookies.get("empty", "d"), cookies["empty"]) == ("", "")  # an empty value is a value
    assert (cookies.get("missing"), cookies.get("missing", "d")) == (None, "d")
    with pytest.raises(KeyError):
        cookies["missing"]


def test_as_a_mapping(two_domains: Cookies) -> None:
    assert sorted(two_domains) == ["a", "a", "b"]  # one entry per cookie, as httpx
    assert len(two_domains) == 3
    assert ("b" in two_domains, "z" in two_domains) == (True, False)
    assert (bool(two_domains), bool(Cookies())) == (True, False)


def test_repr() -> None:
    cookies = Cookies({"a": "1"})
    cookies.set("b", "2", domain="x.org")
    assert repr(cookies) == "<Cookies[<Cookie a=1 for  />, <Cookie b=2 for x.org />]>"


# --- changing ------------------------------------------------------------------------------------


def test_setitem_replaces_the_value() -> None:
    cookies = Cookies()
    cookies["a"] = "1"
    cookies["a"] = "2"
    assert (dict(cookies), len(cookies)) == ({"a": "2"}, 1)


@pytest.mark.parametrize(
    ("kwargs", "left"),
    [
        ({}, [("b", "")]),  # every cookie of the name
        ({"domain": "x.org"}, [("a", "y.org"), ("b", "")]),
        ({"path": "/q"}, [("a", "x.org"), ("b", "")]),
        ({"domain": "x.org", "path": "/p"}, [("a", "y.org"), ("b", "")]),
    ],
)
def test_delete(two_domains: Cookies, kwargs: dict[str, str], left: list[tuple[str, str]]) -> None:
    two_domains.delete("a", **kwargs)
    assert sorted((c.name, c.domain) for c in two_domains.jar) == left


def test_delete_of_a_missing_name_does_nothing() -> None:
    cookies = Cookies({"a": "1"})
    cookies.delete("z")
    assert dict(cookies) == {"a": "1"}


def test_delitem() -> None:
    cookies = Cookies({"a": "1", "b": "2"})
    cookies.set("e", "")
    del cookies["a"]
    del cookies["e"]
    assert dict(cookies) == {"b": "2"}
    with pytest.raises(KeyError):  # httpx 0.28 ignores a missing name here
        del cookies["a"]


@pytest.mark.parametrize(
    ("kwargs", "left"),
    [({}, []), ({"domain": "x.org"}, ["a", "b"]), ({"domain": "x.org", "path": "/p"}, ["a", "b"])],
)
def test_clear(two_domains: Cookies, kwargs: dict[str, str], left: list[str]) -> None:
    two_domains.clear(**kwargs)
    assert sorted(two_domains) == left


def test_update() -> None:
    cookies = Cookies({"a": "1"})
    cookies.update({"a": "2", "b": "3"})
    cookies.update(Cookies({"c": "4"}))
    cookies.update(None)
    assert dict(cookies) == {"a": "2", "b": "3", "c": "4"}


# --- Set-Cookie in, Cookie out -------------------------------------------------------------------

SET_COOKIES = [
    "s=1; Path=/",
    "p=2; Path=/a",
    "q=3; Path=/other",
    "sec=4; Secure",
    "old=5; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    "dom=6; Domain=example.org",
    "evil=7; Domain=other.org",
]


@pytest.fixture
def from_response() -> Cookies:
    request = requestx.Request("GET", "https://example.org/a/b")
    response = requestx.Response(200, headers=[("Set-Cookie", v) for v in SET_COOKIES], request=request)
    cookies = Cookies()
    cookies.extract_cookies(response)
    return cookies


def test_extract_cookies_scopes_them_by_the_request_url(from_response: Cookies) -> None:
    assert _names(from_response) == [
        ("dom", "6", ".example.org", "/a"),  # no Path: the request's directory
        ("p", "2", "example.org", "/a"),
        ("q", "3", "example.org", "/other"),
        ("s", "1", "example.org", "/"),
        ("sec", "4", "example.org", "/a"),
    ]  # not the expired one, nor the one for another domain
    assert next(c for c in from_response.jar if c.name == "sec").secure


@pytest.mark.parametrize(
    ("url", "header"),
    [
        ("https://example.org/a/b", "p=2; sec=4; dom=6; s=1"),  # longest path first
        ("http://example.org/a/x", "p=2; dom=6; s=1"),  # Secure only over https
        ("https://example.org/other/z", "q=3; s=1"),
        ("https://sub.example.org/", "s=1"),  # the standard library's liberal host-only rule
        ("https://other.org/", None),
    ],
)
def test_set_cookie_header_for_a_url(from_response: Cookies, url: str, header: str | None) -> None:
    request = requestx.Request("GET", url)
    from_response.set_cookie_header(request)
    assert request.headers.get("Cookie") == header


def test_set_cookie_header_keeps_a_cookie_header_already_set(from_response: Cookies) -> None:
    request = requestx.Request("GET", "https://example.org/", headers={"Cookie": "manual=1"})
    from_response.set_cookie_header(request)
    assert request.headers.get_list("Cookie") == ["manual=1"]


def test_set_cookie_header_keeps_the_other_headers() -> None:
    request = requestx.Request("GET", "https://example.org/", headers=[("X-A", "1"), ("x-a", "2")])
    Cookies({"a": "1"}).set_cookie_header(request)
    assert request.headers.raw == [(b"Host", b"example.org"), (b"X-A", b"1"), (b"x-a", b"2"), (b"Cookie", b"a=1")]


# --- found by fuzz/test_parsers.py (nox -s fuzz) ---------------------------------------------------


@pytest.mark.parametrize(
    ("set_cookie", "sent", "items"),
    [(b"flag", "flag", [("flag", "")]), ("a=\u00e9".encode(), "a=\u00e9", [("a", "\u00e9")])],
)
def test_odd_cookies_go_back_as_they_came(set_cookie: bytes, sent: str, items: list[tuple[str, str]]) -> None:
    """A cookie without a value, and one whose value is not ASCII, are kept and sent back."""
    request = requestx.Request("GET", "https://example.org/")
    jar = requestx.Cookies()
    jar.extract_cookies(requestx.Response(200, headers=[(b"Set-Cookie", set_cookie)], request=request))
    assert list(jar.items()) == items
    out = requestx.Request("GET", "https://example.org/")
    jar.set_cookie_header(out)
    assert out.headers["cookie"] == sent
