"""`URL` and `QueryParams` (requestx/_urls.py, _urlparse.py): parsing, normalising, validating,
joining, copying, query params.

No server: the module is pure. The expected values are httpx 0.28's; where requestx differs from
httpx on purpose the test says so.
"""

from __future__ import annotations

import dataclasses
import typing

import httpx
import pytest

import requestx
from requestx import URL, QueryParams
from requestx._urls import Origin

# --- components ----------------------------------------------------------------------------------

FULL = "https://user:p%40ss@Example.ORG:8443/a%20b/c?x=1&y=%20#frag%20x"


@pytest.mark.parametrize(
    ("attr", "expected"),
    [
        ("scheme", "https"),
        ("raw_scheme", b"https"),
        ("userinfo", b"user:p%40ss"),
        ("username", "user"),
        ("password", "p@ss"),
        ("host", "example.org"),
        ("raw_host", b"example.org"),
        ("port", 8443),
        ("netloc", b"example.org:8443"),
        ("path", "/a b/c"),
        ("query", b"x=1&y=%20"),
        ("raw_path", b"/a%20b/c?x=1&y=%20"),
        ("fragment", "frag x"),
        ("is_absolute_url", True),
        ("is_relative_url", False),
    ],
)
def test_components(attr: str, expected: object) -> None:
    assert getattr(URL(FULL), attr) == expected


def test_components_of_a_relative_url() -> None:
    url = URL("/relative/path?x=1")
    assert (url.is_relative_url, url.is_absolute_url) == (True, False)
    assert (url.scheme, url.host, url.port, url.userinfo) == ("", "", None, b"")
    assert (url.path, url.query, url.raw_path) == ("/relative/path", b"x=1", b"/relative/path?x=1")


def test_no_path_reads_as_root() -> None:
    url = URL("https://example.org")
    assert (url.path, url.raw_path) == ("/", b"/")


def test_ipv6_host() -> None:
    url = URL("http://[::1]:8000/x")
    assert (url.host, url.raw_host, url.port, url.netloc) == ("::1", b"::1", 8000, b"[::1]:8000")


def test_international_host_is_sent_in_idna_form() -> None:
    url = URL("https://例え.jp/")
    assert str(url) == "https://xn--r8jz45g.jp/"
    assert (url.host, url.raw_host) == ("例え.jp", b"xn--r8jz45g.jp")
    assert URL("https://xn--r8jz45g.jp/").host == "例え.jp"


@pytest.mark.parametrize("url", ["https://e:443/", "http://e:80/", "ws://e:80/", "wss://e:443/", "https://e/"])
def test_default_port_reads_as_none(url: str) -> None:
    assert URL(url).port is None
    assert URL(url).netloc == b"e"


def test_a_port_not_the_scheme_s_default_is_kept() -> None:
    assert URL("https://e:80/").port == 80
    assert URL("http://e:443/").netloc == b"e:443"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://e:443/x", "https://e/x"),
        ("http://e:80/x", "http://e/x"),
        ("wss://e:443/", "wss://e/"),
        ("ftp://e:21/", "ftp://e/"),
    ],
)
def test_default_port_is_dropped_from_the_url(given: str, expected: str) -> None:
    assert str(URL(given)) == expected
    assert URL(given) == expected


@pytest.mark.parametrize("url", ["", "?a=1", "https://e", "https://e?a=1"])
def test_empty_path_reads_as_root(url: str) -> None:
    assert URL(url).path == "/"
    assert str(URL(url)) == url  # but is not written


def test_a_url_without_scheme_is_a_path() -> None:
    url = URL("example.com")
    assert (url.scheme, url.host, url.path, url.is_relative_url) == ("", "", "example.com", True)
    url = URL("://example.com")
    assert (url.scheme, url.host, url.path) == ("", "example.com", "/")


def test_an_empty_query_or_fragment_is_kept() -> None:
    url = URL("https://e/path?")
    assert (url.query, url.raw_path, str(url)) == (b"", b"/path?", "https://e/path?")
    assert str(URL("https://e/path#")) == "https://e/path#"
    assert URL("https://e/path?") != URL("https://e/path")


def test_a_url_without_host() -> None:
    # Built (as httpx builds them: a redirect's "https://:443/" takes the request's host), never sent.
    url = URL("http://")
    assert (url.scheme, url.host, url.path, url.is_relative_url) == ("http", "", "/", True)
    assert str(URL("https://:443/")) == "https:/"


