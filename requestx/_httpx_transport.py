"""requestx's engine as a transport of httpx's own clients: `HttpxTransport` and `AsyncHttpxTransport`.

`httpx2.AsyncClient(transport=requestx.AsyncHttpxTransport(http2=True))` keeps httpx2's client, its
models and its exceptions, and sends every request through the engine. This is how the LLM SDKs,
which accept only an httpx2 (or httpx) client, run on requestx.

The host library (httpx 0.28 or httpx2 2.16, or any package shaped like them) is read off the request
each call: its `Response`, its byte-stream base classes and its exception classes are used, so code
that catches `httpx2.TimeoutException` catches the engine's timeouts. Content-Encoding is left to the
host, as httpcore does, so the headers the host sees are exactly those the server sent.
"""

from __future__ import annotations

import sys
import types
import typing

from . import _bridge, _exceptions
from ._config import DEFAULT_TIMEOUT_CONFIG
from ._engine import STREAM_OR_RAW, Outgoing, outgoing, send_async, send_sync
from ._exceptions import RequestError
from ._status_codes import reason_bytes
from ._transports import EngineSettings

if typing.TYPE_CHECKING:
    from ._requestx import BodyStream, Retry

__all__ = ["AsyncHttpxTransport", "HttpxTransport"]

#: What a host library must provide, checked once per library.
_HOST_NAMES = ("Response", "ByteStream", "SyncByteStream", "AsyncByteStream", "RequestNotRead", "TransportError")


