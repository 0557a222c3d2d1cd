"""`URL` and `QueryParams`, shaped as httpx's.

A URL keeps the string it was given and parses it lazily: the engine (Rust, the `url` crate)
validates every URL it sends, so the request hot path pays for no Python-side parsing.
"""

from __future__ import annotations

import re
import typing
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

from ._exceptions import InvalidURL
from ._headers import foreign_library

__all__ = ["URL", "QueryParams"]

PrimitiveData = typing.Optional[typing.Union[str, int, float, bool]]
QueryParamTypes = typing.Union[
    "QueryParams",
    typing.Mapping[str, typing.Union[PrimitiveData, typing.Sequence[PrimitiveData]]],
    typing.List[typing.Tuple[str, PrimitiveData]],
    typing.Tuple[typing.Tuple[str, PrimitiveData], ...],
    str,
    bytes,
]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_SUB_DELIMS = "!$&'()*+,;="
# What httpx would rewrite: a space or another character it percent-encodes, a dot segment, or an
# upper-case scheme or host. A URL with none of these (nearly all) is kept exactly as given.
# NOTE: checked with a character-class search and C string methods (~0.15 µs on a typical URL);
# one regex with alternations took ~0.7 µs, parsing every URL in Python ~3 µs.
_UNSAFE_CHAR = re.compile(r'[ "<>\\^`{|}]')
_DOT_SEGMENT = re.compile(r"/\.\.?(?:[/?#]|$)")


def _needs_normalizing(raw: str) -> bool:
    if not raw.isascii() or _UNSAFE_CHAR.search(raw):
        return True
    if "/." in raw and _DOT_SEGMENT.search(raw):
        return True
    start = raw.find("://")
    if start < 0:
        return False
    end = raw.find("/", start + 3)
    head = raw if end < 0 else raw[:end]
    return head != head.lower()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4: `/a/./b/../c` → `/a/c`."""
    if "." not in path:
        return path
    out: list[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == ".":
            if last:
                out.append("")
        elif segment == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/".join(out) if out != [""] else "/"


def _normalized(raw: str) -> str:
    """`raw` as httpx writes a URL: scheme and host lower-case, an international host in IDNA form,
    dot segments removed, and characters outside each component's safe set percent-encoded
    (existing escapes kept)."""
    try:
        parts = urlsplit(raw)
    except ValueError as exc:
        raise InvalidURL(str(exc)) from None
    netloc = parts.netloc
    if netloc:
        userinfo, at, hostport = netloc.rpartition("@")
        if hostport.startswith("["):
            host, _, rest = hostport.partition("]")
            host, port = host + "]", rest
        else:
            host, colon, port_digits = hostport.partition(":")
            port = colon + port_digits
        host = host.lower()
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                raise InvalidURL(f"Invalid IDNA hostname: {host!r}") from None
        userinfo = quote(userinfo, safe=_SUB_DELIMS + ":%")
        netloc = f"{userinfo}{at}{host}{port}"
    path = parts.path
    if parts.scheme and netloc:
        path = _remove_dot_segments(path)
    return urlunsplit(
        (
            parts.scheme.lower(),
            netloc,
            quote(path, safe=_SUB_DELIMS + ":@/%[]"),
            quote(parts.query, safe=_SUB_DELIMS + ":@/?%[]"),
            quote(parts.fragment, safe=_SUB_DELIMS + ":@/?#%[]"),
        )
    )


def primitive_value(value: typing.Any) -> str:
    """A query or form value as text: True → \"true\", None → \"\", as httpx encodes them."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return str(value)


