"""Client settings shaped as httpx's: `Timeout`, `Limits`, `Proxy`, the `USE_CLIENT_DEFAULT` sentinel."""

from __future__ import annotations

import typing

from ._headers import Headers, HeaderTypes
from ._urls import URL

if typing.TYPE_CHECKING:
    import ssl

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_TIMEOUT_CONFIG",
    "USE_CLIENT_DEFAULT",
    "Limits",
    "Proxy",
    "Timeout",
    "UseClientDefault",
    "decompressed_cap",
]


class UseClientDefault:
    """Marks an argument left to the client's setting (distinct from None, which means 'no limit')."""

    def __repr__(self) -> str:
        return "USE_CLIENT_DEFAULT"


USE_CLIENT_DEFAULT = UseClientDefault()

_Unset: typing.Any = object()

TimeoutTypes = typing.Union[
    float,
    None,
    tuple[float | None, float | None, float | None, float | None],
    "Timeout",
]


def _seconds(value: object, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} timeout must be a number or None, not {type(value).__name__}")
    if value < 0 or value != value:
        raise ValueError(f"{name} timeout must be a non-negative number, not {value!r}")
    return float(value)


_PHASES = ("connect", "read", "write", "pool")


def _is_timeout_shaped(value: object) -> bool:
    """An httpx or httpx2 `Timeout` (or any object with its four phases and `as_dict()`)."""
    return (
        not isinstance(value, (int, float, tuple))
        and value is not None
        and hasattr(value, "as_dict")
        and all(hasattr(value, name) for name in _PHASES)
    )


class Timeout:
    """httpx's four timeouts. `read` bounds each read from the socket, not the whole response;
    `total` (an addition to httpx's, unset by default) bounds the whole request: the wait for a
    connection, retries, the response head and the whole body, streamed or not.

    Timeout(10.0), Timeout(None), Timeout(10.0, connect=5.0), Timeout(connect=5, read=10, write=10, pool=5),
    Timeout(10.0, total=60)
    """

    __slots__ = ("_tuple", "connect", "pool", "read", "total", "write")

    connect: float | None
    read: float | None
    write: float | None
    pool: float | None
    total: float | None
    #: (connect, read, write, pool, total), as the engine takes them.
    _tuple: tuple[float | None, float | None, float | None, float | None, float | None]

    def __init__(
        self,
        timeout: TimeoutTypes | UseClientDefault = _Unset,
        *,
        connect: float | typing.Any | None = _Unset,
        read: float | typing.Any | None = _Unset,
        write: float | typing.Any | None = _Unset,
        pool: float | typing.Any | None = _Unset,
        total: float | None = None,
    ) -> None:
        self.total = _seconds(total, "total")
        if isinstance(timeout, Timeout) or _is_timeout_shaped(timeout):
            if not (connect is _Unset and read is _Unset and write is _Unset and pool is _Unset):
                raise ValueError("Timeout(timeout=Timeout(...)) takes no other arguments")
            # requestx's own, or httpx's/httpx2's (the same four attributes)
            values: tuple[typing.Any, ...] = tuple(getattr(timeout, name) for name in _PHASES)
            if total is None:
                self.total = _seconds(getattr(timeout, "total", None), "total")
        elif isinstance(timeout, tuple):
            if not 2 <= len(timeout) <= 4:
                raise ValueError("a timeout tuple has two to four items: (connect, read[, write[, pool]])")
            values = (*timeout, None, None)[:4]  # as httpx: the phases not given have no timeout
        elif timeout is _Unset:
            if _Unset in (connect, read, write, pool):
                raise ValueError("Timeout needs either a default, e.g. Timeout(5.0), or all four values set")
            values = (connect, read, write, pool)
        else:
            default = _seconds(timeout, "default")
            values = tuple(default if v is _Unset else v for v in (connect, read, write, pool))
        self.connect = _seconds(values[0], "connect")
        self.read = _seconds(values[1], "read")
        self.write = _seconds(values[2], "write")
        self.pool = _seconds(values[3], "pool")
        self._tuple = (self.connect, self.read, self.write, self.pool, self.total)

    def as_dict(self) -> dict[str, float | None]:
        phases = {"connect": self.connect, "read": self.read, "write": self.write, "pool": self.pool}
        if self.total is not None:
            phases["total"] = self.total  # only when set: httpx's own transports see its four keys
        return phases

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Timeout) and self._tuple == other._tuple

    def __hash__(self) -> int:
        return hash(self._tuple)

    def __repr__(self) -> str:
        c, r, w, p, total = self._tuple
        extra = "" if total is None else f", total={total}"
        if c == r == w == p:
            return f"Timeout(timeout={c}{extra})"
        return f"Timeout(connect={c}, read={r}, write={w}, pool={p}{extra})"


#: What a body read whole may decompress to unless `Limits(max_decompressed_size=)` says otherwise:
#: a decompression bomb read into `.content` stops here instead of taking the process's memory.
DEFAULT_MAX_DECOMPRESSED = 1 << 30


