"""`build_redirect_request` (requestx/_redirects.py): the request a redirect calls for, by httpx's
rules; and `REDIRECT_CODES` (requestx/_status_codes.py), the statuses that call for one.

Unit tests build the request and the redirect response here; two tests at the end follow real
redirects of the test app to check the client re-applies its jar, not the Cookie header it was given.
Where requestx differs from httpx 0.28 the test asserts httpx's behaviour and is marked xfail (strict).
"""

from __future__ import annotations

import typing

import httpx
import pytest

import requestx
from requestx._redirects import build_redirect_request
from requestx._status_codes import REDIRECT_CODES

from .conftest import Server

BODY_HEADERS = ("content-length", "transfer-encoding", "content-type")


def redirect(
    status: int,
    location: str,
    method: str = "GET",
    url: str = "https://a.example/x",
    headers: typing.Any = None,
    content: typing.Any = None,
) -> tuple[requestx.Request, requestx.Request]:
    """The request, and the one a `status` response to it with this Location calls for."""
    request = requestx.Request(method, url, headers=headers, content=content)
    # A Location is bytes on the wire (a non-ASCII str header is an error, as in httpx).
    response = requestx.Response(status, headers={"Location": location.encode()}, request=request)
    return request, build_redirect_request(request, response)


# --- which statuses ------------------------------------------------------------------------------


def test_redirect_codes() -> None:
    assert frozenset({301, 302, 303, 307, 308}) == REDIRECT_CODES
    assert all(httpx.codes.is_redirect(code) for code in REDIRECT_CODES)


@pytest.mark.parametrize("status", [300, 301, 302, 303, 304, 305, 307, 308])
def test_a_response_has_a_redirect_location_for_these_codes_only(status: int) -> None:
    assert requestx.Response(status, headers={"Location": "/y"}).has_redirect_location is (status in REDIRECT_CODES)
    assert not requestx.Response(status).has_redirect_location


@pytest.mark.parametrize(("status", "headers"), [(300, {}), (302, {}), (304, {}), (304, {"Location": "/y"})])
def test_is_redirect_is_any_3xx(status: int, headers: dict[str, str]) -> None:
    assert requestx.Response(status, headers=headers).is_redirect


# --- the method, and the body that goes with it --------------------------------------------------


def _case(status: int, method: str, becomes: str, xfail: str | None = None) -> typing.Any:
    marks = [pytest.mark.xfail(reason=xfail, strict=True)] if xfail else []
    return pytest.param(status, method, becomes, marks=marks, id=f"{status}-{method}")


@pytest.mark.parametrize(
    ("status", "method", "becomes"),
    [
        _case(301, "POST", "GET"),
        _case(301, "PUT", "PUT"),
        _case(301, "PATCH", "PATCH"),
        _case(302, "POST", "GET"),
        _case(302, "PUT", "GET"),
        _case(302, "PATCH", "GET"),
        _case(302, "DELETE", "GET"),
        _case(302, "QUERY", "QUERY"),  # httpx2: QUERY keeps its method (RFC 10008)
        _case(303, "POST", "GET"),
        _case(303, "PUT", "GET"),
        _case(303, "DELETE", "GET"),
        _case(307, "POST", "POST"),
        _case(307, "PUT", "PUT"),
        _case(308, "POST", "POST"),
        _case(308, "DELETE", "DELETE"),
    ],
)
def test_method_and_body(status: int, method: str, becomes: str) -> None:
    headers = {"Content-Type": "text/plain", "X-Other": "kept"}
    _, follow = redirect(status, "/y", method, headers=headers, content=b"body")
    assert follow.method == becomes
    assert follow.headers["x-other"] == "kept"
    if becomes == method:
        assert follow.content == b"body"
        assert (follow.headers["content-length"], follow.headers["content-type"]) == ("4", "text/plain")
    else:  # the body goes, and the headers describing it (httpx 0.28 keeps Content-Type)
        assert follow.content == b""
        assert [name for name in BODY_HEADERS if name in follow.headers] == []


@pytest.mark.parametrize("status", sorted(REDIRECT_CODES))
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_get_and_head_stay(status: int, method: str) -> None:
    assert redirect(status, "/y", method)[1].method == method


def test_a_streamed_body_is_passed_on_not_read() -> None:
    def chunks() -> typing.Iterator[bytes]:
        yield b"streamed"

    request, follow = redirect(307, "/y", "POST", content=chunks())
    assert follow.stream is request.stream is not None
    assert follow.headers["transfer-encoding"] == "chunked"
    assert b"".join(follow.stream) == b"streamed"


def test_a_streamed_body_goes_when_the_method_becomes_get() -> None:
    _, follow = redirect(303, "/y", "POST", content=iter([b"streamed"]))
    assert follow.content == b"" and b"".join(follow.stream) == b""
    assert "transfer-encoding" not in follow.headers