def test_a_path_that_would_read_as_an_authority_keeps_the_empty_one() -> None:
    # httpx writes "https://evil.com/x" for this URL without a host: read again, a URL for evil.com.
    url = URL("https://:443//evil.com/x")
    assert (url.host, url.path, str(url)) == ("", "//evil.com/x", "https:////evil.com/x")
    assert URL(str(url)).host == ""


# --- normalising ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://example.org/path?q=1#f", "https://example.org/path?q=1#f"),  # as given
        ("HTTPS://EXAMPLE.ORG/Path", "https://example.org/Path"),  # scheme and host only
        ("https://e/a b?q=a b#a b", "https://e/a%20b?q=a%20b#a%20b"),
        ('https://e/a"b<c>d', "https://e/a%22b%3Cc%3Ed"),
        ("https://e/a'b[c]", "https://e/a'b[c]"),
        ("https://e/ñ?q=ü", "https://e/%C3%B1?q=%C3%BC"),
        ("https://e/%41%zz", "https://e/%41%zz"),  # existing escapes kept, a stray % too
        ("https://us er:p w@e/", "https://us%20er:p%20w@e/"),
        ("https://e/a/./b/../c", "https://e/a/c"),
        ("https://e/../../a", "https://e/a"),
        ("../a/./b", "../a/./b"),  # a relative reference keeps its dot segments (for join)
    ],
)
def test_normalised_as_httpx_writes_it(given: str, expected: str) -> None:
    assert str(URL(given)) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://e/a|b^c\\d",
        "https://e/?a{b}`|^",
        "https://e/#a{b}|^",
    ],
)
def test_characters_whatwg_allows_are_kept(url: str) -> None:
    assert str(URL(url)) == url


@pytest.mark.parametrize(
    ("given", "expected"),
    [("https://e/a/b/..", "https://e/a"), ("https://e/a/.", "https://e/a"), ("https://e/..", "https://e")],
)
def test_a_final_dot_segment_leaves_no_slash(given: str, expected: str) -> None:
    # As httpx 0.28 writes them; RFC 3986 5.2.4 (and `join`) would keep a final "/".
    assert str(URL(given)) == expected


@pytest.mark.parametrize("url", ["https://e/\n", "https://e/\tx", "https://e/\x00", "https://e/\x7f"])
def test_control_characters_are_refused(url: str) -> None:
    with pytest.raises(requestx.InvalidURL, match="non-printable"):
        URL(url)


def test_a_control_character_is_named_with_its_position() -> None:
    with pytest.raises(requestx.InvalidURL) as exc:
        URL("https://e/a\tb")
    assert str(exc.value) == "Invalid non-printable ASCII character in URL, '\\t' at position 11."
    with pytest.raises(requestx.InvalidURL) as exc:
        URL("https://e", fragment="x\ny")
    assert str(exc.value) == "Invalid non-printable ASCII character in URL fragment component, '\\n' at position 1."


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://e:abc/", "Invalid port: 'abc'"),
        ("https://e:8_0/", "Invalid port: '8_0'"),  # digits only (httpx's int() takes it)
        ("https://e:+80/", "Invalid port: '+80'"),
        ("https://e:80:81/", "Invalid port: '80:81'"),
        ("https://[::1]80/", "Invalid port: '80'"),  # httpx reads port 80
        ("https://999.1.1.1/", "Invalid IPv4 address: '999.1.1.1'"),
        ("https://01.2.3.4/", "Invalid IPv4 address: '01.2.3.4'"),
        ("https://[2001]/", "Invalid IPv6 address: '[2001]'"),
        ("https://[::1/", "Invalid IPv6 address: '[::1'"),  # unclosed (httpx: "Invalid port: ':1'")
        ("https://[abc/", "Invalid IPv6 address: '[abc'"),  # httpx writes "%5Babc"
        ("https://u:p@[invalid!]//evilHost/path?t=w#tw", "Invalid IPv6 address: '[invalid!]'"),
        ("https://☃.com/", "Invalid IDNA hostname: '☃.com'"),
        ("https://😇/", "Invalid IDNA hostname: '😇'"),
        ("https://e/" + "x" * 65536, "URL too long"),
        ("////x", "Relative URLs cannot have a path starting with '//'"),
    ],
)
def test_an_invalid_url_is_refused_when_built(url: str, message: str) -> None:
    with pytest.raises(requestx.InvalidURL) as exc:
        URL(url)
    assert str(exc.value) == message


