"""Parsing and normalising URLs as httpx 0.28 does, for `requestx.URL` (`_urls.py`).

A URL is split as RFC 3986 appendix B splits it, each component checked and normalised: scheme
and host lower-case, an international host in IDNA 2008 form, an IP address validated, the
scheme's default port dropped, dot segments removed, and the characters outside each component's
WHATWG percent-encode set escaped (a `%` is always kept). `Parts` holds the result; `str(parts)`
is the URL as httpx writes it.

`is_normal(url)` is the cheap test of the hot path: it proves that a typical URL is already in
that form, so that `URL(url)` can keep the string and split it only when a component is asked for.
"""

from __future__ import annotations

import ipaddress
import re
import typing
import unicodedata

from ._exceptions import InvalidURL
from ._requestx import idna_to_ascii

__all__ = [
    "MAX_URL_LENGTH",
    "Parts",
    "components_from_kwargs",
    "idna_decode",
    "idna_encode",
    "is_normal",
    "match_normal",
    "parse",
    "split_normal",
]

MAX_URL_LENGTH = 65536
DEFAULT_PORTS = {"ftp": 21, "http": 80, "https": 443, "ws": 80, "wss": 443}

# --- percent-encoding ----------------------------------------------------------------------------
# Each set lists the printable ASCII characters a component escapes (WHATWG's percent-encode sets);
# every other character outside printable ASCII is escaped too, as UTF-8.
_FRAGMENT_SET = ' "<>`'
_QUERY_SET = ' "#<>'
_PATH_SET = _QUERY_SET + "?`{}"
_USERINFO_SET = _PATH_SET + "/:;=@[\\]^|"  # a username or a password on its own
_JOINT_USERINFO_SET = _USERINFO_SET.replace(":", "")  # "user:password", its ":" kept
_HOST_SET = " #/:<>?@[]^"  # a registered name: what is neither unreserved nor a sub-delimiter


def _kept(escaped: str) -> str:
    """A regex character class of the printable ASCII characters not in `escaped`."""
    kept = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in escaped)
    return "[" + re.escape(kept) + "]"


def _escaper(escaped: str) -> typing.Callable[[str], str]:
    needs_escape = re.compile("[^" + _kept(escaped)[1:])

    def escape(text: str) -> str:
        if needs_escape.search(text) is None:
            return text
        return needs_escape.sub(_percent, text)

    return escape


def _percent(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode("utf-8"))


quote_fragment = _escaper(_FRAGMENT_SET)
quote_query = _escaper(_QUERY_SET)
quote_path = _escaper(_PATH_SET)
quote_userinfo_part = _escaper(_USERINFO_SET)
_quote_userinfo = _escaper(_JOINT_USERINFO_SET)
_quote_host = _escaper(_HOST_SET)

# --- the fast test -------------------------------------------------------------------------------
# An http(s)/ws(s) URL without userinfo whose host is lower-case letters, digits, dots and hyphens
# (with a letter or a hyphen, so never an IPv4-like name) or a valid dotted IPv4 address, with no
# default port, and only characters each component keeps. Possessive quantifiers: nothing to retry.
# NOTE: ~0.5 µs on "http://127.0.0.1:8932/small?x=1" (~0.25 µs on a host name: the octets of an
# IPv4 address take the rest), so `URL(...)` of it takes ~0.9 µs, where a full parse takes ~7 µs.
# A URL the regex refuses is merely parsed.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_HOST = rf"(?:[0-9.]*+[a-z-][a-z0-9.-]*+|{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}(?![0-9.]))"
_TAIL = rf"(?:/{_kept(_PATH_SET)}*+)?+(?:\?{_kept(_QUERY_SET)}*+)?+(?:#{_kept(_FRAGMENT_SET)}*+)?+"
_NORMAL = re.compile(
    rf"(?:(?:http|ws)://{_HOST}(?::(?!80(?![0-9]))(?:0|[1-9][0-9]*+))?+"
    rf"|(?:https|wss)://{_HOST}(?::(?!443(?![0-9]))(?:0|[1-9][0-9]*+))?+){_TAIL}"
)
match_normal = _NORMAL.fullmatch