# --- where it goes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "location", "target"),
    [
        ("https://a.example/x", "https://b.example/y?q=1", "https://b.example/y?q=1"),
        ("https://a.example/x", "/y", "https://a.example/y"),
        ("https://a.example/a/b", "c?q=1", "https://a.example/a/c?q=1"),
        ("https://a.example/a/b", "../c", "https://a.example/c"),
        ("https://a.example/a/b", "//b.example/z", "https://b.example/z"),
        ("https://a.example/a/b", "https:/z", "https://a.example/z"),  # a scheme, no host: this host
        ("https://a.example/a/b", "/caf\u00e9 au lait", "https://a.example/caf%C3%A9%20au%20lait"),
        ("https://a.example/a/b", "HTTPS://B.EXAMPLE/Y", "https://b.example/Y"),
        ("https://a.example/x#frag", "/y", "https://a.example/y#frag"),  # RFC 9110 10.2.2
        ("https://a.example/x#frag", "/y#own", "https://a.example/y#own"),
    ],
)
def test_location(url: str, location: str, target: str) -> None:
    assert str(redirect(302, location, url=url)[1].url) == target


def test_location_with_another_scheme_and_no_host() -> None:
    assert str(redirect(302, "http:/z", url="https://a.example/x")[1].url) == "http://a.example/z"


@pytest.mark.parametrize("location", ["https://b.example:abc/", "https://[::1/"])
def test_an_invalid_location_is_a_protocol_error(location: str) -> None:
    with pytest.raises(requestx.RemoteProtocolError, match="Invalid URL in location header") as info:
        redirect(302, location)
    assert info.value.request.url == "https://a.example/x"


@pytest.mark.parametrize("location", ["ftp://b.example/z", "javascript:alert(1)", "file:///etc/passwd"])
def test_a_location_with_another_scheme_is_refused(location: str) -> None:
    with pytest.raises(requestx.UnsupportedProtocol):
        redirect(302, location)


# --- headers across origins ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "location", "kept"),
    [
        ("https://a.example/x", "/y", True),
        ("https://a.example/x", "https://A.EXAMPLE/y", True),
        ("https://a.example/x", "https://a.example:443/y", True),  # the default port is the same origin
        ("http://a.example/x", "https://a.example/y", True),  # an upgrade of the same host
        ("http://a.example:80/x", "https://a.example:443/y", True),
        ("https://a.example/x", "https://b.example/y", False),
        ("https://a.example/x", "https://sub.a.example/y", False),
        ("https://a.example/x", "https://a.example:8443/y", False),
        ("https://a.example/x", "http://a.example/y", False),  # a downgrade
        ("http://a.example:8080/x", "https://a.example/y", False),
        ("http://a.example/x", "https://a.example:8443/y", False),
    ],
)
def test_authorization_stays_within_the_origin(url: str, location: str, kept: bool) -> None:
    request, follow = redirect(302, location, url=url, headers={"Authorization": "Bearer t", "X-Other": "1"})
    assert ("authorization" in follow.headers) is kept
    assert follow.headers["x-other"] == "1"
    assert request.headers["authorization"] == "Bearer t"  # the original request is left alone


@pytest.mark.parametrize(("location", "host"), [("/y", "a.example"), ("https://b.example:8443/y", "b.example:8443")])
def test_a_host_header_follows_the_origin(location: str, host: str) -> None:
    _, follow = redirect(302, location, headers={"Host": "a.example"})
    assert follow.headers.get_list("host") == [host]


def test_the_host_header_shown_is_the_new_origins() -> None:
    _, follow = redirect(302, "https://b.example/y")
    assert follow.headers.get_list("host") == ["b.example"]  # as httpx shows it; the engine sends it once


@pytest.mark.parametrize("location", ["/y", "https://b.example/y"])
def test_the_cookie_header_is_dropped(location: str) -> None:
    """The client's jar decides the next hop's cookies, not the header the first request carried."""
    request, follow = redirect(307, location, headers={"Cookie": "manual=1"})
    assert "cookie" not in follow.headers
    assert request.headers["cookie"] == "manual=1"


def test_extensions_are_carried() -> None:
    request = requestx.Request("GET", "https://a.example/x", extensions={"timeout": {"read": 1.0}})
    follow = build_redirect_request(request, requestx.Response(302, headers={"Location": "/y"}, request=request))
    assert follow.extensions == {"timeout": {"read": 1.0}}


# --- the client: its jar, hop by hop -------------------------------------------------------------


def _final_cookie(server: Server, target: str, headers: dict[str, str] | None = None) -> typing.Any:
    with requestx.Client(follow_redirects=True) as client:
        client.cookies.set("jar", "1", domain="127.0.0.1")
        response = client.get(f"{server.url}/redirect-to", params={"url": target}, headers=headers)
    assert [r.status_code for r in response.history] == [302]
    return response.json()["cookie"]


@pytest.mark.parametrize("headers", [None, {"Cookie": "manual=1"}])
def test_client_sends_the_jar_s_cookies_after_a_redirect(server: Server, headers: dict[str, str] | None) -> None:
    assert _final_cookie(server, f"{server.url}/cookies", headers) == "jar=1"


@pytest.mark.parametrize("headers", [None, {"Cookie": "manual=1"}])
def test_client_sends_no_cookie_to_another_host_after_a_redirect(
    server: Server, headers: dict[str, str] | None
) -> None:
    other = server.url.replace("127.0.0.1", "localhost")
    assert _final_cookie(server, f"{other}/cookies", headers) == ""