class URL:
    """A URL. `URL("https://example.org/path?q=1")`, or `URL(url, params=...)` to add a query."""

    __slots__ = ("_parts", "_raw")

    _raw: str

    def __init__(self, url: URL | str = "", **kwargs: typing.Any) -> None:
        if isinstance(url, URL):
            raw = url._raw
        elif isinstance(url, str):
            raw = url
        elif foreign_library(url) is not None:
            raw = str(url)  # an httpx or httpx2 URL
        else:
            raise TypeError(f"Invalid type for url.  Expected str or httpx.URL, got {type(url)}: {url!r}")
        # The url crate silently drops tabs and newlines (WHATWG); httpx refuses them, and so do we.
        if not raw.isprintable() and any(ord(c) < 0x20 or c == "\x7f" for c in raw):
            raise InvalidURL("Invalid non-printable ASCII character in URL")
        if _needs_normalizing(raw):
            raw = _normalized(raw)
        self._raw = raw
        self._parts: typing.Any = None
        if kwargs:
            params = kwargs.pop("params", None)
            if kwargs:
                copy = self.copy_with(**kwargs)
                self._raw, self._parts = copy._raw, None
            if params is not None:
                self._raw = self.copy_merge_params(params)._raw
                self._parts = None

    def _split(self) -> typing.Any:
        if self._parts is None:
            try:
                self._parts = urlsplit(self._raw)
                self._parts.port  # noqa: B018 - validates the port
            except ValueError as exc:
                raise InvalidURL(str(exc)) from None
        return self._parts

    @property
    def scheme(self) -> str:
        return typing.cast(str, self._split().scheme).lower()

    @property
    def raw_scheme(self) -> bytes:
        return self.scheme.encode("ascii")

    @property
    def userinfo(self) -> bytes:
        netloc: str = self._split().netloc
        return netloc.rpartition("@")[0].encode("ascii") if "@" in netloc else b""

    @property
    def username(self) -> str:
        return unquote(self._split().username or "")

    @property
    def password(self) -> str:
        return unquote(self._split().password or "")

    @property
    def host(self) -> str:
        host: str = self._split().hostname or ""
        if host.startswith("xn--") or ".xn--" in host:
            try:
                return host.encode("ascii").decode("idna")
            except UnicodeError:
                return host
        return host

    @property
    def raw_host(self) -> bytes:
        host: str = self._split().hostname or ""
        try:
            return host.encode("idna") if host and not host.isascii() else host.encode("ascii")
        except UnicodeError as exc:
            raise InvalidURL(f"Invalid IDNA hostname: {host!r}") from exc

    @property
    def port(self) -> int | None:
        port: int | None = self._split().port
        return None if port is not None and _DEFAULT_PORTS.get(self.scheme) == port else port

    @property
    def netloc(self) -> bytes:
        host = self.raw_host.decode("ascii")
        if ":" in host:
            host = f"[{host}]"
        port = self.port
        return (host if port is None else f"{host}:{port}").encode("ascii")

    @property
    def path(self) -> str:
        path: str = self._split().path
        return unquote(path) or ("/" if self.is_absolute_url else "")

    @property
    def query(self) -> bytes:
        return typing.cast(str, self._split().query).encode("ascii", "replace")

    @property
    def params(self) -> QueryParams:
        return QueryParams(self._split().query)

    @property
    def raw_path(self) -> bytes:
        parts = self._split()
        path = parts.path or "/"
        return (path + "?" + parts.query if parts.query else path).encode("ascii", "replace")

    @property
    def fragment(self) -> str:
        return unquote(self._split().fragment)

    @property
    def is_absolute_url(self) -> bool:
        parts = self._split()
        return bool(parts.scheme and parts.netloc)

    @property
    def is_relative_url(self) -> bool:
        return not self.is_absolute_url

    def copy_with(self, **kwargs: typing.Any) -> URL:
        allowed = {
            "scheme",
            "netloc",
            "path",
            "query",
            "fragment",
            "host",
            "port",
            "username",
            "password",
            "raw_path",
            "params",
        }
        unknown = set(kwargs) - allowed
        if unknown:
            raise TypeError(f"{sorted(unknown)[0]!r} is an invalid keyword argument for URL()")
        parts = self._split()
        scheme = kwargs.get("scheme", parts.scheme)
        path = kwargs.get("path", None)
        path = parts.path if path is None else quote(path, safe="/:@!$&'()*+,;=%~")
        query = parts.query
        if "raw_path" in kwargs:
            raw = kwargs["raw_path"].decode("ascii")
            path, _, query = raw.partition("?")
        if "query" in kwargs:
            q = kwargs["query"]
            query = q.decode("ascii") if isinstance(q, bytes) else str(q)
        if "params" in kwargs:
            query = str(QueryParams(kwargs["params"]))
        fragment = kwargs.get("fragment", parts.fragment)
        if "netloc" in kwargs:
            netloc = kwargs["netloc"]
            netloc = netloc.decode("ascii") if isinstance(netloc, bytes) else netloc
        else:
            username = kwargs.get("username", parts.username)
            password = kwargs.get("password", parts.password)
            host = kwargs.get("host", parts.hostname or "")
            port = kwargs.get("port", parts.port)
            if ":" in host and not host.startswith("["):
                host = f"[{host}]"
            netloc = host if port is None else f"{host}:{port}"
            if username:
                cred = quote(username, safe="") + (":" + quote(password, safe="") if password else "")
                netloc = f"{cred}@{netloc}"
        return URL(urlunsplit((scheme, netloc, path, query, fragment)))

    def copy_set_param(self, key: str, value: typing.Any = None) -> URL:
        return self.copy_with(params=self.params.set(key, value))

    def copy_add_param(self, key: str, value: typing.Any = None) -> URL:
        return self.copy_with(params=self.params.add(key, value))

    def copy_remove_param(self, key: str) -> URL:
        return self.copy_with(params=self.params.remove(key))

    def copy_merge_params(self, params: QueryParamTypes) -> URL:
        return self.copy_with(params=self.params.merge(params))

    def join(self, url: URL | str) -> URL:
        """`URL("https://a.example/b/c").join("../d")` → `https://a.example/d` (RFC 3986)."""
        return URL(urljoin(self._raw, str(url)))

    def __hash__(self) -> int:
        return hash(str(self))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (URL, str)) or foreign_library(other) is not None:
            return str(self) == str(URL(other))  # type: ignore[arg-type]
        return NotImplemented

    def __str__(self) -> str:
        return self._raw

    def __repr__(self) -> str:
        parts = self._split()
        if parts.password:
            userinfo = parts.netloc.rpartition("@")[0]
            hidden = userinfo.partition(":")[0] + ":[secure]"
            return f"URL({self._raw.replace(userinfo + '@', hidden + '@', 1)!r})"
        return f"URL({self._raw!r})"