@pytest.mark.parametrize("port", [0, 8080, 65535, 99999])
def test_any_number_is_a_port(port: int) -> None:
    # As httpx: a port beyond 65535 is refused only when the URL is sent.
    assert URL(f"https://e:{port}/").port == port
    assert URL("https://e/").copy_with(port=port).port == port


@pytest.mark.parametrize(
    ("given", "host", "raw_host"),
    [
        ("https://1.2.3.4/", "1.2.3.4", b"1.2.3.4"),
        ("https://023b76x43144/", "023b76x43144", b"023b76x43144"),  # not IPv4 in form
        ("https://1.2.3/", "1.2.3", b"1.2.3"),
        ("https://[2001:db8::ff00:42:8329]/", "2001:db8::ff00:42:8329", b"2001:db8::ff00:42:8329"),
        ("https://exam le.com/", "exam%20le.com", b"exam%20le.com"),
        ("https://a<b>^/", "a%3Cb%3E%5E", b"a%3Cb%3E%5E"),
    ],
)
def test_hosts(given: str, host: str, raw_host: bytes) -> None:
    assert (URL(given).host, URL(given).raw_host) == (host, raw_host)


@pytest.mark.parametrize(
    ("host", "encoded"),
    [
        ("faß.de", "xn--fa-hia.de"),  # IDNA 2008: ß is kept (IDNA 2003, Python's codec, maps it to ss)
        ("Königsgäßchen.de", "xn--knigsgchen-b4a3dun.de"),
        ("βόλος.com", "xn--nxasmm1c.com"),  # final sigma kept
        ("ශ්\u200dරී.com", "xn--10cl1a0b660p.com"),  # a joiner after a virama
        (
            "\u0646\u0627\u0645\u0647\u200c\u0627\u06cc.com",
            "xn--mgba3gch31f060k.com",
        ),  # a non-joiner between joining letters
        ("l·l.cat", "xn--ll-0ea.cat"),  # the middle dot between two l
        ("1.\u0645\u062b\u0627\u0644", "1.xn--mgbh0fb"),  # the Bidi rule binds right-to-left labels only
        ("faß.de.", "xn--fa-hia.de."),
    ],
)
def test_international_hosts_in_idna_2008_form(host: str, encoded: str) -> None:
    url = URL(f"https://{host}/")
    assert url.raw_host == encoded.encode("ascii")
    assert str(url) == f"https://{encoded}/"


@pytest.mark.parametrize(
    "host",
    [
        "☃.com",  # a symbol: UTS #46 takes it, IDNA 2008 does not
        "☃.-",
        "\uff21\uff22.de",  # fullwidth AB, a compatibility form: UTS #46 maps it, IDNA 2008 refuses it
        "ﬁ.com",
        "a\u00adb.com",  # a soft hyphen
        "a_ß.de",
        "-aß.de",  # hyphens first, last, or third and fourth
        "aß-.de",
        "ab--ß.de",
        "a·b.cat",  # the middle dot not between two l
        "a\u200db.com",  # a joiner not after a virama
        "\u0301a.com",  # a leading combining mark
        "a\u0301.com",  # not in NFC
        "faß..de",  # an empty label
        "x" + "a" * 63 + "ß.com",  # a label longer than 63
        "aß.xn--n3h.com",  # an A-label of a symbol
    ],
)
def test_an_invalid_international_host_is_refused(host: str) -> None:
    with pytest.raises(requestx.InvalidURL, match="Invalid IDNA hostname"):
        URL(f"https://{host}/")