def is_normal(url: str) -> bool:
    """True if `url` is valid and already as `parse` writes it (a false answer proves nothing)."""
    return match_normal(url) is not None and "/." not in url and len(url) <= MAX_URL_LENGTH


# --- components ----------------------------------------------------------------------------------


class Parts(typing.NamedTuple):
    """A URL's normalised components. `query` and `fragment` are None when absent ("?" and "#"
    alone are kept as ""); `host` is in ASCII form, an IPv6 address without its brackets."""

    scheme: str
    userinfo: str
    host: str
    port: int | None
    path: str
    query: str | None
    fragment: str | None

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def authority(self) -> str:
        return f"{self.userinfo}@{self.netloc}" if self.userinfo else self.netloc

    def __str__(self) -> str:
        out = f"{self.scheme}:" if self.scheme else ""
        authority = self.authority
        # A path starting "//" without an authority would read as one ("https://:443//evil" is no
        # URL for host "evil"): the empty authority is written out.
        if authority or self.path.startswith("//"):
            out += "//" + authority
        out += self.path
        if self.query is not None:
            out += "?" + self.query
        if self.fragment is not None:
            out += "#" + self.fragment
        return out


# RFC 3986 appendix B, with the scheme's own syntax; it matches any string.
_URL = re.compile(r"(?:([A-Za-z][A-Za-z0-9+.-]*+|):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?", re.DOTALL)
# What a component given on its own may hold (the delimiters that would end it are refused).
_COMPONENT = {
    "scheme": re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*)?"),
    "authority": re.compile(r"[^/?#]*"),
    "userinfo": re.compile(r"[^@]*"),
    "host": re.compile(r"\[.*\]|[^:]*", re.DOTALL),
    "port": re.compile(r".*", re.DOTALL),
    "path": re.compile(r"[^?#]*"),
    "query": re.compile(r"[^#]*"),
    "fragment": re.compile(r".*", re.DOTALL),
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_IPV4_LIKE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")


# The parts of a URL `is_normal` accepted (no userinfo, no brackets in its host).
_NORMAL_PARTS = re.compile(r"([a-z]++)://([^/?#:]*+)(?::([0-9]++))?+([^?#]*+)(?:\?([^#]*+))?+(?:#(.*+))?+", re.DOTALL)
_new_parts = tuple.__new__


def split_normal(url: str) -> Parts:
    """The components of a URL `is_normal` accepted: split, nothing to check or rewrite.
    NOTE: ~0.9 µs for "http://127.0.0.1:8932/small?x=1" (through `parse`, ~7 µs; `Parts(...)`
    alone, a Python-level `__new__`, takes 0.2 µs more than `tuple.__new__`)."""
    scheme, host, port, path, query, fragment = _NORMAL_PARTS.fullmatch(url).groups()  # type: ignore[union-attr]
    return _new_parts(Parts, (scheme, "", host, int(port) if port else None, path, query, fragment))


def _check_text(text: str, component: str | None) -> None:
    where = "URL" if component is None else f"URL component '{component}'"
    if len(text) > MAX_URL_LENGTH:
        raise InvalidURL(f"{where} too long")
    control = _CONTROL.search(text)
    if control is not None:
        where = "URL," if component is None else f"URL {component} component,"
        raise InvalidURL(
            f"Invalid non-printable ASCII character in {where} {control.group()!r} at position {control.start()}."
        )