class QueryParams(typing.Mapping[str, str]):
    """Immutable multi-dict of query parameters, in order."""

    __slots__ = ("_items",)

    _items: list[tuple[str, str]]

    def __init__(self, *args: QueryParamTypes | None, **kwargs: typing.Any) -> None:
        value: typing.Any = args[0] if args else kwargs
        items: list[tuple[str, str]] = []
        if value is None or value == "":
            pass
        elif isinstance(value, (str, bytes)):
            text = value.decode("ascii") if isinstance(value, bytes) else value
            items = parse_qsl(text, keep_blank_values=True)
        elif isinstance(value, QueryParams):
            items = list(value._items)
        elif isinstance(value, typing.Mapping):
            for k, v in value.items():
                if isinstance(v, (list, tuple)):
                    items.extend((str(k), primitive_value(x)) for x in v)
                else:
                    items.append((str(k), primitive_value(v)))
        else:
            items = [(str(k), primitive_value(v)) for k, v in value]
        self._items = items

    def keys(self) -> typing.KeysView[str]:
        return {k: None for k, _ in self._items}.keys()

    def values(self) -> typing.ValuesView[str]:
        return {k: self[k] for k in self.keys()}.values()

    def items(self) -> typing.ItemsView[str, str]:
        return {k: self[k] for k in self.keys()}.items()

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def get(self, key: typing.Any, default: typing.Any = None) -> typing.Any:
        for k, v in self._items:
            if k == key:
                return v
        return default

    def get_list(self, key: str) -> list[str]:
        return [v for k, v in self._items if k == key]

    def set(self, key: str, value: typing.Any = None) -> QueryParams:
        q = self.remove(key)
        q._items.append((key, primitive_value(value)))
        return q

    def add(self, key: str, value: typing.Any = None) -> QueryParams:
        q = QueryParams(self)
        q._items.append((key, primitive_value(value)))
        return q

    def remove(self, key: str) -> QueryParams:
        q = QueryParams()
        q._items = [(k, v) for k, v in self._items if k != key]
        return q

    def merge(self, params: QueryParamTypes | None = None) -> QueryParams:
        """Keys in `params` replace this object's values for those keys."""
        other = QueryParams(params)
        keys = {k for k, _ in other._items}
        merged = QueryParams()
        merged._items = [(k, v) for k, v in self._items if k not in keys] + other._items
        return merged

    def __getitem__(self, key: typing.Any) -> str:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __contains__(self, key: typing.Any) -> bool:
        return any(k == key for k, _ in self._items)

    def __iter__(self) -> typing.Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __bool__(self) -> bool:
        return bool(self._items)

    def __hash__(self) -> int:
        return hash(str(self))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QueryParams):
            return False
        return sorted(self._items) == sorted(other._items)

    def __str__(self) -> str:
        return urlencode(self._items)

    def __repr__(self) -> str:
        return f"QueryParams({str(self)!r})"
