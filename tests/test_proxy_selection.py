"""Proxy selection as httpx 0.28 does it, on the pure functions of `requestx._proxies`: the
environment's proxies, mount patterns and their order, and the mounts a client builds.

The cases are httpx's own (tests/client/test_proxies.py and tests/test_utils.py), which check
them through httpcore internals; here they are checked on the functions directly, plus the NO_PROXY
forms requestx accepts beyond httpx (CIDR ranges, bracketed IPv6, "*.example.com").
"""

from __future__ import annotations

import os
import random
import typing

import pytest

from requestx._config import Proxy
from requestx._proxies import (
    URLPattern,
    as_proxy,
    build_mounts,
    engine_proxy_url,
    get_environment_proxies,
    no_proxy_pattern,
    transport_for_url,
)
from requestx._urls import URL

PROXY_URL = "http://[::1]"
DIRECT = object()  # stands for the client's own transport


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> typing.Callable[[dict[str, str]], None]:
    """Sets exactly these proxy variables: any *_proxy already in the environment is removed."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
            monkeypatch.delenv(name)

    def set_env(env: dict[str, str]) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return set_env


def origin(url: str | URL) -> tuple[str, str, int | None]:
    u = URL(url)
    return (u.scheme, u.host, u.port)


def env_proxy_for(url: str) -> Proxy | None:
    """The proxy a client reading the environment would use for `url` (None: direct)."""
    mounts = build_mounts(None, None, trust_env=True, proxy_transport=lambda proxy: proxy)
    chosen = transport_for_url(mounts, URL(url), default=None)
    assert chosen is None or isinstance(chosen, Proxy)
    return chosen


# --- get_environment_proxies (httpx tests/test_utils.py, plus the forms httpx cannot parse) ----


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {}),
        ({"HTTP_PROXY": "http://127.0.0.1"}, {"http://": "http://127.0.0.1"}),
        (
            {"https_proxy": "http://127.0.0.1", "HTTP_PROXY": "https://127.0.0.1"},
            {"https://": "http://127.0.0.1", "http://": "https://127.0.0.1"},
        ),
        ({"all_proxy": "http://127.0.0.1"}, {"all://": "http://127.0.0.1"}),
        ({"TRAVIS_APT_PROXY": "http://127.0.0.1"}, {}),
        ({"no_proxy": "127.0.0.1"}, {"all://127.0.0.1": None}),
        ({"no_proxy": "192.168.0.0/16"}, {"all://192.168.0.0/16": None}),
        ({"no_proxy": "::1"}, {"all://[::1]": None}),
        ({"no_proxy": "localhost"}, {"all://localhost": None}),
        ({"no_proxy": "github.com"}, {"all://*github.com": None}),
        ({"no_proxy": ".github.com"}, {"all://*.github.com": None}),
        ({"no_proxy": "http://github.com"}, {"http://github.com": None}),
        # A proxy without a scheme is an http:// one.
        ({"HTTPS_PROXY": "proxy.local:3128"}, {"https://": "http://proxy.local:3128"}),
        # Lower case wins over upper case, as in urllib.
        ({"HTTP_PROXY": "http://upper", "http_proxy": "http://lower"}, {"http://": "http://lower"}),
        # An empty variable is no proxy.
        ({"HTTP_PROXY": ""}, {}),
        # Entries are comma-separated, whitespace and empty entries ignored.
        (
            {"NO_PROXY": " a.com , ,b.com,"},
            {"all://*a.com": None, "all://*b.com": None},
        ),
        # "*" anywhere turns every proxy off, those from *_PROXY included.
        ({"HTTP_PROXY": "http://p", "NO_PROXY": "a.com,*"}, {}),
        # Ports: a domain's, an IPv4 address's (httpx's spelling kept), an IPv6 address's.
        ({"NO_PROXY": "example.com:8080"}, {"all://*example.com:8080": None}),
        ({"NO_PROXY": "127.0.0.1:8080"}, {"all://*127.0.0.1:8080": None}),
        ({"NO_PROXY": "LOCALHOST"}, {"all://LOCALHOST": None}),
        # Beyond httpx, which raises InvalidURL on the IPv6 forms and matches nothing with "*.".
        ({"NO_PROXY": "[::1]"}, {"all://[::1]": None}),
        ({"NO_PROXY": "[::1]:8080"}, {"all://[::1]:8080": None}),
        ({"NO_PROXY": "fd00::/8"}, {"all://[fd00::]/8": None}),
        ({"NO_PROXY": "*.example.com"}, {"all://*.example.com": None}),
    ],
)
def test_get_environment_proxies(environ: typing.Any, env: dict[str, str], expected: dict[str, str | None]) -> None:
    environ(env)
    assert get_environment_proxies() == expected


def test_cgi_ignores_http_proxy(environ: typing.Any) -> None:
    # A CGI script gets the client's "Proxy:" header as HTTP_PROXY (httpoxy, CVE-2016-1000110).
    environ({"REQUEST_METHOD": "GET", "HTTP_PROXY": "http://evil", "HTTPS_PROXY": "http://p"})
    assert get_environment_proxies() == {"https://": "http://p"}


def test_every_no_proxy_pattern_parses() -> None:
    for entry in ["example.com", ".example.com", "*.example.com", "localhost", "10.0.0.0/8", "::1", "fe80::/10"]:
        URLPattern(no_proxy_pattern(entry))
    for entry in ["[::1]", "[::1]:8080", "[fd00::]/8", "127.0.0.1:8080", "example.com:443", "https://a.b"]:
        URLPattern(no_proxy_pattern(entry))


# --- the environment end to end (httpx tests/client/test_proxies.py::test_proxies_environ) ----


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        ("http://google.com", {}, None),
        ("http://google.com", {"HTTP_PROXY": "http://example.com"}, "http://example.com"),
        # Auto prepend http scheme
        ("http://google.com", {"HTTP_PROXY": "example.com"}, "http://example.com"),
        ("http://google.com", {"HTTP_PROXY": "http://example.com", "NO_PROXY": "google.com"}, None),
        # Everything proxied when NO_PROXY is empty/unset
        ("http://127.0.0.1", {"ALL_PROXY": "http://localhost:123", "NO_PROXY": ""}, "http://localhost:123"),
        # Not proxied if NO_PROXY matches URL.
        ("http://127.0.0.1", {"ALL_PROXY": "http://localhost:123", "NO_PROXY": "127.0.0.1"}, None),
        # Proxied if NO_PROXY scheme does not match URL.
        (
            "http://127.0.0.1",
            {"ALL_PROXY": "http://localhost:123", "NO_PROXY": "https://127.0.0.1"},
            "http://localhost:123",
        ),
        # Proxied if NO_PROXY scheme does not match host.
        ("http://127.0.0.1", {"ALL_PROXY": "http://localhost:123", "NO_PROXY": "1.1.1.1"}, "http://localhost:123"),
        # Not proxied if NO_PROXY matches host domain suffix.
        ("http://courses.mit.edu", {"ALL_PROXY": "http://localhost:123", "NO_PROXY": "mit.edu"}, None),
        # Proxied even though NO_PROXY matches host domain *prefix*.
        ("https://mit.edu.info", {"ALL_PROXY": "http://localhost:123", "NO_PROXY": "mit.edu"}, "http://localhost:123"),
        # Not proxied if one item in NO_PROXY case matches host domain suffix.
        ("https://mit.edu.info", {"ALL_PROXY": "http://localhost:123", "NO_PROXY": "mit.edu,edu.info"}, None),
        # May include whitespace.
        ("https://mit.edu.info", {"ALL_PROXY": "http://localhost:123", "NO_PROXY": "mit.edu, edu.info"}, None),
        # Proxied if no items in NO_PROXY match.
        (
            "https://mit.edu.info",
            {"ALL_PROXY": "http://localhost:123", "NO_PROXY": "mit.edu,mit.info"},
            "http://localhost:123",
        ),
        # Proxied if NO_PROXY domain doesn't match.
        (
            "https://foo.example.com",
            {"ALL_PROXY": "http://localhost:123", "NO_PROXY": "www.example.com"},
            "http://localhost:123",
        ),
        # Not proxied for subdomains matching NO_PROXY, with a leading ".".
        ("https://www.example1.com", {"ALL_PROXY": "http://localhost:123", "NO_PROXY": ".example1.com"}, None),
        # Proxied, because NO_PROXY subdomains only match if "." separated.
        (
            "https://www.example2.com",
            {"ALL_PROXY": "http://localhost:123", "NO_PROXY": "ample2.com"},
            "http://localhost:123",
        ),
        # No requests are proxied if NO_PROXY="*" is set.
        ("https://www.example3.com", {"ALL_PROXY": "http://localhost:123", "NO_PROXY": "*"}, None),
        # --- beyond httpx's file ---
        # The scheme's own proxy beats ALL_PROXY.
        ("https://a.com", {"ALL_PROXY": "http://all:1", "HTTPS_PROXY": "http://tls:2"}, "http://tls:2"),
        ("http://a.com", {"ALL_PROXY": "http://all:1", "HTTPS_PROXY": "http://tls:2"}, "http://all:1"),
        # ".example.com" leaves the domain itself proxied.
        ("https://example1.com", {"ALL_PROXY": "http://p:1", "NO_PROXY": ".example1.com"}, "http://p:1"),
        # "example.com" covers the domain and its subdomains.
        ("https://a.b.example.com", {"ALL_PROXY": "http://p:1", "NO_PROXY": "example.com"}, None),
        ("https://example.com", {"ALL_PROXY": "http://p:1", "NO_PROXY": "example.com"}, None),
        ("https://EXAMPLE.com", {"ALL_PROXY": "http://p:1", "NO_PROXY": "Example.COM"}, None),
        ("http://localhost:8000", {"ALL_PROXY": "http://p:1", "NO_PROXY": "localhost"}, None),
        ("http://a.localhost", {"ALL_PROXY": "http://p:1", "NO_PROXY": "localhost"}, "http://p:1"),
        # Ports.
        ("http://example.com:8080", {"ALL_PROXY": "http://p:1", "NO_PROXY": "example.com:8080"}, None),
        ("http://example.com:8081", {"ALL_PROXY": "http://p:1", "NO_PROXY": "example.com:8080"}, "http://p:1"),
        ("http://example.com", {"ALL_PROXY": "http://p:1", "NO_PROXY": "example.com:8080"}, "http://p:1"),
        ("http://127.0.0.1:8080", {"ALL_PROXY": "http://p:1", "NO_PROXY": "127.0.0.1:8080"}, None),
        ("http://127.0.0.1:9", {"ALL_PROXY": "http://p:1", "NO_PROXY": "127.0.0.1:8080"}, "http://p:1"),
        # IPv6.
        ("http://[::1]:8000", {"ALL_PROXY": "http://p:1", "NO_PROXY": "::1"}, None),
        ("http://[::1]:8000", {"ALL_PROXY": "http://p:1", "NO_PROXY": "[::1]"}, None),
        ("http://[::1]:8000", {"ALL_PROXY": "http://p:1", "NO_PROXY": "[::1]:8000"}, None),
        ("http://[::1]:9", {"ALL_PROXY": "http://p:1", "NO_PROXY": "[::1]:8000"}, "http://p:1"),
        ("http://[::2]", {"ALL_PROXY": "http://p:1", "NO_PROXY": "::1"}, "http://p:1"),
        # CIDR ranges (httpx would only skip the proxy for the network address itself).
        ("http://192.168.7.9", {"ALL_PROXY": "http://p:1", "NO_PROXY": "192.168.0.0/16"}, None),
        ("http://192.169.0.1", {"ALL_PROXY": "http://p:1", "NO_PROXY": "192.168.0.0/16"}, "http://p:1"),
        ("http://10.1.2.3", {"ALL_PROXY": "http://p:1", "NO_PROXY": "a.com, 10.0.0.0/8"}, None),
        ("http://[fd12::3]", {"ALL_PROXY": "http://p:1", "NO_PROXY": "fd00::/8"}, None),
        ("http://[fe80::1]", {"ALL_PROXY": "http://p:1", "NO_PROXY": "fd00::/8"}, "http://p:1"),
        ("http://[fd12::3]", {"ALL_PROXY": "http://p:1", "NO_PROXY": "[fd00::]/8"}, None),
        ("http://example.com", {"ALL_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, "http://p:1"),
        # "*.example.com": subdomains, like ".example.com".
        ("http://www.example.com", {"ALL_PROXY": "http://p:1", "NO_PROXY": "*.example.com"}, None),
        ("http://example.com", {"ALL_PROXY": "http://p:1", "NO_PROXY": "*.example.com"}, "http://p:1"),
    ],
)
def test_proxies_environ(environ: typing.Any, url: str, env: dict[str, str], expected: str | None) -> None:
    environ(env)
    proxy = env_proxy_for(url)
    if expected is None:
        assert proxy is None
    else:
        assert proxy is not None
        assert origin(proxy.url) == origin(expected)


# --- URLPattern (httpx tests/test_utils.py and tests/client/test_proxies.py) ------------------


@pytest.mark.parametrize(
    ("pattern", "url", "expected"),
    [
        ("http://example.com", "http://example.com", True),
        ("http://example.com", "https://example.com", False),
        ("http://example.com", "http://other.com", False),
        ("http://example.com:123", "http://example.com:123", True),
        ("http://example.com:123", "http://example.com:456", False),
        ("http://example.com:123", "http://example.com", False),
        ("all://example.com", "http://example.com", True),
        ("all://example.com", "https://example.com", True),
        ("http://", "http://example.com", True),
        ("http://", "https://example.com", False),
        ("all://", "https://example.com:123", True),
        ("", "https://example.com:123", True),
        # "*" is any host, "*.d" its subdomains only, "*d" the domain too (not "wwwd").
        ("http://*", "http://example.com", True),
        ("http://*", "https://example.com", False),
        ("http://*.example.com", "http://example.com", False),
        ("http://*.example.com", "http://www.example.com", True),
        ("http://*.example.com", "http://a.b.example.com", True),
        ("http://*example.com", "http://example.com", True),
        ("http://*example.com", "http://www.example.com", True),
        ("http://*example.com", "http://wwwexample.com", False),
        ("all://*:8080", "http://anything:8080", True),
        ("all://*:8080", "http://anything", False),
        # A pattern without a port matches every port; a default port is no port.
        ("http://example.com", "http://example.com:443", True),
        ("http://example.com", "http://example.com:8080", True),
        ("http://example.com:80", "http://example.com", True),
        ("http://example.com:80", "http://example.com:8080", True),
        ("http://example.com:8080", "http://example.com:8080", True),
        # Schemes and hosts compare case-insensitively (both are URLs, normalised).
        ("HTTP://Example.COM", "http://EXAMPLE.com", True),
        # IPv6 hosts, with and without ports.
        ("all://[::1]", "http://[::1]:8000", True),
        ("all://[::1]:8000", "http://[::1]:8000", True),
        ("all://[::1]:8000", "http://[::1]:8001", False),
        ("all://[::1]", "http://[::2]", False),
        # CIDR ranges.
        ("all://10.0.0.0/8", "http://10.200.0.1", True),
        ("all://10.0.0.0/8", "http://11.0.0.1", False),
        ("all://10.0.0.0/8", "http://ten.example", False),
        ("all://10.0.0.1/8", "http://10.9.9.9", True),  # host bits ignored
        ("all://[fd00::]/8", "http://[fdff::1]", True),
        ("all://[fd00::]/8", "http://10.0.0.1", False),
        ("all://1.2.3.4/99", "http://1.2.3.4", True),  # not a prefix: the address itself, as httpx
        ("all://1.2.3.4/99", "http://1.2.3.5", False),
        # International domains match in either spelling.
        ("all://*.bücher.de", "https://www.xn--bcher-kva.de", True),
        ("all://*.xn--bcher-kva.de", "https://www.bücher.de", True),
    ],
)
def test_url_matches(pattern: str, url: str, expected: bool) -> None:
    assert URLPattern(pattern).matches(URL(url)) is expected


def test_pattern_priority() -> None:
    matchers = [
        URLPattern("all://"),
        URLPattern("http://"),
        URLPattern("http://example.com"),
        URLPattern("http://example.com:123"),
    ]
    random.shuffle(matchers)
    assert sorted(matchers) == [
        URLPattern("http://example.com:123"),
        URLPattern("http://example.com"),
        URLPattern("http://"),
        URLPattern("all://"),
    ]


def test_pattern_equality_is_by_spelling() -> None:
    assert URLPattern("all://") == URLPattern("all://")
    assert hash(URLPattern("all://")) == hash(URLPattern("all://"))
    assert URLPattern("http://a.com") != URLPattern("http://a.com:80")
    assert URLPattern("all://") != "all://"
    assert repr(URLPattern("all://")) == "URLPattern('all://')"


@pytest.mark.parametrize(
    ("key", "is_valid"),
    [
        ("http", False),
        ("https", False),
        ("all", False),
        ("http://", True),
        ("https://", True),
        ("all://", True),
    ],
)
def test_for_deprecated_proxy_params(key: str, is_valid: bool) -> None:
    if is_valid:
        URLPattern(key)
    else:
        with pytest.raises(ValueError, match=f'use "{key}://"'):
            URLPattern(key)
        with pytest.raises(ValueError):
            build_mounts(None, {key: "transport"}, trust_env=False, proxy_transport=lambda proxy: proxy)


# --- build_mounts / transport_for_url (httpx tests/client/test_proxies.py) -------------------


def transport_for(url: str, mounts: typing.Mapping[str, typing.Any]) -> typing.Any:
    routes = build_mounts(None, mounts, trust_env=False, proxy_transport=lambda proxy: proxy)
    return transport_for_url(routes, URL(url), default=DIRECT)


@pytest.mark.parametrize(
    ("url", "proxies", "expected"),
    [
        ("http://example.com", {}, None),
        ("http://example.com", {"https://": PROXY_URL}, None),
        ("http://example.com", {"http://example.net": PROXY_URL}, None),
        # Using "*" should match any domain name.
        ("http://example.com", {"http://*": PROXY_URL}, PROXY_URL),
        ("https://example.com", {"http://*": PROXY_URL}, None),
        # Using "example.com" should match example.com, but not www.example.com
        ("http://example.com", {"http://example.com": PROXY_URL}, PROXY_URL),
        ("http://www.example.com", {"http://example.com": PROXY_URL}, None),
        # Using "*.example.com" should match www.example.com, but not example.com
        ("http://example.com", {"http://*.example.com": PROXY_URL}, None),
        ("http://www.example.com", {"http://*.example.com": PROXY_URL}, PROXY_URL),
        # Using "*example.com" should match example.com and www.example.com
        ("http://example.com", {"http://*example.com": PROXY_URL}, PROXY_URL),
        ("http://www.example.com", {"http://*example.com": PROXY_URL}, PROXY_URL),
        ("http://wwwexample.com", {"http://*example.com": PROXY_URL}, None),
        # ...
        ("http://example.com:443", {"http://example.com": PROXY_URL}, PROXY_URL),
        ("http://example.com", {"all://": PROXY_URL}, PROXY_URL),
        ("http://example.com", {"http://": PROXY_URL}, PROXY_URL),
        ("http://example.com", {"all://example.com": PROXY_URL}, PROXY_URL),
        ("http://example.com", {"http://example.com": PROXY_URL}, PROXY_URL),
        ("http://example.com", {"http://example.com:80": PROXY_URL}, PROXY_URL),
        ("http://example.com:8080", {"http://example.com:8080": PROXY_URL}, PROXY_URL),
        ("http://example.com:8080", {"http://example.com": PROXY_URL}, PROXY_URL),
        (
            "http://example.com",
            {
                "all://": PROXY_URL + ":1",
                "http://": PROXY_URL + ":2",
                "all://example.com": PROXY_URL + ":3",
                "http://example.com": PROXY_URL + ":4",
            },
            PROXY_URL + ":4",
        ),
        (
            "http://example.com",
            {"all://": PROXY_URL + ":1", "http://": PROXY_URL + ":2", "all://example.com": PROXY_URL + ":3"},
            PROXY_URL + ":3",
        ),
        ("http://example.com", {"all://": PROXY_URL + ":1", "http://": PROXY_URL + ":2"}, PROXY_URL + ":2"),
        # A port beats a longer host.
        (
            "http://www.example.com:8080",
            {"all://*:8080": PROXY_URL + ":1", "all://www.example.com": PROXY_URL + ":2"},
            PROXY_URL + ":1",
        ),
    ],
)
def test_transport_for_request(url: str, proxies: dict[str, str], expected: str | None) -> None:
    # Each mount's "transport" is the proxy URL it would use; the client's own is DIRECT.
    chosen = transport_for(url, proxies)
    assert chosen == (DIRECT if expected is None else expected)


def test_proxy_with_mounts() -> None:
    proxy_transport = object()
    assert transport_for("http://example.com", {"http://": proxy_transport}) is proxy_transport


def test_none_mount_is_the_clients_own_transport() -> None:
    mounts = {"all://": "proxied", "all://*internal.example": None}
    assert transport_for("https://a.internal.example", mounts) is DIRECT
    assert transport_for("https://example.org", mounts) == "proxied"


def test_proxy_argument_routes_everything_and_skips_the_environment(environ: typing.Any) -> None:
    environ({"HTTP_PROXY": "http://env:1", "NO_PROXY": "example.com"})
    built: list[Proxy] = []

    def proxy_transport(proxy: Proxy) -> str:
        built.append(proxy)
        return f"via {proxy.url}"

    routes = build_mounts("http://p:3128", None, trust_env=True, proxy_transport=proxy_transport)
    assert list(routes) == [URLPattern("all://")]
    assert [str(p.url) for p in built] == ["http://p:3128"]
    assert transport_for_url(routes, URL("http://example.com"), default=DIRECT) == "via http://p:3128"


@pytest.mark.parametrize("proxy", ["http://p:3128", URL("http://p:3128"), Proxy("http://p:3128")])
def test_proxy_argument_types(proxy: typing.Any) -> None:
    routes = build_mounts(proxy, None, trust_env=False, proxy_transport=lambda proxy: proxy)
    (chosen,) = routes.values()
    assert isinstance(chosen, Proxy)
    assert str(chosen.url) == "http://p:3128"


def test_unsupported_proxy_scheme() -> None:
    with pytest.raises(ValueError):
        build_mounts("ftp://127.0.0.1", None, trust_env=True, proxy_transport=lambda proxy: proxy)


def test_environment_proxies_build_transports_and_direct_entries(environ: typing.Any) -> None:
    environ({"HTTPS_PROXY": "http://u:pw@tls:2", "ALL_PROXY": "socks5://all:1", "NO_PROXY": "localhost"})
    routes = build_mounts(None, None, trust_env=True, proxy_transport=lambda proxy: proxy)
    assert [p.pattern for p in routes] == ["all://localhost", "https://", "all://"]
    https, all_ = routes[URLPattern("https://")], routes[URLPattern("all://")]
    assert isinstance(https, Proxy) and isinstance(all_, Proxy)
    assert (str(https.url), https.auth) == ("http://tls:2", ("u", "pw"))
    assert str(all_.url) == "socks5://all:1"
    assert routes[URLPattern("all://localhost")] is None


@pytest.mark.parametrize(("trust_env", "transport"), [(False, None), (True, object())])
def test_environment_ignored(environ: typing.Any, trust_env: bool, transport: object) -> None:
    # Without trust_env, or with a custom transport= (it is the user's to route), as httpx.
    environ({"ALL_PROXY": "http://env:1"})
    routes = build_mounts(None, None, trust_env=trust_env, proxy_transport=lambda proxy: proxy, transport=transport)
    assert routes == {}


def test_environment_proxy_with_unknown_scheme_raises(environ: typing.Any) -> None:
    environ({"HTTP_PROXY": "ftp://env:1"})
    with pytest.raises(ValueError, match="Unknown scheme"):
        build_mounts(None, None, trust_env=True, proxy_transport=lambda proxy: proxy)


def test_mounts_override_environment_and_sort(environ: typing.Any) -> None:
    environ({"HTTP_PROXY": "http://env:1", "NO_PROXY": "example.com"})
    mine = object()
    routes = build_mounts(
        None,
        {"http://": mine, "all://": "fallback", "https://example.com:8443": "tls-port"},
        trust_env=True,
        proxy_transport=lambda proxy: proxy,
    )
    assert [p.pattern for p in routes] == [
        "https://example.com:8443",
        "all://*example.com",
        "http://",
        "all://",
    ]
    assert routes[URLPattern("http://")] is mine  # the environment's http:// proxy replaced
    assert transport_for_url(routes, URL("http://other.org"), default=DIRECT) is mine
    assert transport_for_url(routes, URL("http://www.example.com"), default=DIRECT) is DIRECT
    assert transport_for_url(routes, URL("https://example.com:8443"), default=DIRECT) == "tls-port"


@pytest.mark.parametrize("first", ["all://*.example", "all://a.example"])
def test_equal_priorities_keep_their_order(first: str) -> None:
    # Both match a.example with the same priority (no port, hosts of 9 characters, no scheme):
    # the one given first is tried first, as in httpx (a stable sort).
    second = "all://a.example" if first == "all://*.example" else "all://*.example"
    routes = build_mounts(None, {first: first, second: second}, trust_env=False, proxy_transport=lambda p: p)
    assert [p.pattern for p in routes] == [first, second]
    assert transport_for_url(routes, URL("http://a.example"), default=None) == first


# --- Proxy and the engine's proxy URL ---------------------------------------------------------


def test_proxy_from_url() -> None:
    proxy = Proxy("https://example.com")
    assert str(proxy.url) == "https://example.com"
    assert proxy.auth is None
    assert proxy.raw_auth is None
    assert proxy.headers == {}
    assert proxy.ssl_context is None
    assert repr(proxy) == "Proxy('https://example.com')"


def test_proxy_with_auth_from_url() -> None:
    proxy = Proxy("https://username:password@example.com")
    assert str(proxy.url) == "https://example.com"
    assert proxy.auth == ("username", "password")
    assert proxy.raw_auth == (b"username", b"password")
    assert repr(proxy) == "Proxy('https://example.com', auth=('username', '********'))"


def test_proxy_url_credentials_win_and_are_unquoted() -> None:
    proxy = Proxy("http://us%40er:p%3Ass@p:3128", auth=("other", "x"))
    assert proxy.auth == ("us@er", "p:ss")
    assert str(proxy.url) == "http://p:3128"


def test_proxy_auth_and_headers_arguments() -> None:
    proxy = Proxy("http://p:3128", auth=("user", "pw"), headers={"Proxy-Foo": "bar"})
    assert proxy.auth == ("user", "pw")
    assert proxy.headers["proxy-foo"] == "bar"
    # Header names lower-cased, as httpx prints them.
    assert repr(proxy) == "Proxy('http://p:3128', auth=('user', '********'), headers={'proxy-foo': 'bar'})"


@pytest.mark.parametrize("url", ["http://p", "https://p", "socks5://p:1080", "socks5h://p:1080", "HTTP://P"])
def test_proxy_schemes(url: str) -> None:
    Proxy(url)


@pytest.mark.parametrize("url", ["invalid://example.com", "ftp://p", "p:3128"])
def test_invalid_proxy_scheme(url: str) -> None:
    with pytest.raises(ValueError):
        Proxy(url)


def test_engine_proxy_url_puts_credentials_back() -> None:
    assert engine_proxy_url(Proxy("http://p:3128")) == "http://p:3128"
    assert engine_proxy_url(Proxy("http://user:pw@p:3128")) == "http://user:pw@p:3128"
    assert engine_proxy_url(Proxy("http://p:3128", auth=("us@er", "p:ss/"))) == "http://us%40er:p%3Ass%2F@p:3128"


def test_as_proxy_copies_a_foreign_proxy() -> None:
    class ForeignProxy:  # httpx's Proxy: the same four attributes
        url = "http://p:3128"
        auth = ("user", "pw")
        headers: typing.ClassVar[dict[str, str]] = {"X-Via": "1"}
        ssl_context = None

    proxy = as_proxy(ForeignProxy())
    assert isinstance(proxy, Proxy)
    assert (str(proxy.url), proxy.auth, proxy.headers["x-via"]) == ("http://p:3128", ("user", "pw"), "1")
    same = Proxy("http://p")
    assert as_proxy(same) is same