def test_every_a_label_of_a_host_reads_in_unicode() -> None:
    # As httpx2 decodes them (httpx 0.28: only a host starting with an A-label, and it raises for
    # an invalid one).
    assert URL("https://www.xn--fiqs8s.icom.museum/").host == "www.中国.icom.museum"
    assert URL("https://xn--n3h.xn--fa-hia.de/").host == "xn--n3h.faß.de"  # "☃": no valid label


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://E.com:443/x?q#f", ("https", "e.com", 443)),
        ("http://u:p@e:8080/", ("http", "e", 8080)),
        ("http://[::FFFF:1.2.3.4]/", ("http", "::ffff:102:304", 80)),  # compressed
        ("ftp://xn--fa-hia.de/", ("ftp", "faß.de", 21)),
        ("foo://e/", ("foo", "e", None)),
    ],
)
def test_origin(url: str, expected: tuple[str, str, int | None]) -> None:
    # httpx2's `URL.origin` and `Origin`.
    origin = URL(url).origin
    assert (origin.scheme, origin.host, origin.port) == expected
    assert origin == Origin(url) and hash(origin) == hash(Origin(URL(url)))
    assert repr(origin) == f"Origin(scheme={expected[0]!r}, host={expected[1]!r}, port={expected[2]!r})"
    with pytest.raises(dataclasses.FrozenInstanceError):
        origin.port = 1  # type: ignore[misc]


def test_a_relative_url_has_no_origin() -> None:
    with pytest.raises(ValueError, match="URL must be absolute to have an origin"):
        URL("/path").origin  # noqa: B018


def test_a_typical_url_is_kept_as_given() -> None:
    # The fast path of URL(): the string is the URL, and it splits as a full parse would.
    for raw in ["http://127.0.0.1:8932/small?x=1", "https://api.example.com/v1/items?page=2#top", "ws://e:81"]:
        url = URL(raw)
        assert str(url) is raw
        assert url._split() == requestx._urlparse.parse(raw)


@pytest.mark.parametrize("url", [123, b"https://e/", None])
def test_only_text_or_a_url_object(url: typing.Any) -> None:
    with pytest.raises(TypeError):
        URL(url)


def test_accepts_its_own_and_httpx_s_url_objects() -> None:
    assert str(URL(URL("https://e/x"))) == "https://e/x"
    assert str(URL(httpx.URL("https://e/x?a=1"))) == "https://e/x?a=1"
    assert URL("https://e/x") == httpx.URL("https://e/x")


def test_repr_hides_the_password() -> None:
    assert repr(URL("https://u:secret@e/")) == "URL('https://u:[secure]@e/')"
    assert repr(URL("https://u@e/")) == "URL('https://u@e/')"


def test_equality_and_hash() -> None:
    url = URL("https://e/p")
    assert url == "https://e/p" and url == URL("https://e/p")
    assert URL("HTTPS://E/p") == url
    assert url != URL("https://e/P") and url != "https://e/p/"
    assert url != 1
    assert len({url, URL("https://e/p"), URL("https://e/q")}) == 2


# --- join ----------------------------------------------------------------------------------------

BASE = "http://a/b/c/d;p?q"


@pytest.mark.parametrize(
    ("reference", "expected"),
    [  # RFC 3986 5.4: the normal examples, then the abnormal ones
        ("g:h", "g:h"),
        ("g", "http://a/b/c/g"),
        ("./g", "http://a/b/c/g"),
        ("g/", "http://a/b/c/g/"),
        ("/g", "http://a/g"),
        ("//g", "http://g"),
        ("?y", "http://a/b/c/d;p?y"),
        ("g?y", "http://a/b/c/g?y"),
        ("#s", "http://a/b/c/d;p?q#s"),
        ("g#s", "http://a/b/c/g#s"),
        ("g?y#s", "http://a/b/c/g?y#s"),
        (";x", "http://a/b/c/;x"),
        ("g;x", "http://a/b/c/g;x"),
        ("", "http://a/b/c/d;p?q"),
        (".", "http://a/b/c/"),
        ("./", "http://a/b/c/"),
        ("..", "http://a/b/"),
        ("../", "http://a/b/"),
        ("../g", "http://a/b/g"),
        ("../..", "http://a/"),
        ("../../", "http://a/"),
        ("../../g", "http://a/g"),
        ("../../../g", "http://a/g"),
        ("../../../../g", "http://a/g"),
        ("/./g", "http://a/g"),
        ("/../g", "http://a/g"),
        ("g.", "http://a/b/c/g."),
        ("..g", "http://a/b/c/..g"),
        ("./../g", "http://a/b/g"),
        ("g/./h", "http://a/b/c/g/h"),
        ("g/../h", "http://a/b/c/h"),
        ("https://other/x", "https://other/x"),
        ("a b", "http://a/b/c/a%20b"),
    ],
)
def test_join(reference: str, expected: str) -> None:
    assert str(URL(BASE).join(reference)) == expected
    assert str(URL(BASE).join(URL(reference))) == expected


