"""Which proxy, or which mounted transport, serves a URL: decided as httpx 0.28 decides it.

Pure functions, kept apart from the client so the rules can be tested on their own:

- `get_environment_proxies()`: HTTP_PROXY / HTTPS_PROXY / ALL_PROXY / NO_PROXY as mount patterns,
  e.g. {"http://": "http://proxy:3128", "all://*example.com": None} (None: go direct).
- `URLPattern`: a mount key ("all://", "https://", "all://*.example.com:8443", ...) and the
  order in which keys are tried (most specific first).
- `build_mounts()`: the ordered mounts a client routes by, from `proxy=`, `mounts=`, `trust_env`.
- `transport_for_url()`: the first mount matching a URL, else the client's own transport.

Beyond httpx (which fails or silently matches nothing on these): NO_PROXY accepts CIDR ranges
("10.0.0.0/8", "fd00::/8"), bracketed IPv6 with or without a port ("[::1]:8080"), and
"*.example.com" meaning ".example.com".
"""

from __future__ import annotations

import ipaddress
import typing

from ._config import Proxy
from ._urls import URL

__all__ = [
    "ProxyTypes",
    "URLPattern",
    "as_proxy",
    "build_mounts",
    "engine_proxy_url",
    "get_environment_proxies",
    "transport_for_url",
]

ProxyTypes = typing.Union[URL, str, Proxy]
T = typing.TypeVar("T")
Network = typing.Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


# --- the environment --------------------------------------------------------------------------


def get_environment_proxies() -> dict[str, str | None]:
    """Mount patterns from the environment, each mapped to a proxy URL or to None (no proxy).

    Read through `urllib.request.getproxies()`, as httpx does: lower-case names win over
    upper-case ones, HTTP_PROXY is ignored under CGI (REQUEST_METHOD set, CVE-2016-1000110),
    and on macOS and Windows the system settings apply when the environment has none. Only the
    http, https and all proxies are taken (not e.g. TRAVIS_APT_PROXY). NO_PROXY follows curl's
    rules (https://curl.se/libcurl/c/CURLOPT_NOPROXY.html); "*" anywhere in it turns every
    proxy off.
    """
    # Imported here: urllib.request pulls in http.client and email, paid only when asked for.
    from urllib.request import getproxies

    proxy_info = getproxies()
    mounts: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        url = proxy_info.get(scheme)
        if url:
            mounts[f"{scheme}://"] = url if "://" in url else f"http://{url}"
    for entry in proxy_info.get("no", "").split(","):
        entry = entry.strip()
        if entry == "*":
            return {}
        if entry:
            mounts[no_proxy_pattern(entry)] = None
    return mounts


def no_proxy_pattern(entry: str) -> str:
    """The mount pattern for one NO_PROXY entry.

    "example.com" → "all://*example.com" (the domain and its subdomains, not "wwwexample.com");
    ".example.com" → "all://*.example.com" (subdomains only); "localhost" → "all://localhost";
    "127.0.0.1", "10.0.0.0/8" → "all://127.0.0.1", "all://10.0.0.0/8"; "::1" → "all://[::1]";
    "https://example.com" (with a scheme) → itself.
    """
    if "://" in entry:
        return entry
    if entry.startswith("[") and _is_ip(entry[1:].partition("]")[0], ipaddress.IPv6Address):
        return f"all://{entry}"  # "[::1]", "[::1]:8080", "[fd00::]/8": already URL-shaped
    address, slash, prefix = entry.partition("/")
    if _is_ip(address, ipaddress.IPv4Address):
        return f"all://{entry}"
    if _is_ip(address, ipaddress.IPv6Address):
        # The prefix goes after the brackets (httpx writes "[::1/128]", which is no valid URL).
        return f"all://[{address}]{slash}{prefix}"
    if entry.lower() == "localhost":
        return f"all://{entry}"
    if entry.startswith("*."):
        entry = entry[1:]  # "*.example.com" is meant as ".example.com" (httpx matches nothing)
    return f"all://*{entry}"


def _is_ip(text: str, kind: type[ipaddress.IPv4Address] | type[ipaddress.IPv6Address]) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


# --- patterns ---------------------------------------------------------------------------------


