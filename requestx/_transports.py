"""httpx-style transports: `MockTransport`, `WSGITransport`, `ASGITransport`, and the base classes.

The engine is the default transport and stays the fast path (no transport object is involved). A
client given `transport=` or `mounts=` hands matching requests to those objects instead; redirects,
auth flows and hooks run the same for every transport (`_client.py`).
"""

from __future__ import annotations

import inspect
import io
import itertools
import sys
import time
import typing

from . import _bridge
from ._config import DEFAULT_LIMITS, DEFAULT_TIMEOUT_CONFIG, Limits
from ._engine import VerifyTypes, make_core, request_outgoing, request_timeouts, send_async, send_sync
from ._headers import foreign_library
from ._models import Request, Response, adopt_response
from ._requestx import ClientCore, Retry

__all__ = [
    "ASGITransport",
    "AsyncBaseTransport",
    "AsyncHTTPTransport",
    "BaseTransport",
    "HTTPTransport",
    "MockTransport",
    "WSGITransport",
]


def checked_response(response: typing.Any) -> Response:
    """What a transport returned, as requestx's `Response`: an httpx or httpx2 response is adopted
    (see `adopt_response`); anything else not shaped as a response is a clear `TypeError`."""
    if type(response) is Response:
        return response
    return adopt_response(response)


def routed(transport: typing.Any) -> typing.Any:
    """A transport as the client calls it: an httpx or httpx2 transport (one deriving from their
    classes: `httpx.MockTransport`, `httpx.HTTPTransport`, respx's) is handed that library's
    `Request`, anything else requestx's own."""
    library = None if transport is None else foreign_library(transport)
    if library is None:
        return transport
    return ForeignTransport(transport, sys.modules[library])


class ForeignTransport:
    """An httpx or httpx2 transport behind a requestx client: requests go in as that library's
    `Request` (method, URL, headers in order, body bytes or stream, extensions); its responses
    come back through `checked_response`."""

    def __init__(self, transport: typing.Any, library: typing.Any) -> None:
        self.transport = transport
        self.library = library

    def _request(self, request: Request, is_async: bool) -> typing.Any:
        content: typing.Any = request._content
        if content is None:
            content = request.stream.__aiter__() if is_async else iter(request.stream)
        return self.library.Request(
            request.method,
            str(request.url),
            headers=request.headers.raw,
            content=content,
            extensions=request.extensions,
        )

    def handle_request(self, request: Request) -> typing.Any:
        return self.transport.handle_request(self._request(request, False))

    async def handle_async_request(self, request: Request) -> typing.Any:
        return await self.transport.handle_async_request(self._request(request, True))

    def close(self) -> None:
        if hasattr(self.transport, "close"):
            self.transport.close()

    async def aclose(self) -> None:
        if hasattr(self.transport, "aclose"):
            await self.transport.aclose()

    def __enter__(self) -> ForeignTransport:
        if hasattr(self.transport, "__enter__"):
            self.transport.__enter__()
        return self

    def __exit__(self, *args: object) -> None:
        if hasattr(self.transport, "__exit__"):
            self.transport.__exit__(*args)
        else:
            self.close()

    async def __aenter__(self) -> ForeignTransport:
        if hasattr(self.transport, "__aenter__"):
            await self.transport.__aenter__()
        return self

    async def __aexit__(self, *args: object) -> None:
        if hasattr(self.transport, "__aexit__"):
            await self.transport.__aexit__(*args)
        else:
            await self.aclose()

    def __repr__(self) -> str:
        return f"<ForeignTransport {self.transport!r}>"


class BaseTransport:
    """A sync transport: `handle_request(request) -> Response`."""

    def handle_request(self, request: Request) -> Response:
        raise NotImplementedError("The 'handle_request' method must be implemented.")

    def close(self) -> None:
        pass

    def __enter__(self) -> BaseTransport:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()


class AsyncBaseTransport:
    """An async transport: `await handle_async_request(request) -> Response`."""

    async def handle_async_request(self, request: Request) -> Response:
        raise NotImplementedError("The 'handle_async_request' method must be implemented.")

    async def aclose(self) -> None:
        pass

    async def __aenter__(self) -> AsyncBaseTransport:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.aclose()


class MockTransport(AsyncBaseTransport, BaseTransport):
    """Answers every request with `handler(request)` (a function, or a coroutine function under
    AsyncClient), without any network: for testing code that uses a client."""

    def __init__(self, handler: typing.Callable[[Request], typing.Any]) -> None:
        self.handler = handler

    def handle_request(self, request: Request) -> Response:
        request.read()  # as httpx's: the handler may read `request.content` of a streamed body
        response = self.handler(request)
        if inspect.isawaitable(response):
            raise TypeError("MockTransport's handler returned an awaitable: use it with AsyncClient")
        return typing.cast(Response, response)

    async def handle_async_request(self, request: Request) -> Response:
        await request.aread()
        response = self.handler(request)
        if inspect.isawaitable(response):
            response = await response
        return typing.cast(Response, response)


_Engine = typing.TypeVar("_Engine", bound="EngineSettings")