def test_join_keeps_leading_whitespace() -> None:
    assert str(URL(BASE).join(" g")) == "http://a/b/c/%20g"


# --- copy_with -----------------------------------------------------------------------------------

ORIGINAL = "https://user:pw@example.org:8080/p/q?a=1#frag"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"scheme": "http"}, "http://user:pw@example.org:8080/p/q?a=1#frag"),
        ({"host": "other.org"}, "https://user:pw@other.org:8080/p/q?a=1#frag"),
        ({"host": "::1"}, "https://user:pw@[::1]:8080/p/q?a=1#frag"),
        ({"port": 9000}, "https://user:pw@example.org:9000/p/q?a=1#frag"),
        ({"port": None}, "https://user:pw@example.org/p/q?a=1#frag"),
        ({"path": "/new path"}, "https://user:pw@example.org:8080/new%20path?a=1#frag"),
        ({"query": b"x=2"}, "https://user:pw@example.org:8080/p/q?x=2#frag"),
        ({"fragment": "f2"}, "https://user:pw@example.org:8080/p/q?a=1#f2"),
        ({"raw_path": b"/r?z=1"}, "https://user:pw@example.org:8080/r?z=1#frag"),
        ({"params": {"k": "v", "l": [1, 2]}}, "https://user:pw@example.org:8080/p/q?k=v&l=1&l=2#frag"),
        ({"username": "a b", "password": "c@d"}, "https://a%20b:c%40d@example.org:8080/p/q?a=1#frag"),
    ],
)
def test_copy_with(changes: dict[str, typing.Any], expected: str) -> None:
    original = URL(ORIGINAL)
    assert str(original.copy_with(**changes)) == expected
    assert str(original) == ORIGINAL  # a copy: the original is unchanged


def test_copy_with_decoded_credentials() -> None:
    url = URL(ORIGINAL).copy_with(username="a b", password="c@d")
    assert (url.username, url.password) == ("a b", "c@d")


def test_copy_with_an_unknown_keyword() -> None:
    with pytest.raises(TypeError, match="'bogus' is an invalid keyword argument"):
        URL(ORIGINAL).copy_with(bogus=1)
    with pytest.raises(TypeError, match="'nope' is an invalid keyword argument"):
        URL(ORIGINAL, nope=1)


def test_url_takes_copy_with_keywords() -> None:
    assert str(URL("https://e/p", host="f", port=81)) == "https://f:81/p"


def test_copy_with_netloc_keeps_the_userinfo() -> None:
    assert str(URL(ORIGINAL).copy_with(netloc=b"h:1")) == "https://user:pw@h:1/p/q?a=1#frag"
    # An IPv6 netloc too (httpx splits it at its first ":").
    assert str(URL(ORIGINAL).copy_with(netloc=b"[::1]:2")) == "https://user:pw@[::1]:2/p/q?a=1#frag"


def test_copy_with_a_relative_path_on_an_absolute_url_is_refused() -> None:
    with pytest.raises(requestx.InvalidURL, match="path must be empty or begin with '/'"):
        URL(ORIGINAL).copy_with(path="relative")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scheme": "https://u:p@h/x?y#z"}, "Invalid URL component 'scheme'"),
        ({"path": "/a?b"}, "Invalid URL component 'path'"),
        ({"query": b"a#b"}, "Invalid URL component 'query'"),
        ({"host": "a:b"}, "Invalid IPv6 address: '[a:b]'"),
        ({"path": "/" + "x" * 65536}, "URL component 'path' too long"),
    ],
)
def test_copy_with_checks_each_component(changes: dict[str, typing.Any], message: str) -> None:
    # CVE-2021-41945: a component must not be able to smuggle in another part of a URL.
    with pytest.raises(requestx.InvalidURL) as exc:
        URL(ORIGINAL).copy_with(**changes)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"userinfo": "u:p"}, "Argument 'userinfo' must be bytes but got str"),
        ({"port": "80"}, "Argument 'port' must be int but got str"),
        ({"query": "a=1"}, "Argument 'query' must be bytes but got str"),
    ],
)
def test_copy_with_checks_each_type(changes: dict[str, typing.Any], message: str) -> None:
    with pytest.raises(TypeError) as exc:
        URL(ORIGINAL).copy_with(**changes)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"userinfo": b"a:b"}, "https://a:b@example.org:8080/p/q?a=1#frag"),
        ({"username": "x"}, "https://x@example.org:8080/p/q?a=1#frag"),  # the password goes with it
        ({"username": None, "password": None}, "https://example.org:8080/p/q?a=1#frag"),
        ({"raw_path": b"/r?"}, "https://user:pw@example.org:8080/r?#frag"),
        ({"params": {}}, "https://user:pw@example.org:8080/p/q#frag"),
        ({"fragment": None}, "https://user:pw@example.org:8080/p/q?a=1"),
        ({"scheme": "http", "port": 80}, "http://user:pw@example.org/p/q?a=1#frag"),
        ({"host": "Faß.DE"}, "https://user:pw@xn--fa-hia.de:8080/p/q?a=1#frag"),
    ],
)
def test_copy_with_more(changes: dict[str, typing.Any], expected: str) -> None:
    assert str(URL(ORIGINAL).copy_with(**changes)) == expected


