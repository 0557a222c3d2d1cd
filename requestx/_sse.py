"""Server-sent events: `response.iter_sse()`, `connect_sse(client, "GET", url)`, parsed in Rust.

The parser (`SseDecoder`, src/text/sse.rs) follows the WHATWG EventSource rules and returns
`ServerSentEvent` objects (defined in Rust too); this module checks the response is really an event
stream and offers httpx-sse's `connect_sse`/`aconnect_sse`.
"""

from __future__ import annotations

import contextlib
import typing

from ._chunk_source import ChunkSource
from ._exceptions import TransportError
from ._requestx import ServerSentEvent, SseDecoder, native_aiter

if typing.TYPE_CHECKING:
    from ._client import AsyncClient, Client
    from ._models import Response
    from ._requestx import _NativeAsyncIterator as NativeAsyncIterator

__all__ = ["EventSource", "SSEError", "ServerSentEvent", "aconnect_sse", "connect_sse"]


class SSEError(TransportError):
    """The response is not an event stream (status or Content-Type)."""


def check_event_stream(response: Response) -> None:
    content_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != "text/event-stream":
        raise SSEError(
            f"Expected response Content-Type 'text/event-stream', got {content_type or 'none'!r}",
            request=response._request,
        )


def iter_sse(response: Response) -> typing.Iterator[ServerSentEvent]:
    check_event_stream(response)
    decoder = SseDecoder()
    for chunk in response.iter_bytes():
        yield from decoder.feed(chunk)
    response.extensions["last_event_id"] = decoder.last_event_id


def aiter_sse(response: Response) -> NativeAsyncIterator[ServerSentEvent]:
    # A native async iterator (src/text/aiter.rs): a parsed event costs no coroutine frame. The
    # Content-Type is checked when iteration starts, as an async generator would.
    decoder = SseDecoder()

    async def checked_chunks() -> typing.AsyncGenerator[bytes, None]:
        check_event_stream(response)
        async for chunk in response.aiter_bytes():
            yield chunk

    def ended() -> None:
        response.extensions["last_event_id"] = decoder.last_event_id

    return native_aiter(decoder, ChunkSource(checked_chunks(), ended))


class EventSource:
    """A streamed response read as events. `last_event_id` is where a reconnect should resume."""

    def __init__(self, response: Response) -> None:
        self.response = response
        self._last_event_id = ""
        self._events: NativeAsyncIterator[ServerSentEvent] | None = None

    @property
    def last_event_id(self) -> str:
        """The id of the last event handed out (by `iter_sse` or `aiter_sse`)."""
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
        for event in iter_sse(self.response):
            self._last_event_id = event.id
            yield event

    def aiter_sse(self) -> typing.AsyncIterator[ServerSentEvent]:
        self._events = aiter_sse(self.response)
        return self._events


def _sse_headers(kwargs: dict[str, typing.Any], last_event_id: str | None) -> None:
    headers = dict(kwargs.pop("headers", None) or {})
    headers.setdefault("Accept", "text/event-stream")
    headers.setdefault("Cache-Control", "no-store")
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    kwargs["headers"] = headers


@contextlib.contextmanager
def connect_sse(
    client: Client, method: str, url: str, *, last_event_id: str | None = None, **kwargs: typing.Any
) -> typing.Iterator[EventSource]:
    """`with connect_sse(client, "GET", url) as source: for event in source.iter_sse(): ...`"""
    _sse_headers(kwargs, last_event_id)
    with client.stream(method, url, **kwargs) as response:
        yield EventSource(response)


@contextlib.asynccontextmanager
async def aconnect_sse(
    client: AsyncClient, method: str, url: str, *, last_event_id: str | None = None, **kwargs: typing.Any
) -> typing.AsyncIterator[EventSource]:
    """`async with aconnect_sse(client, "GET", url) as source: async for event in source.aiter_sse(): ...`"""
    _sse_headers(kwargs, last_event_id)
    async with client.stream(method, url, **kwargs) as response:
        yield EventSource(response)
