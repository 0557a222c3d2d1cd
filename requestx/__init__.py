"""requestx: an httpx-compatible HTTP client whose I/O, pooling and decoding run in Rust.

`import requestx as httpx` works: the same classes, methods and exceptions.
"""

import atexit as _atexit
import os as _os

try:
    from ._requestx import Retry as _Retry  # noqa: F401  # the compiled engine, first of all
except ModuleNotFoundError as _exc:  # pragma: no cover - exercised in a subprocess by the tests
    if _exc.name != f"{__name__}._requestx":
        raise
    raise ImportError(
        f"requestx's compiled engine (requestx._requestx) is not in {_os.path.dirname(__file__)}: this is "
        "a source tree whose extension is not built, imported instead of the installed requestx. Build it "
        "in place with `maturin develop --release`, or run from outside the checkout (the installed "
        "package is imported then)."
    ) from None

from ._alias import alias_httpx
from ._api import delete, get, head, options, patch, post, put, query, request, stream
from ._auth import Auth, BasicAuth, DigestAuth, FunctionAuth, NetRCAuth
from ._client import AsyncClient, Client, __version__
from ._config import USE_CLIENT_DEFAULT, Limits, Proxy, Timeout
from ._cookies import Cookies
from ._exceptions import (
    CloseError,
    ConnectError,
    ConnectTimeout,
    CookieConflict,
    DecodingError,
    HTTPError,
    HTTPStatusError,
    InvalidURL,
    LocalProtocolError,
    NetworkError,
    OperationCancelled,
    PoolTimeout,
    ProtocolError,
    ProxyError,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    RequestError,
    RequestNotRead,
    ResponseNotRead,
    StreamClosed,
    StreamConsumed,
    StreamError,
    TimeoutException,
    TooManyRedirects,
    TransportError,
    UnsupportedProtocol,
    WriteError,
    WriteTimeout,
)
from ._headers import Headers
from ._httpx_transport import AsyncHttpxTransport, HttpxTransport
from ._models import Request, Response
from ._pool import Pool
from ._requestx import Retry, _after_fork_child, _before_exit
from ._sse import EventSource, ServerSentEvent, SSEError, aconnect_sse, connect_sse
from ._ssl import create_ssl_context
from ._status_codes import codes
from ._streams import AsyncByteStream, ByteStream, SyncByteStream
from ._transports import (
    ASGITransport,
    AsyncBaseTransport,
    AsyncHTTPTransport,
    BaseTransport,
    HTTPTransport,
    MockTransport,
    WSGITransport,
)
from ._urls import URL, Origin, QueryParams

__title__ = "requestx"
__description__ = "An httpx-compatible HTTP client whose I/O, pooling and decoding run in Rust."

__all__ = [
    "__description__",
    "__title__",
    "__version__",
    "aconnect_sse",
    "alias_httpx",
    "ASGITransport",
    "AsyncBaseTransport",
    "AsyncByteStream",
    "AsyncClient",
    "AsyncHTTPTransport",
    "AsyncHttpxTransport",
    "Auth",
    "BaseTransport",
    "BasicAuth",
    "ByteStream",
    "Client",
    "CloseError",
    "codes",
    "connect_sse",
    "ConnectError",
    "ConnectTimeout",
    "CookieConflict",
    "Cookies",
    "create_ssl_context",
    "DecodingError",
    "delete",
    "DigestAuth",
    "EventSource",
    "FunctionAuth",
    "get",
    "head",
    "Headers",
    "HTTPError",
    "HTTPStatusError",
    "HTTPTransport",
    "HttpxTransport",
    "InvalidURL",
    "Limits",
    "LocalProtocolError",
    "MockTransport",
    "NetRCAuth",
    "NetworkError",
    "OperationCancelled",
    "options",
    "Origin",
    "patch",
    "Pool",
    "PoolTimeout",
    "post",
    "ProtocolError",
    "Proxy",
    "ProxyError",
    "put",
    "query",
    "QueryParams",
    "ReadError",
    "ReadTimeout",
    "RemoteProtocolError",
    "request",
    "Request",
    "RequestError",
    "RequestNotRead",
    "Response",
    "ResponseNotRead",
    "Retry",
    "ServerSentEvent",
    "SSEError",
    "stream",
    "StreamClosed",
    "StreamConsumed",
    "StreamError",
    "SyncByteStream",
    "Timeout",
    "TimeoutException",
    "TooManyRedirects",
    "TransportError",
    "UnsupportedProtocol",
    "URL",
    "USE_CLIENT_DEFAULT",
    "WriteError",
    "WriteTimeout",
    "WSGITransport",
]

# A tokio runtime does not survive fork(): the child starts a new engine generation, and every
# client rebuilds its connection pool there (parent sockets are never reused).
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_after_fork_child)
# Before the interpreter finalizes, tokio threads stop attaching to it (src/body/presized.rs).
_atexit.register(_before_exit)

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("requestx."):
        try:
            _obj.__module__ = "requestx"
        except (AttributeError, TypeError):
            pass
del _name, _obj