class EngineSettings:
    """The engine with its own settings and pool, as a transport object (for `mounts`, e.g. a
    proxy per scheme, and for httpx's clients: `HttpxTransport`). `retries` retries failed
    connections, as httpx's transport does."""

    def __init__(
        self,
        verify: VerifyTypes = True,
        cert: typing.Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: Limits = DEFAULT_LIMITS,
        proxy: typing.Any = None,
        retries: int = 0,
    ) -> None:
        proxy = getattr(proxy, "url", proxy)  # an httpx/httpx2 `Proxy`: its URL
        connect = DEFAULT_TIMEOUT_CONFIG.connect
        self._core = make_core(verify, cert, trust_env, http1, http2, limits, proxy, connect)
        # httpx's meaning: failed connections only (never a request the server may have seen).
        self._retry = (
            Retry(retries, status_forcelist=[], allowed_methods=[], respect_retry_after=False) if retries else None
        )

    @classmethod
    def _over(cls: type[_Engine], core: ClientCore, retry: Retry | None) -> _Engine:
        """The transport over a client's own engine (`Client._transport_for_url`)."""
        self = cls.__new__(cls)
        self._core, self._retry = core, retry
        return self


class HTTPTransport(EngineSettings, BaseTransport):
    def handle_request(self, request: Request) -> Response:
        started = time.perf_counter()
        timeouts = request_timeouts(request, DEFAULT_TIMEOUT_CONFIG)
        raw = send_sync(self._core, request_outgoing(request, timeouts, True, self._retry))
        return Response._from_engine(raw, request, "utf-8", started)

    def close(self) -> None:
        self._core.close()


class AsyncHTTPTransport(EngineSettings, AsyncBaseTransport):
    async def handle_async_request(self, request: Request) -> Response:
        started = time.perf_counter()
        timeouts = request_timeouts(request, DEFAULT_TIMEOUT_CONFIG)
        raw = await send_async(self._core, request_outgoing(request, timeouts, True, self._retry))
        return Response._from_engine(raw, request, "utf-8", started)

    async def aclose(self) -> None:
        self._core.close()


class WSGITransport(BaseTransport):
    """Calls a WSGI application in this thread, as httpx's WSGITransport does."""

    def __init__(
        self,
        app: typing.Any,
        raise_app_exceptions: bool = True,
        script_name: str = "",
        remote_addr: str = "127.0.0.1",
        wsgi_errors: typing.TextIO | None = None,
    ) -> None:
        self.app = app
        self.raise_app_exceptions = raise_app_exceptions
        self.script_name = script_name
        self.remote_addr = remote_addr
        self.wsgi_errors = wsgi_errors

    def handle_request(self, request: Request) -> Response:
        body = request.read()
        url = request.url
        environ: dict[str, typing.Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr if self.wsgi_errors is None else self.wsgi_errors,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": self.script_name,
            "PATH_INFO": url.path,
            "QUERY_STRING": url.query.decode("ascii"),
            "SERVER_NAME": url.host,
            "SERVER_PORT": str(url.port or {"http": 80, "https": 443}.get(url.scheme, 80)),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": self.remote_addr,
        }
        for key, value in request.headers.raw:
            name = key.decode("latin-1").upper().replace("-", "_")
            if name not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                name = "HTTP_" + name
            environ[name] = value.decode("latin-1")
        started: dict[str, typing.Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: typing.Any = None) -> None:
            started["status"], started["headers"], started["exc_info"] = status, headers, exc_info

        result = self.app(environ, start_response)
        try:
            content = b"".join(itertools.chain(result))
        finally:
            if hasattr(result, "close"):
                result.close()
        if started.get("exc_info") and self.raise_app_exceptions:
            raise started["exc_info"][1]
        return Response(int(started["status"].split(" ", 1)[0]), headers=started["headers"], content=content)


class ASGITransport(AsyncBaseTransport):
    """Runs an ASGI application in this event loop (asyncio or trio), as httpx's ASGITransport does.
    The body is collected whole before the response is returned: `receive()` reports the client's
    disconnect only once the app has sent its last body message (Starlette's StreamingResponse
    stops streaming when it sees one)."""

    def __init__(
        self,
        app: typing.Any,
        raise_app_exceptions: bool = True,
        root_path: str = "",
        client: tuple[str, int] = ("127.0.0.1", 123),
    ) -> None:
        self.app = app
        self.raise_app_exceptions = raise_app_exceptions
        self.root_path = root_path
        self.client = client

    async def handle_async_request(self, request: Request) -> Response:
        body = await request.aread()
        url = request.url
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "server": (url.host, url.port or {"http": 80, "https": 443}.get(url.scheme, 80)),
            "client": self.client,
            "root_path": self.root_path,
        }
        sent_request = False
        status: int | None = None
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        complete = False
        response_complete = _event()

        async def receive() -> dict[str, typing.Any]:
            nonlocal sent_request
            if not sent_request:
                sent_request = True
                return {"type": "http.request", "body": body, "more_body": False}
            await response_complete.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, typing.Any]) -> None:
            nonlocal status, headers, complete
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body" and not complete:
                chunks.append(message.get("body", b""))
                complete = not message.get("more_body", False)
                if complete:
                    response_complete.set()

        try:
            await self.app(scope, receive, send)
        except Exception:
            if self.raise_app_exceptions:
                raise
        finally:
            response_complete.set()
        if status is None:
            status, headers = 500, []
        return Response(status, headers=headers, content=b"".join(chunks))


class _Event(typing.Protocol):
    def set(self) -> None: ...

    async def wait(self) -> typing.Any: ...


def _event() -> _Event:
    """An event of the running runtime: trio's under trio (and anyio on trio), else asyncio's."""
    if _bridge.current_library() == "trio":
        import trio

        return trio.Event()
    import asyncio

    return asyncio.Event()