def test_url_from_components() -> None:
    url = URL(scheme="https", host="::ffff:192.168.0.1", port=443, path="/")
    assert (str(url), url.netloc) == ("https://[::ffff:192.168.0.1]/", b"[::ffff:192.168.0.1]")
    assert str(URL(path="abc")) == "abc"


# --- params on a URL -----------------------------------------------------------------------------


def test_params_property() -> None:
    params = URL("https://e/?a=1&a=2&b=").params
    assert isinstance(params, QueryParams)
    assert params.multi_items() == [("a", "1"), ("a", "2"), ("b", "")]


@pytest.mark.parametrize(
    ("method", "args", "expected"),
    [
        ("copy_set_param", ("b", "x"), "https://e/?a=1&a=2&b=x"),
        ("copy_set_param", ("c", None), "https://e/?a=1&a=2&b=3&c="),
        ("copy_add_param", ("b", "4"), "https://e/?a=1&a=2&b=3&b=4"),
        ("copy_remove_param", ("a",), "https://e/?b=3"),
        ("copy_merge_params", ({"b": "9", "c": True},), "https://e/?a=1&a=2&b=9&c=true"),
    ],
)
def test_param_copies(method: str, args: tuple[typing.Any, ...], expected: str) -> None:
    url = URL("https://e/?a=1&a=2&b=3")
    assert str(getattr(url, method)(*args)) == expected
    assert str(url) == "https://e/?a=1&a=2&b=3"


@pytest.mark.parametrize(
    ("method", "args", "expected"),
    [
        ("copy_set_param", ("a", "x"), "https://e/?a=x&b=3"),
        ("copy_merge_params", ({"a": "9", "c": "4"},), "https://e/?a=9&b=3&c=4"),
    ],
)
def test_param_copies_keep_the_key_s_place(method: str, args: tuple[typing.Any, ...], expected: str) -> None:
    assert str(getattr(URL("https://e/?a=1&b=3"), method)(*args)) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"b": 2}, "https://e/?b=2"),
        ({"a": None, "b": True, "c": False, "d": 1.5}, "https://e/?a=&b=true&c=false&d=1.5"),
        ([("a", "1"), ("a", "2")], "https://e/?a=1&a=2"),
        ("x=1&y=2", "https://e/?x=1&y=2"),
    ],
)
def test_url_with_params_on_a_url_without_a_query(params: typing.Any, expected: str) -> None:
    assert str(URL("https://e/", params=params)) == expected


def test_url_with_params_replaces_the_query() -> None:
    assert str(URL("https://e/?a=1", params={"b": 2})) == "https://e/?b=2"
    assert str(URL("https://e/?a=1", params={})) == "https://e/"  # no "?" left
    assert requestx.Request("GET", "https://e/?c=3", params={"a": 1}).url == "https://e/?a=1"