def components_from_kwargs(kwargs: dict[str, typing.Any]) -> dict[str, str | None]:
    """`URL(...)`/`copy_with(...)` keywords (already type-checked, bytes decoded) as the components
    `parse` overrides: `netloc` is host and port, `username`/`password` the userinfo, `raw_path`
    the path and query; an IPv6 host gets its brackets."""
    components: dict[str, str | None] = {}
    for key, value in kwargs.items():
        if key == "port":
            components["port"] = None if value is None else str(value)
        elif key == "netloc":
            components["host"], components["port"] = _split_host_port(value or "")
        elif key in ("username", "password"):
            username = quote_userinfo_part(kwargs.get("username") or "")
            password = quote_userinfo_part(kwargs.get("password") or "")
            components["userinfo"] = f"{username}:{password}" if password else username
        elif key == "raw_path":
            path, question, query = (value or "").partition("?")
            components["path"], components["query"] = path, (query if question else None)
        else:
            components[key] = value
    host = components.get("host")
    if host and ":" in host and not (host.startswith("[") and host.endswith("]")):
        components["host"] = f"[{host}]"
    return components


def parse(url: str = "", **components: str | None) -> Parts:
    """`url` checked and normalised, each of `components` (scheme, authority, userinfo, host, port,
    path, query, fragment) replacing that part of it. InvalidURL for what httpx refuses."""
    _check_text(url, None)
    for key, value in components.items():
        if value is not None:
            _check_text(value, key)
            if not _COMPONENT[key].fullmatch(value):
                raise InvalidURL(f"Invalid URL component '{key}'")
    scheme, authority, path, query, fragment = _URL.fullmatch(url).groups()  # type: ignore[union-attr]
    scheme = (components["scheme"] if "scheme" in components else scheme) or ""
    authority = (components["authority"] if "authority" in components else authority) or ""
    path = (components["path"] if "path" in components else path) or ""
    query = components["query"] if "query" in components else query
    fragment = components["fragment"] if "fragment" in components else fragment

    userinfo, _, hostport = authority.rpartition("@")
    host, port = _split_host_port(hostport)
    userinfo = (components["userinfo"] if "userinfo" in components else userinfo) or ""
    host = (components["host"] if "host" in components else host) or ""
    port = components["port"] if "port" in components else port

    scheme = scheme.lower()
    userinfo = _quote_userinfo(userinfo)
    host = _encode_host(host)
    port_number = _port(port, scheme)
    has_authority = bool(userinfo or host) or port_number is not None
    _check_path(path, bool(scheme), has_authority)
    if scheme or has_authority:
        path = _remove_dot_segments(path)
    return Parts(
        scheme,
        userinfo,
        host,
        port_number,
        quote_path(path),
        None if query is None else quote_query(query),
        None if fragment is None else quote_fragment(fragment),
    )


def _split_host_port(hostport: str) -> tuple[str, str | None]:
    """`host:port` → (host, port); an IPv6 host keeps its brackets, an unclosed one is refused."""
    if hostport.startswith("["):
        end = hostport.rfind("]") + 1
        if end == 0:
            raise InvalidURL(f"Invalid IPv6 address: {hostport!r}")
        host, rest = hostport[:end], hostport[end:]
        if rest and not rest.startswith(":"):
            raise InvalidURL(f"Invalid port: {rest!r}")
        return host, rest[1:] if rest else None
    host, colon, port = hostport.partition(":")
    return host, port if colon else None


def _encode_host(host: str) -> str:
    if not host:
        return ""
    if _IPV4_LIKE.fullmatch(host):
        try:
            ipaddress.IPv4Address(host)
        except ipaddress.AddressValueError:
            raise InvalidURL(f"Invalid IPv4 address: {host!r}") from None
        return host
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ipaddress.AddressValueError:
            raise InvalidURL(f"Invalid IPv6 address: {host!r}") from None
        return host[1:-1]
    if host.isascii():
        return _quote_host(host.lower())
    try:
        return idna_encode(host.lower())
    except ValueError:
        raise InvalidURL(f"Invalid IDNA hostname: {host!r}") from None


