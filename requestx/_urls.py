"""`URL` and `QueryParams`, shaped as httpx's.

A URL is normalised and validated as httpx does it (`_urlparse`), when it is built. The typical URL,
already in normal form, is proved so by one regex and kept as given: its components are split only
when one is asked for, so the request hot path pays for no parsing in Python.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import typing
from urllib.parse import parse_qsl, unquote, urlencode, urljoin

from ._headers import foreign_library
from ._urlparse import (
    DEFAULT_PORTS,
    MAX_URL_LENGTH,
    Parts,
    components_from_kwargs,
    idna_decode,
    match_normal,
    parse,
    split_normal,
)

__all__ = ["URL", "Origin", "QueryParams"]

PrimitiveData = typing.Optional[typing.Union[str, int, float, bool]]
QueryParamTypes = typing.Union[
    "QueryParams",
    typing.Mapping[str, typing.Union[PrimitiveData, typing.Sequence[PrimitiveData]]],
    typing.List[typing.Tuple[str, PrimitiveData]],
    typing.Tuple[typing.Tuple[str, PrimitiveData], ...],
    str,
    bytes,
]


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
    """A URL, normalised as httpx normalises it (`_urlparse.parse`). `URL("https://e.org/p?q=1")`;
    `URL(url, params=...)` replaces the query; any other keyword of `copy_with` replaces that part.

    A URL already in normal form (`is_normal`, nearly every one) is kept as given and split only
    when a component is asked for; any other is parsed, and refused with InvalidURL, when built.
    """

    __slots__ = ("_parts", "_raw")

    _raw: str
    _parts: Parts | None

    def __init__(self, url: URL | str = "", **kwargs: typing.Any) -> None:
        if kwargs:
            self._set(_with_components(url, kwargs))
        # The test of `is_normal`, inlined: this is every request's path.
        # NOTE: `URL("http://127.0.0.1:8932/small?x=1")` takes ~0.9 µs so (calling is_normal() adds
        # ~0.15 µs); with the check this replaced (a scan for characters to escape) it took ~1.27 µs.
        elif type(url) is str and match_normal(url) is not None and "/." not in url and len(url) <= MAX_URL_LENGTH:
            self._raw = url
            self._parts = None
        elif isinstance(url, URL):
            self._raw, self._parts = url._raw, url._parts
        else:
            self._set(parse(_text(url)))

    def _set(self, parts: Parts) -> None:
        self._parts = parts
        self._raw = str(parts)

    def _split(self) -> Parts:
        parts = self._parts
        if parts is None:
            parts = self._parts = split_normal(self._raw)
        return parts

    @property
    def scheme(self) -> str:
        return self._split().scheme

    @property
    def raw_scheme(self) -> bytes:
        return self._split().scheme.encode("ascii")

    @property
    def userinfo(self) -> bytes:
        return self._split().userinfo.encode("ascii")

    @property
    def username(self) -> str:
        return unquote(self._split().userinfo.partition(":")[0])

    @property
    def password(self) -> str:
        return unquote(self._split().userinfo.partition(":")[2])

    @property
    def host(self) -> str:
        """Lower-case; an international host in Unicode (`xn--fa-hia.de` → `faß.de`), each of its
        A-labels decoded (as httpx2 does; httpx 0.28 decodes a host that starts with one)."""
        host = self._split().host
        return idna_decode(host) if "xn--" in host else host

    @property
    def raw_host(self) -> bytes:
        return self._split().host.encode("ascii")

    @property
    def port(self) -> int | None:
        """None when absent or the scheme's default (`https://e:443/` has none)."""
        return self._split().port

    @property
    def netloc(self) -> bytes:
        return self._split().netloc.encode("ascii")

    @property
    def path(self) -> str:
        return unquote(self._split().path or "/")

    @property
    def query(self) -> bytes:
        return (self._split().query or "").encode("ascii")

    @property
    def params(self) -> QueryParams:
        return QueryParams(self._split().query)

    @property
    def raw_path(self) -> bytes:
        """The request target: path and query (`b"/p?"` keeps an empty query's `?`)."""
        parts = self._split()
        path = parts.path or "/"
        return (path if parts.query is None else f"{path}?{parts.query}").encode("ascii")

    @property
    def fragment(self) -> str:
        return unquote(self._split().fragment or "")

    @property
    def is_absolute_url(self) -> bool:
        parts = self._split()
        return bool(parts.scheme and parts.host)

    @property
    def is_relative_url(self) -> bool:
        return not self.is_absolute_url

    @property
    def origin(self) -> Origin:
        """Scheme, host and effective port (httpx2's `URL.origin`)."""
        return Origin(self)

    def copy_with(self, **kwargs: typing.Any) -> URL:
        """A copy with some components replaced: scheme, username, password, userinfo (bytes), host,
        port, netloc (bytes), path, query (bytes), raw_path (bytes), fragment, params."""
        return URL(self, **kwargs)

    def copy_set_param(self, key: str, value: typing.Any = None) -> URL:
        return self.copy_with(params=self.params.set(key, value))

    def copy_add_param(self, key: str, value: typing.Any = None) -> URL:
        return self.copy_with(params=self.params.add(key, value))

    def copy_remove_param(self, key: str) -> URL:
        return self.copy_with(params=self.params.remove(key))

    def copy_merge_params(self, params: QueryParamTypes) -> URL:
        return self.copy_with(params=self.params.merge(params))

    def join(self, url: URL | str) -> URL:
        """`URL("https://a.example/b/c").join("../d")` → `https://a.example/d` (RFC 3986 5.2)."""
        return URL(urljoin(self._raw, str(URL(url))))

    def __hash__(self) -> int:
        return hash(self._raw)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (URL, str)) or foreign_library(other) is not None:
            return self._raw == str(URL(other))  # type: ignore[arg-type]
        return NotImplemented

    def __str__(self) -> str:
        return self._raw

    def __repr__(self) -> str:
        parts = self._split()
        if ":" in parts.userinfo:
            parts = parts._replace(userinfo=parts.userinfo.partition(":")[0] + ":[secure]")
        return f"URL({str(parts)!r})"


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class Origin:
    """The scheme, host and effective port of an absolute URL (RFC 9110 4.3.1), as httpx2's: immutable,
    comparable, hashable. `Origin("https://e.org/p")` is `Origin(scheme='https', host='e.org', port=443)`."""

    scheme: str
    host: str
    port: int | None

    def __init__(self, url: URL | str) -> None:
        url = url if isinstance(url, URL) else URL(url)
        if url.is_relative_url:
            raise ValueError("URL must be absolute to have an origin")
        host = url.host
        if ":" in host:
            # An IPv6 address has many spellings: the compressed one, so that equal origins are equal.
            host = str(ipaddress.IPv6Address(host))
        port = url.port
        object.__setattr__(self, "scheme", url.scheme)
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", DEFAULT_PORTS.get(url.scheme) if port is None else port)