class URLPattern:
    """A mount key, and whether a URL falls under it.

    "all://" any URL; "https://" any https URL; "all://example.com" that host only, any scheme;
    "all://*.example.com" its subdomains; "all://*example.com" the domain and its subdomains;
    "http://example.com:8080" that port only (a default port, like ":80" for http, counts as
    none); "all://10.0.0.0/8", "all://[fd00::]/8" addresses in that range.

    Sorting puts the most specific first, the order mounts are tried in: a pattern with a port,
    then longer hosts, then longer schemes.
    """

    __slots__ = ("_network", "_wildcard", "host", "pattern", "port", "scheme")

    def __init__(self, pattern: str) -> None:
        if pattern and ":" not in pattern:
            raise ValueError(
                "Proxy keys should use proper URL forms rather than plain scheme strings. "
                f'Instead of "{pattern}", use "{pattern}://"'
            )
        scheme, sep, rest = pattern.partition("://")
        starred = bool(sep) and rest.startswith("*") and rest[1:2] not in ("", ":", "/")
        # A wildcard is no valid host (an international one fails IDNA): parse a letter in its place.
        url = URL(f"{scheme}://x{rest[1:]}" if starred else pattern)
        host = "*" + url.host[1:] if starred else url.host
        self.pattern = pattern
        self.scheme = "" if url.scheme == "all" else url.scheme
        self.host = "" if host == "*" else host
        self.port = url.port
        # "*.example.com" → ".example.com" (subdomains only); "*example.com" → "example.com"
        # (the domain too); None: the host must be equal.
        self._wildcard: str | None = host[1:] if host.startswith("*") else None
        self._network = _network(self.host, url.path)

    def matches(self, url: URL) -> bool:
        if self.scheme and self.scheme != url.scheme:
            return False
        if self.host and not self._host_matches(url.host):
            return False
        return self.port is None or self.port == url.port

    def _host_matches(self, host: str) -> bool:
        if self._network is not None:
            try:
                return ipaddress.ip_address(host) in self._network
            except ValueError:
                return False  # a name, not an address
        wildcard = self._wildcard
        if wildcard is None:
            return host == self.host
        if wildcard.startswith("."):
            # At least one character before the dot: "*.example.com" does not match ".example.com".
            return host.endswith(wildcard) and len(host) > len(wildcard)
        return host == wildcard or (host.endswith("." + wildcard) and len(host) > len(wildcard) + 1)

    @property
    def priority(self) -> tuple[int, int, int]:
        """Smaller sorts first: a port beats none, then a longer host, then a longer scheme."""
        return (0 if self.port is not None else 1, -len(self.host), -len(self.scheme))

    def __lt__(self, other: URLPattern) -> bool:
        return self.priority < other.priority

    def __eq__(self, other: object) -> bool:
        return isinstance(other, URLPattern) and self.pattern == other.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)

    def __repr__(self) -> str:
        return f"URLPattern({self.pattern!r})"


def _network(host: str, path: str) -> Network | None:
    """The address range of a CIDR pattern ("all://10.0.0.0/8": host "10.0.0.0", path "/8")."""
    prefix = path[1:]
    if not (path.startswith("/") and prefix.isdigit() and host):
        return None
    try:
        return ipaddress.ip_network(f"{host}/{prefix}", strict=False)
    except ValueError:
        return None  # "1.2.3.4/99", "example.com/8": the host alone counts, as in httpx


# --- mounts -----------------------------------------------------------------------------------


def as_proxy(proxy: ProxyTypes | typing.Any) -> Proxy:
    """`proxy=` as a `Proxy`: a URL (str, requestx's or httpx's `URL`) or a `Proxy` (requestx's,
    or httpx's/httpx2's, copied field by field)."""
    if isinstance(proxy, Proxy):
        return proxy
    if hasattr(proxy, "url") and hasattr(proxy, "auth"):  # an httpx or httpx2 `Proxy`
        return Proxy(
            str(proxy.url),
            ssl_context=getattr(proxy, "ssl_context", None),
            auth=proxy.auth,
            headers=getattr(proxy, "headers", None),
        )
    return Proxy(proxy)


def build_mounts(
    proxy: ProxyTypes | None,
    mounts: typing.Mapping[str, T | None] | None,
    *,
    trust_env: bool,
    proxy_transport: typing.Callable[[Proxy], T],
    transport: object = None,
) -> dict[URLPattern, T | None]:
    """The client's mounts, most specific first, as httpx's `Client.__init__` computes them.

    `proxy=` routes everything through it ({"all://": proxy}) and the environment is not read;
    otherwise, with `trust_env` and no custom `transport`, the environment's proxies apply.
    `proxy_transport(proxy)` builds the transport for each proxy. The user's `mounts` come last
    and replace a pattern of the same spelling. A None value stands for the client's own
    transport (e.g. a NO_PROXY host: go direct).
    """
    proxies: dict[str, Proxy | None]
    if proxy is not None:
        proxies = {"all://": as_proxy(proxy)}
    elif trust_env and transport is None:
        proxies = {key: None if url is None else Proxy(url) for key, url in get_environment_proxies().items()}
    else:
        proxies = {}
    routes: dict[URLPattern, T | None] = {
        URLPattern(key): None if value is None else proxy_transport(value) for key, value in proxies.items()
    }
    if mounts is not None:
        routes.update((URLPattern(key), value) for key, value in mounts.items())
    # A stable sort: patterns of equal priority keep their order (environment first, then mounts).
    return dict(sorted(routes.items(), key=lambda route: route[0].priority))


def transport_for_url(mounts: typing.Mapping[URLPattern, T | None], url: URL, default: T) -> T:
    """The transport of the first mount matching `url`, or `default` (the client's own) when none
    does or the matching mount is None."""
    for pattern, transport in mounts.items():
        if pattern.matches(url):
            return default if transport is None else transport
    return default


def engine_proxy_url(proxy: Proxy) -> str:
    """The proxy's URL with its credentials back in (percent-encoded), for an engine that takes
    a proxy as one URL (reqwest sends them as Basic Proxy-Authorization)."""
    if proxy.auth is None:
        return str(proxy.url)
    username, password = proxy.auth
    return str(proxy.url.copy_with(username=username, password=password))