# --- QueryParams ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        ((), {}, []),
        ((None,), {}, []),
        (("",), {}, []),
        (("a=1&b=2",), {}, [("a", "1"), ("b", "2")]),
        ((b"a=1",), {}, [("a", "1")]),
        (("a=b+c&d=%20&e",), {}, [("a", "b c"), ("d", " "), ("e", "")]),
        (("a=1;b=2",), {}, [("a", "1;b=2")]),  # ";" is no separator
        (({"a": ["1", 2], "b": None},), {}, [("a", "1"), ("a", "2"), ("b", "")]),
        (({"a": ("x", True)},), {}, [("a", "x"), ("a", "true")]),
        (([("a", 1), ("b", False)],), {}, [("a", "1"), ("b", "false")]),
        (({1: 2.5},), {}, [("1", "2.5")]),
        ((), {"a": "1", "b": "2"}, [("a", "1"), ("b", "2")]),
        ((QueryParams("a=1"),), {}, [("a", "1")]),
    ],
)
def test_query_params_from(args: tuple[typing.Any, ...], kwargs: dict[str, typing.Any], expected: list[object]) -> None:
    assert QueryParams(*args, **kwargs).multi_items() == expected


def test_query_params_keep_the_order_given() -> None:
    # httpx groups a repeated key's values together ("a=1&a=3&b=2").
    assert str(QueryParams("a=1&b=2&a=3")) == "a=1&b=2&a=3"


def test_query_params_encode() -> None:
    assert str(QueryParams({"a b": "c&d", "e": "ü", "f": "1+1=2"})) == "a+b=c%26d&e=%C3%BC&f=1%2B1%3D2"
    assert repr(QueryParams("a=1&b=2")) == "QueryParams('a=1&b=2')"


def test_query_params_as_a_mapping() -> None:
    q = QueryParams("b=1&a=2&b=3")
    assert list(q) == list(q.keys()) == ["b", "a"]
    assert list(q.values()) == ["1", "2"]  # the first value of each key
    assert list(q.items()) == [("b", "1"), ("a", "2")]
    assert (q["b"], q.get("b"), q.get_list("b")) == ("1", "1", ["1", "3"])
    assert (q.get("z"), q.get("z", "d"), q.get_list("z")) == (None, "d", [])
    assert ("a" in q, "z" in q, len(q), bool(q), bool(QueryParams())) == (True, False, 2, True, False)
    with pytest.raises(KeyError):
        q["z"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda q: q.set("b", "x"), "a=1&a=3&b=x"),
        (lambda q: q.set("c", True), "a=1&a=3&b=2&c=true"),
        (lambda q: q.add("b", None), "a=1&a=3&b=2&b="),
        (lambda q: q.remove("a"), "b=2"),
        (lambda q: q.remove("z"), "a=1&a=3&b=2"),
        (lambda q: q.merge({"b": "9"}), "a=1&a=3&b=9"),
        (lambda q: q.merge(), "a=1&a=3&b=2"),
    ],
)
def test_query_params_changes_are_copies(change: typing.Callable[[QueryParams], QueryParams], expected: str) -> None:
    q = QueryParams("a=1&a=3&b=2")
    assert str(change(q)) == expected
    assert str(q) == "a=1&a=3&b=2"


def test_query_params_set_replaces_every_value_of_the_key() -> None:
    assert QueryParams("a=1&a=3&b=2").set("a", "x").get_list("a") == ["x"]


def test_query_params_cannot_be_changed_in_place() -> None:
    q = QueryParams("a=1")
    with pytest.raises(RuntimeError, match=r"immutable .* q\.set\(key, value\)"):
        q["a"] = "2"
    with pytest.raises(RuntimeError, match=r"immutable .* q\.merge\(\.\.\.\)"):
        q.update({"a": "2"})
    assert q["a"] == "1"


def test_query_params_merge_keeps_the_places_of_the_keys() -> None:
    q = QueryParams("a=1&b=2&a=3&c=4")
    assert str(q.merge({"a": ["x", "y"], "d": "5"})) == "a=x&a=y&b=2&c=4&d=5"
    assert str(q.set("a", "z")) == "a=z&b=2&c=4"


def test_query_params_equality_ignores_order() -> None:
    assert QueryParams("a=1&b=2") == QueryParams("b=2&a=1")
    assert QueryParams("a=1&a=2") == QueryParams("a=2&a=1")
    assert QueryParams("a=1") != QueryParams("a=2")
    assert QueryParams("a=1") != {"a": "1"} and QueryParams("a=1") != "a=1"
    assert hash(QueryParams("a=1&b=2")) == hash(QueryParams("a=1&b=2"))
