"""The httpx exception hierarchy, raised by requestx with the same classes and meanings.

* HTTPError
  * RequestError
    + TransportError
      - TimeoutException
        · ConnectTimeout
        · ReadTimeout
        · WriteTimeout
        · PoolTimeout
      - NetworkError
        · ConnectError
        · ReadError
        · WriteError
        · CloseError
      - ProtocolError
        · LocalProtocolError
        · RemoteProtocolError
      - ProxyError
      - UnsupportedProtocol
    + DecodingError
    + TooManyRedirects
  * HTTPStatusError
* InvalidURL
* CookieConflict
* StreamError
  * StreamConsumed
  * StreamClosed
  * ResponseNotRead
  * RequestNotRead
* OperationCancelled (a RuntimeError)

The engine (`src/error.rs`) picks the class by error kind and raises it, with the failure's causes
(the innermost `OSError`, say) chained as `__cause__`; the client attaches the request. Nothing here
is chosen by message text. The engine looks every class it raises up here when it loads, so this
module must not import the engine.
"""

from __future__ import annotations

import typing

if typing.TYPE_CHECKING:
    from ._models import Request, Response

__all__ = [
    "CloseError",
    "ConnectError",
    "ConnectTimeout",
    "CookieConflict",
    "DecodingError",
    "HTTPError",
    "HTTPStatusError",
    "InvalidURL",
    "LocalProtocolError",
    "NetworkError",
    "OperationCancelled",
    "PoolTimeout",
    "ProtocolError",
    "ProxyError",
    "ReadError",
    "ReadTimeout",
    "RemoteProtocolError",
    "RequestError",
    "RequestNotRead",
    "ResponseNotRead",
    "StreamClosed",
    "StreamConsumed",
    "StreamError",
    "TimeoutException",
    "TooManyRedirects",
    "TransportError",
    "UnsupportedProtocol",
    "WriteError",
    "WriteTimeout",
]


class HTTPError(Exception):
    """Base class for `RequestError` and `HTTPStatusError`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self._request: Request | None = None

    @property
    def request(self) -> Request:
        if self._request is None:
            raise RuntimeError("The .request property has not been set.")
        return self._request

    @request.setter
    def request(self, request: Request) -> None:
        self._request = request


class RequestError(HTTPError):
    """An error occurred while issuing a request."""

    def __init__(self, message: str, *, request: Request | None = None) -> None:
        super().__init__(message)
        self._request = request


class TransportError(RequestError):
    """The transport failed to send the request or receive the response."""


class TimeoutException(TransportError):
    """A timeout (connect, read, write or pool) expired."""


class ConnectTimeout(TimeoutException):
    """Timed out while connecting to the host."""


class ReadTimeout(TimeoutException):
    """Timed out while receiving data from the host."""


class WriteTimeout(TimeoutException):
    """Timed out while sending data to the host."""


class PoolTimeout(TimeoutException):
    """Timed out waiting for a connection from the pool."""


class NetworkError(TransportError):
    """A network failure while sending or receiving."""


class ReadError(NetworkError):
    """Failed to receive data from the network."""


class WriteError(NetworkError):
    """Failed to send data through the network."""


class ConnectError(NetworkError):
    """Failed to establish a connection."""


class CloseError(NetworkError):
    """Failed to close a connection."""


class ProxyError(TransportError):
    """An error occurred while establishing a proxy connection."""


class UnsupportedProtocol(TransportError):
    """The URL scheme is not http or https, or is missing."""


class ProtocolError(TransportError):
    """The protocol was violated."""


class LocalProtocolError(ProtocolError):
    """The client was about to violate the protocol (illegal method, header name or value...)."""


class RemoteProtocolError(ProtocolError):
    """The server violated the protocol (malformed status line, truncated body...)."""


class DecodingError(RequestError):
    """Decoding the response body failed (corrupt compressed data, bad charset...)."""


class TooManyRedirects(RequestError):
    """More redirects than `max_redirects`."""


class HTTPStatusError(HTTPError):
    """`raise_for_status()` on a 4xx or 5xx response."""

    def __init__(self, message: str, *, request: Request, response: Response) -> None:
        super().__init__(message)
        self._request = request
        self.response = response


class InvalidURL(Exception):
    """The URL cannot be parsed."""


class CookieConflict(Exception):
    """`Cookies.get()` found more than one cookie of that name."""


class OperationCancelled(RuntimeError):
    """An engine operation was cancelled before its result was taken (it was aborted from another
    thread, or its waiter gave up)."""


class StreamError(RuntimeError):
    """Base class for misuse of a streamed body."""


class StreamConsumed(StreamError):
    def __init__(self) -> None:
        super().__init__("Attempted to read or stream content, but the content has already been streamed.")


class StreamClosed(StreamError):
    def __init__(self) -> None:
        super().__init__("Attempted to read or stream content, but the stream has been closed.")


class ResponseNotRead(StreamError):
    def __init__(self) -> None:
        super().__init__("Attempted to access streaming response content, without having called `read()`.")


class RequestNotRead(StreamError):
    def __init__(self) -> None:
        super().__init__("Attempted to access streaming request content, without having called `read()`.")