class Limits:
    """Connection pool limits: total connections, idle connections kept, idle expiry in seconds."""

    __slots__ = (
        "keepalive_expiry",
        "max_connections",
        "max_decompressed_size",
        "max_decompression_ratio",
        "max_headers",
        "max_keepalive_connections",
    )

    def __init__(
        self,
        *,
        max_connections: int | None = None,
        max_keepalive_connections: int | None = None,
        keepalive_expiry: float | None = 5.0,
        max_headers: int = 1000,
        max_decompressed_size: int | None = None,
        max_decompression_ratio: float | None = None,
    ) -> None:
        """Additions to httpx's limits, each breach a typed error naming the limit:

        - `max_headers`: the most header lines a response may have (`RemoteProtocolError`);
        - `max_decompressed_size`: the most bytes a body may decompress to (`DecodingError`).
          Unset, a body read whole (`.content`, `read()`) is capped at 1 GiB and an iterated one
          is not (it comes in steps of about 1 MiB, whatever the ratio);
        - `max_decompression_ratio`: decompressed bytes per received byte, beyond the first MiB.
        """
        if isinstance(max_headers, bool) or not isinstance(max_headers, int) or max_headers < 1:
            raise ValueError(f"max_headers must be a positive int, not {max_headers!r}")
        if max_decompressed_size is not None and (
            isinstance(max_decompressed_size, bool)
            or not isinstance(max_decompressed_size, int)
            or max_decompressed_size < 0
        ):
            raise ValueError(f"max_decompressed_size must be a non-negative int or None, not {max_decompressed_size!r}")
        if max_decompression_ratio is not None and not (
            isinstance(max_decompression_ratio, (int, float)) and max_decompression_ratio >= 1
        ):
            raise ValueError(f"max_decompression_ratio must be a number of at least 1, not {max_decompression_ratio!r}")
        self.max_headers = max_headers
        self.max_decompressed_size = max_decompressed_size
        self.max_decompression_ratio = None if max_decompression_ratio is None else float(max_decompression_ratio)
        for name, value in (
            ("max_connections", max_connections),
            ("max_keepalive_connections", max_keepalive_connections),
        ):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a non-negative int or None, not {value!r}")
        if max_connections == 0:
            raise ValueError("max_connections must be at least 1")
        self.max_connections = max_connections
        self.max_keepalive_connections = max_keepalive_connections
        self.keepalive_expiry = _seconds(keepalive_expiry, "keepalive_expiry")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Limits) and (
            self.max_connections,
            self.max_keepalive_connections,
            self.keepalive_expiry,
            self.max_headers,
            self.max_decompressed_size,
            self.max_decompression_ratio,
        ) == (
            other.max_connections,
            other.max_keepalive_connections,
            other.keepalive_expiry,
            other.max_headers,
            other.max_decompressed_size,
            other.max_decompression_ratio,
        )

    def __repr__(self) -> str:
        return (
            f"Limits(max_connections={self.max_connections}, "
            f"max_keepalive_connections={self.max_keepalive_connections}, "
            f"keepalive_expiry={self.keepalive_expiry})"
        )


def decompressed_cap(limits: typing.Any, whole: bool) -> int | None:
    """What a body may decompress to under `limits` (a requestx `Limits`, another library's, or
    None for the defaults): the limit set, else 1 GiB for a body decoded whole and no cap for
    one iterated (it comes in steps of about 1 MiB)."""
    size: int | None = getattr(limits, "max_decompressed_size", None)
    if size is None and whole:
        return DEFAULT_MAX_DECOMPRESSED
    return size


#: The proxy protocols httpx accepts (socks5h: the proxy resolves host names, not us).
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


class Proxy:
    """A proxy server: its URL, and how to authenticate to it.

    Proxy("http://proxy.local:8080"), Proxy("http://user:pass@proxy.local"),
    Proxy("https://proxy.local", headers={"Proxy-Foo": "bar"}). Credentials in the URL are moved to
    `auth`, so the URL can be printed or logged without leaking them (as httpx does).
    """

    def __init__(
        self,
        url: URL | str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        auth: tuple[str, str] | None = None,
        headers: HeaderTypes | None = None,
    ) -> None:
        url = URL(url)
        if url.scheme not in PROXY_SCHEMES:
            raise ValueError(f"Unknown scheme for proxy URL {url!r}")
        if url.username or url.password:
            # Credentials in the URL win over `auth=`, as in httpx.
            auth = (url.username, url.password)
            url = url.copy_with(username=None, password=None)
        self.url = url
        self.auth = auth
        self.headers = Headers(headers)
        #: For an https:// proxy: how to verify the proxy itself (not the origin behind it).
        self.ssl_context = ssl_context

    @property
    def raw_auth(self) -> tuple[bytes, bytes] | None:
        """`auth` as the bytes that go into a Proxy-Authorization header."""
        if self.auth is None:
            return None
        return (self.auth[0].encode("utf-8"), self.auth[1].encode("utf-8"))

    def __repr__(self) -> str:
        # The password never appears, not even in a traceback or a log line.
        auth = f", auth={(self.auth[0], '********')!r}" if self.auth else ""
        headers = f", headers={dict(self.headers)!r}" if self.headers else ""
        return f"Proxy({str(self.url)!r}{auth}{headers})"


DEFAULT_TIMEOUT_CONFIG = Timeout(timeout=5.0)
DEFAULT_LIMITS = Limits(max_connections=100, max_keepalive_connections=20)
DEFAULT_MAX_REDIRECTS = 20
