"""Server-sent events, parsed in Rust: httpx2's `client.sse(url)` (`client_sse`, `async_client_sse`),
httpx-sse's `connect_sse(client, "GET", url)`/`aconnect_sse`, and `response.iter_sse()`.

The parser (`SseDecoder`, src/text/sse.rs) follows the WHATWG EventSource line rules and httpx2's
rule for which blocks are events (any with an `event`, `data`, `id` or `retry` field), bounds an
event's size as httpx2 does (`max_event_size`), and returns `ServerSentEvent` objects (defined in
Rust too); this module checks the response is really an event stream and opens the streams.
"""

from __future__ import annotations

import contextlib
import typing

from ._chunk_source import ChunkSource
from ._config import USE_CLIENT_DEFAULT, UseClientDefault
from ._exceptions import TransportError
from ._headers import Headers, HeaderTypes
from ._requestx import ServerSentEvent, SseDecoder, native_aiter

if typing.TYPE_CHECKING:
    from ._auth import AuthTypes
    from ._client import AsyncClient, Client
    from ._config import TimeoutTypes
    from ._content import RequestContent
    from ._models import Response
    from ._requestx import _NativeAsyncIterator as NativeAsyncIterator
    from ._urls import URL, QueryParamTypes

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE_BYTES",
    "EventSource",
    "SSEError",
    "ServerSentEvent",
    "aconnect_sse",
    "async_client_sse",
    "client_sse",
    "connect_sse",
]

#: httpx2's bound on one event (`client.sse(max_event_size=)`, `EventSource(max_event_size=)`).
DEFAULT_MAX_EVENT_SIZE_BYTES = 1024 * 1024


class SSEError(TransportError):
    """The response is not an event stream (its Content-Type), or an event is over `max_event_size`."""


def check_event_stream(response: Response) -> None:
    content_type = response.headers.get("content-type", "").partition(";")[0].strip()
    if content_type.lower() != "text/event-stream":
        raise SSEError(
            f"Expected response with content type 'text/event-stream', got {content_type!r}.",
            request=response._request,
        )


def iter_sse(response: Response, max_event_size: int | None = None) -> typing.Iterator[ServerSentEvent]:
    check_event_stream(response)
    decoder = SseDecoder(max_event_size, response._request)
    response._read_as_text()
    for chunk in response.iter_bytes():
        yield from decoder.feed(chunk)
        decoder.check()  # an event over the limit: raised after the events before it
    response.extensions["last_event_id"] = decoder.last_event_id


def aiter_sse(response: Response, max_event_size: int | None = None) -> NativeAsyncIterator[ServerSentEvent]:
    # A native async iterator (src/text/aiter.rs): a parsed event costs no coroutine frame. The
    # Content-Type is checked when iteration starts, as an async generator would. An event over the
    # limit is raised by the iterator, after the events before it.
    decoder = SseDecoder(max_event_size, response._request)

    async def checked_chunks() -> typing.AsyncGenerator[bytes, None]:
        check_event_stream(response)
        response._read_as_text()
        async for chunk in response.aiter_bytes():
            yield chunk

    def ended() -> None:
        response.extensions["last_event_id"] = decoder.last_event_id

    return native_aiter(decoder, ChunkSource(checked_chunks(), ended))


class EventSource:
    """A streamed response read as events: iterate it (httpx2: `for event in source`, `async for`)
    or call `iter_sse()`/`aiter_sse()` (httpx-sse). `last_event_id` is where a reconnect should
    resume. An event over `max_event_size` bytes (None: no bound) raises `SSEError`."""

    def __init__(self, response: Response, max_event_size: int | None = DEFAULT_MAX_EVENT_SIZE_BYTES) -> None:
        self._response = response
        self._max_event_size = max_event_size
        self._last_event_id = ""
        self._events: NativeAsyncIterator[ServerSentEvent] | None = None

    @property
    def response(self) -> Response:
        return self._response

    @property
    def last_event_id(self) -> str:
        """The id of the last event handed out (by iterating, `iter_sse` or `aiter_sse`)."""
        if self._events is not None:
            last = self._events.last()
            if last is not None:
                return last.id
        return self._last_event_id

    @last_event_id.setter
    def last_event_id(self, value: str) -> None:
        self._events = None
        self._last_event_id = value

    def iter_sse(self) -> typing.Iterator[ServerSentEvent]:
        self._events = None
        for event in iter_sse(self._response, self._max_event_size):
            self._last_event_id = event.id
            yield event

    def aiter_sse(self) -> typing.AsyncIterator[ServerSentEvent]:
        self._events = aiter_sse(self._response, self._max_event_size)
        return self._events

    def __iter__(self) -> typing.Iterator[ServerSentEvent]:
        return self.iter_sse()

    def __aiter__(self) -> typing.AsyncIterator[ServerSentEvent]:
        return self.aiter_sse()