# The keywords of `URL(...)` and `copy_with(...)`, with the type each takes (None is always taken).
_KEYWORD_TYPES: dict[str, type] = {
    "scheme": str,
    "username": str,
    "password": str,
    "userinfo": bytes,
    "host": str,
    "port": int,
    "netloc": bytes,
    "path": str,
    "query": bytes,
    "raw_path": bytes,
    "fragment": str,
    "params": object,
}


def _text(url: object) -> str:
    if isinstance(url, str):
        return url
    if foreign_library(url) is not None:
        return str(url)  # an httpx or httpx2 URL
    raise TypeError(f"Invalid type for url.  Expected str or httpx.URL, got {type(url)}: {url!r}")


def _with_components(url: URL | str, kwargs: dict[str, typing.Any]) -> Parts:
    """`url` with the components the keywords give, type-checked as httpx checks them."""
    given: dict[str, typing.Any] = {}
    for key, value in kwargs.items():
        expected = _KEYWORD_TYPES.get(key)
        if expected is None:
            raise TypeError(f"{key!r} is an invalid keyword argument for URL()")
        if value is not None and not isinstance(value, expected):
            raise TypeError(f"Argument {key!r} must be {expected.__name__} but got {type(value).__name__}")
        given[key] = value.decode("ascii") if isinstance(value, bytes) else value
    if "params" in given:
        # Empty params leave no query at all, not an empty one ("?").
        params = given.pop("params")
        given["query"] = str(QueryParams(params)) if params else None
    components = components_from_kwargs(given)
    if not isinstance(url, URL):
        return parse(_text(url), **components)
    parts = url._split()
    base = {
        "scheme": parts.scheme,
        "authority": parts.authority,
        "path": parts.path,
        "query": parts.query,
        "fragment": parts.fragment,
    }
    return parse("", **{**base, **components})


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
        """A copy with `value` the key's only value, where the key first was (else at the end)."""
        return self._replaced([(str(key), primitive_value(value))])

    def add(self, key: str, value: typing.Any = None) -> QueryParams:
        q = QueryParams(self)
        q._items.append((str(key), primitive_value(value)))
        return q

    def remove(self, key: str) -> QueryParams:
        q = QueryParams()
        q._items = [(k, v) for k, v in self._items if k != str(key)]
        return q

    def merge(self, params: QueryParamTypes | None = None) -> QueryParams:
        """A copy where each key of `params` has the values `params` gives it."""
        return self._replaced(QueryParams(params)._items)

    def _replaced(self, pairs: list[tuple[str, str]]) -> QueryParams:
        """A copy where each key of `pairs` has the values `pairs` give it, in the place the key
        first had here (as httpx's dict update keeps it); keys new here follow, in their order."""
        values: dict[str, list[str]] = {}
        for k, v in pairs:
            values.setdefault(k, []).append(v)
        items: list[tuple[str, str]] = []
        placed: set[str] = set()
        for k, v in self._items:
            if k not in values:
                items.append((k, v))
            elif k not in placed:
                placed.add(k)
                items.extend((k, new) for new in values[k])
        items.extend((k, v) for k, v in pairs if k not in placed)
        q = QueryParams()
        q._items = items
        return q

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

    def update(self, params: QueryParamTypes | None = None) -> None:
        raise RuntimeError("QueryParams are immutable since 0.18.0. Use `q = q.merge(...)` to create an updated copy.")

    def __setitem__(self, key: str, value: str) -> None:
        raise RuntimeError(
            "QueryParams are immutable since 0.18.0. Use `q = q.set(key, value)` to create an updated copy."
        )