class _Host:
    """One host library: how its requests are read, and its responses and exceptions made."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module
        self.response_class: typing.Any = module.Response
        self.byte_stream: typing.Any = module.ByteStream
        self.request_not_read: type[BaseException] = module.RequestNotRead
        self.sync_stream = _sync_stream_class(self, module.SyncByteStream)
        self.async_stream = _async_stream_class(self, module.AsyncByteStream)
        # requestx's classes mirror httpx's tree name for name; the nearest class the host has wins.
        self._errors: dict[type[BaseException], type[BaseException]] = {}
        classes = {getattr(_exceptions, name) for name in _exceptions.__all__}
        for ours in classes:
            for cls in ours.__mro__:
                theirs = getattr(module, cls.__name__, None) if cls in classes else None
                if isinstance(theirs, type) and issubclass(theirs, BaseException):
                    self._errors[ours] = theirs
                    break
        self._request_error: type[BaseException] = module.RequestError
        self._extensions: dict[tuple[int, str], dict[str, bytes]] = {}

    def error(self, exc: BaseException, request: typing.Any) -> BaseException:
        """The host's exception for one of ours, carrying the host's request; ours is its cause."""
        cls = self._errors.get(type(exc))
        if cls is None:
            return exc
        if issubclass(cls, self._request_error):
            new = cls(str(exc), request=request)  # type: ignore[call-arg]
        else:
            new = cls(str(exc))
        new.__cause__ = exc
        return new

    def outgoing(self, request: typing.Any, retry: Retry | None) -> Outgoing:
        """A host request as it crosses into the engine (its body as sent: the host decodes)."""
        url = request.url
        headers = request.headers.raw
        # The Host header httpx adds is the URL's own: the engine derives it (and HTTP/2's
        # :authority) from the URL. A Host that differs (virtual hosting) is sent as given.
        if headers and headers[0][0].lower() == b"host" and headers[0][1] == url.netloc:
            del headers[0]
        try:
            body: typing.Any = request.content or None
        except self.request_not_read:
            body = request.stream
        t = request.extensions.get("timeout")
        if t is None:
            timeouts = DEFAULT_TIMEOUT_CONFIG._tuple
        else:
            timeouts = (t.get("connect"), t.get("read"), t.get("write"), t.get("pool"), t.get("total"))
        return outgoing(request.method, str(url), headers, body, timeouts, STREAM_OR_RAW, retry)

    def response(
        self, raw: tuple[int, str, typing.Any, typing.Any, int], request: typing.Any, asynchronous: bool
    ) -> typing.Any:
        status, version, raw_headers, body, _ = raw
        key = (status, version)
        extensions = self._extensions.get(key)
        if extensions is None:
            extensions = {"http_version": version.encode("ascii"), "reason_phrase": reason_bytes(status, None)}
            if len(self._extensions) < 1024:
                self._extensions[key] = extensions
        if type(body) is bytes:
            stream = self.byte_stream(body)
        elif asynchronous:
            stream = self.async_stream(body, request)
        else:
            stream = self.sync_stream(body, request)
        # A copy per response: hosts and users may add to a response's extensions.
        extensions = dict(extensions)
        if (reason := raw_headers.reason) is not None:  # the server's own, not the standard one
            extensions["reason_phrase"] = reason
        return self.response_class(status, headers=raw_headers.items(), stream=stream, extensions=extensions)


def _sync_stream_class(host: _Host, base: type) -> type:
    class EngineByteStream(base):  # type: ignore[misc]
        """A response body read from the engine as it arrives (the engine's backpressure holds)."""

        def __init__(self, body: BodyStream, request: typing.Any) -> None:
            self._body = body
            self._request = request

        def __iter__(self) -> typing.Iterator[bytes]:
            body = self._body
            try:
                while chunk := body.next():
                    yield chunk
            except RequestError as exc:
                raise host.error(exc, self._request) from exc

        def close(self) -> None:
            self._body.close()

    return EngineByteStream


def _async_stream_class(host: _Host, base: type) -> type:
    class AsyncEngineByteStream(base):  # type: ignore[misc]
        """An async response body read from the engine as it arrives, under any event loop."""

        def __init__(self, body: BodyStream, request: typing.Any) -> None:
            self._body = body
            self._request = request

        async def __aiter__(self) -> typing.AsyncIterator[bytes]:
            body = self._body
            try:
                while chunk := await _bridge.next_of(body):
                    yield chunk
            except RequestError as exc:
                raise host.error(exc, self._request) from exc

        async def aclose(self) -> None:
            self._body.close()

    return AsyncEngineByteStream


_hosts: dict[type, _Host] = {}


def _host_of(request: typing.Any) -> _Host:
    """The host library of `request`, from its class (cached per class)."""
    cls = type(request)
    host = _hosts.get(cls)
    if host is None:
        host = _hosts[cls] = _find_host(cls)
    return host


def _find_host(cls: type) -> _Host:
    for klass in cls.__mro__:
        module = sys.modules.get(klass.__module__.partition(".")[0])
        if module is not None and module.__name__ != __package__ and all(hasattr(module, n) for n in _HOST_NAMES):
            return _Host(module)
    raise TypeError(
        f"HttpxTransport serves httpx and httpx2 clients; a {cls.__module__}.{cls.__qualname__} is not a request of "
        "either (requestx's own clients need no transport: use requestx.HTTPTransport for settings)"
    )


class HttpxTransport(EngineSettings):
    """A transport for `httpx.Client` and `httpx2.Client`: `httpx2.Client(transport=requestx.HttpxTransport())`.
    Safe to share between threads, as the client is."""

    def handle_request(self, request: typing.Any) -> typing.Any:
        host = _host_of(request)
        try:
            raw = send_sync(self._core, host.outgoing(request, self._retry))
        except RequestError as exc:
            raise host.error(exc, request) from exc
        return host.response(raw, request, False)

    def close(self) -> None:
        self._core.close()

    def __enter__(self) -> HttpxTransport:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()


class AsyncHttpxTransport(EngineSettings):
    """A transport for `httpx.AsyncClient` and `httpx2.AsyncClient`, under asyncio, uvloop, trio or
    anyio: `httpx2.AsyncClient(transport=requestx.AsyncHttpxTransport(http2=True))`."""

    async def handle_async_request(self, request: typing.Any) -> typing.Any:
        host = _host_of(request)
        try:
            raw = await send_async(self._core, host.outgoing(request, self._retry))
        except RequestError as exc:
            raise host.error(exc, request) from exc
        return host.response(raw, request, True)

    async def aclose(self) -> None:
        self._core.close()

    async def __aenter__(self) -> AsyncHttpxTransport:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.aclose()