def _sse_headers(headers: HeaderTypes | None) -> Headers:
    """Accept and Cache-Control for an event stream, unless `headers` sets them (httpx2's rule)."""
    merged = Headers({"Accept": "text/event-stream", "Cache-Control": "no-store"})
    if headers is not None:
        merged.update(headers)
    return merged


def _connect_kwargs(kwargs: dict[str, typing.Any], last_event_id: str | None) -> dict[str, typing.Any]:
    headers = _sse_headers(kwargs.pop("headers", None))
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    kwargs["headers"] = headers
    return kwargs


@contextlib.contextmanager
def connect_sse(
    client: Client,
    method: str,
    url: URL | str,
    *,
    last_event_id: str | None = None,
    max_event_size: int | None = None,
    **kwargs: typing.Any,
) -> typing.Iterator[EventSource]:
    """`with connect_sse(client, "GET", url) as source: for event in source.iter_sse(): ...`"""
    with client.stream(method, url, **_connect_kwargs(kwargs, last_event_id)) as response:
        yield EventSource(response, max_event_size)


@contextlib.asynccontextmanager
async def aconnect_sse(
    client: AsyncClient,
    method: str,
    url: URL | str,
    *,
    last_event_id: str | None = None,
    max_event_size: int | None = None,
    **kwargs: typing.Any,
) -> typing.AsyncIterator[EventSource]:
    """`async with aconnect_sse(client, "GET", url) as source: async for event in source.aiter_sse(): ...`"""
    async with client.stream(method, url, **_connect_kwargs(kwargs, last_event_id)) as response:
        yield EventSource(response, max_event_size)


@contextlib.contextmanager
def client_sse(
    client: Client,
    url: URL | str,
    *,
    method: str = "GET",
    content: RequestContent | None = None,
    data: typing.Any = None,
    files: typing.Any = None,
    json: typing.Any = None,
    params: QueryParamTypes | None = None,
    headers: HeaderTypes | None = None,
    cookies: typing.Any = None,
    auth: AuthTypes | UseClientDefault | None = USE_CLIENT_DEFAULT,
    follow_redirects: bool | UseClientDefault = USE_CLIENT_DEFAULT,
    timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
    extensions: dict[str, typing.Any] | None = None,
    max_event_size: int | None = DEFAULT_MAX_EVENT_SIZE_BYTES,
) -> typing.Iterator[EventSource]:
    """`Client.sse`, as httpx2's: `with client.sse(url) as source: for event in source: ...`

    Sends `Accept: text/event-stream` and `Cache-Control: no-store` (unless `headers` sets them);
    the Content-Type is checked when iteration starts (`SSEError`), the status code is not.
    """
    with client.stream(
        method,
        url,
        content=content,
        data=data,
        files=files,
        json=json,
        params=params,
        headers=_sse_headers(headers),
        cookies=cookies,
        auth=auth,
        follow_redirects=follow_redirects,
        timeout=timeout,
        extensions=extensions,
    ) as response:
        yield EventSource(response, max_event_size=max_event_size)


@contextlib.asynccontextmanager
async def async_client_sse(
    client: AsyncClient,
    url: URL | str,
    *,
    method: str = "GET",
    content: RequestContent | None = None,
    data: typing.Any = None,
    files: typing.Any = None,
    json: typing.Any = None,
    params: QueryParamTypes | None = None,
    headers: HeaderTypes | None = None,
    cookies: typing.Any = None,
    auth: AuthTypes | UseClientDefault | None = USE_CLIENT_DEFAULT,
    follow_redirects: bool | UseClientDefault = USE_CLIENT_DEFAULT,
    timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
    extensions: dict[str, typing.Any] | None = None,
    max_event_size: int | None = DEFAULT_MAX_EVENT_SIZE_BYTES,
) -> typing.AsyncIterator[EventSource]:
    """`AsyncClient.sse`, as httpx2's: `async with client.sse(url) as source: async for event in source: ...`"""
    async with client.stream(
        method,
        url,
        content=content,
        data=data,
        files=files,
        json=json,
        params=params,
        headers=_sse_headers(headers),
        cookies=cookies,
        auth=auth,
        follow_redirects=follow_redirects,
        timeout=timeout,
        extensions=extensions,
    ) as response:
        yield EventSource(response, max_event_size=max_event_size)