def _port(port: str | None, scheme: str) -> int | None:
    """The port as a number, None if absent or the scheme's default (as WHATWG normalises it)."""
    if not port:
        return None
    # Digits only: int() would also take " 80", "+80", "8_0" or Arabic-Indic digits.
    if not (port.isascii() and port.isdigit()):
        raise InvalidURL(f"Invalid port: {port!r}")
    number = int(port)
    return None if DEFAULT_PORTS.get(scheme) == number else number


def _check_path(path: str, has_scheme: bool, has_authority: bool) -> None:
    """RFC 3986 3.3: the paths that would change the URL's structure when written out."""
    if has_authority and path and not path.startswith("/"):
        raise InvalidURL("For absolute URLs, path must be empty or begin with '/'")
    if not has_scheme and not has_authority:
        if path.startswith("//"):
            raise InvalidURL("Relative URLs cannot have a path starting with '//'")
        if path.startswith(":"):
            raise InvalidURL("Relative URLs cannot have a path starting with ':'")


def _remove_dot_segments(path: str) -> str:
    """`/a/./b/../c` → `/a/c`, as httpx does: a final dot segment leaves no slash (`/a/b/..` is
    `/a`, where RFC 3986 5.2.4 has `/a/`), and `..` never climbs above the root."""
    if "." not in path:
        return path
    segments = path.split("/")
    if "." not in segments and ".." not in segments:
        return path
    out: list[str] = []
    for segment in segments:
        if segment == "..":
            if out and out != [""]:
                out.pop()
        elif segment != ".":
            out.append(segment)
    return "/".join(out)


# --- IDNA 2008 -----------------------------------------------------------------------------------
# httpx encodes an international host with the `idna` package: IDNA 2008 (RFC 5891-5893), without
# UTS #46 mapping, so "faß.de" is "xn--fa-hia.de" (Python's own "idna" codec, IDNA 2003, maps ß to
# ss) and "☃.com" is refused. Each code point's IDNA 2008 class is derived here as RFC 5892 derives
# it, from the standard library's Unicode database; the rules that need data it lacks are left to
# the Rust `idna` crate (UTS #46 ToASCII), which checks what is left and writes the Punycode.

_DOTS = re.compile("[.\u3002\uff0e\uff61]")  # the label separators IDNA recognises
_LETTER_DIGITS = frozenset({"Ll", "Lu", "Lo", "Lm", "Mn", "Mc", "Nd"})
# RFC 5892 2.6: code points whose class is fixed rather than derived.
_EXCEPTIONS = {
    **dict.fromkeys((0x00DF, 0x03C2, 0x06FD, 0x06FE, 0x0F0B, 0x3007), "PVALID"),
    **dict.fromkeys(
        (0x00B7, 0x0375, 0x05F3, 0x05F4, 0x30FB, *range(0x0660, 0x066A), *range(0x06F0, 0x06FA)), "CONTEXTO"
    ),
    **dict.fromkeys((0x0640, 0x07FA, 0x302E, 0x302F, *range(0x3031, 0x3036), 0x303B), "DISALLOWED"),
}
# RFC 5892 2.4, 2.5, 2.9 (code point ranges): the Hangul conjoining jamo; the blocks of combining
# marks for symbols and of musical notation; the default-ignorable marks and letters that NFKC
# case folding keeps (variation selectors, the combining grapheme joiner, Khmer and Mongolian ones).
_DISALLOWED_RANGES = (
    (0x1100, 0x11FF), (0xA960, 0xA97F), (0xD7B0, 0xD7FF),
    (0x20D0, 0x20FF), (0x1D100, 0x1D24F),
    (0x034F, 0x034F), (0x17B4, 0x17B5), (0x180B, 0x180F), (0xFE00, 0xFE0F), (0xE0100, 0xE01EF),
)  # fmt: skip


def _idna2008_class(char: str) -> str:
    """RFC 5892's derived property of `char`: PVALID, CONTEXTJ, CONTEXTO or DISALLOWED."""
    code = ord(char)
    if code in _EXCEPTIONS:
        return _EXCEPTIONS[code]
    if char.isascii():
        return "PVALID" if char.islower() or char.isdigit() or char == "-" else "DISALLOWED"
    if code in (0x200C, 0x200D):
        return "CONTEXTJ"
    category = unicodedata.category(char)
    if category not in _LETTER_DIGITS or any(low <= code <= high for low, high in _DISALLOWED_RANGES):
        return "DISALLOWED"
    # "Unstable": a code point NFKC case folding changes (upper case, compatibility forms).
    if unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", char).casefold()) != char:
        return "DISALLOWED"
    return "PVALID"


def _script(char: str) -> str:
    """The first word of the character's name: enough to tell the scripts RFC 5892's CONTEXTO
    rules name (GREEK, HEBREW, HIRAGANA, KATAKANA, CJK for Han)."""
    return unicodedata.name(char, "").partition(" ")[0]


def _contexto_allowed(label: str, i: int) -> bool:
    """RFC 5892 appendix A's rules for the CONTEXTO code point at `label[i]`."""
    char = label[i]
    if char == "\u00b7":  # MIDDLE DOT, only in "l·l" (Catalan)
        return 0 < i < len(label) - 1 and label[i - 1] == "l" == label[i + 1]
    if char == "\u0375":  # GREEK KERAIA, before Greek
        return i + 1 < len(label) and _script(label[i + 1]) == "GREEK"
    if char in "\u05f3\u05f4":  # HEBREW GERESH and GERSHAYIM, after Hebrew
        return i > 0 and _script(label[i - 1]) == "HEBREW"
    if char == "\u30fb":  # KATAKANA MIDDLE DOT, in a label with Hiragana, Katakana or Han
        return any(_script(c) in ("HIRAGANA", "KATAKANA", "CJK") for c in label if c != char)
    # Arabic-Indic digits: one of the two sets of them per label, never both.
    other = range(0x06F0, 0x06FA) if ord(char) < 0x06F0 else range(0x0660, 0x066A)
    return not any(ord(c) in other for c in label)


def _check_label(label: str) -> None:
    if not unicodedata.is_normalized("NFC", label):
        raise ValueError(f"not in NFC: {label!r}")
    for i, char in enumerate(label):
        kind = _idna2008_class(char)
        if kind == "DISALLOWED" or (kind == "CONTEXTO" and not _contexto_allowed(label, i)):
            raise ValueError(f"{char!r} not allowed in {label!r}")


def idna_encode(host: str) -> str:
    """`host` (lower-case) in IDNA 2008 A-label form. ValueError if IDNA 2008 refuses it."""
    labels = _DOTS.split(host)
    root = len(labels) > 1 and labels[-1] == ""  # a trailing dot, kept
    if root:
        labels.pop()
    encoded = []
    for label in labels:
        if not label:
            raise ValueError(f"empty label in {host!r}")
        _check_label(_punycode_decode(label) if label.startswith("xn--") else label)
        # One label at a time: the Bidi rule then binds the labels with right-to-left characters
        # only, as RFC 5893 is applied by the idna package; UTS #46 would apply it to every label
        # of a domain that has one (refusing "1.مثال", say).
        encoded.append(idna_to_ascii(label))
    ascii = ".".join(encoded)
    if len(ascii) > 253:
        raise ValueError(f"domain too long: {host!r}")
    return ascii + "." if root else ascii


def _punycode_decode(label: str) -> str:
    try:
        return label[4:].encode("ascii").decode("punycode")
    except UnicodeError:
        raise ValueError(f"invalid A-label: {label!r}") from None


def idna_decode(host: str) -> str:
    """`host` with its A-labels in Unicode (`www.xn--fa-hia.de` → `www.faß.de`); an A-label that
    does not decode to a valid label is kept as it is (as httpx2 shows it)."""
    return ".".join(_display_label(label) for label in host.split("."))


def _display_label(label: str) -> str:
    if not label.startswith("xn--"):
        return label
    try:
        decoded = _punycode_decode(label)
        _check_label(decoded)
    except ValueError:
        return label
    return decoded
