"""`Request` and `Response`, shaped as httpx's. Response bodies come from the engine as bytes or as
a `BodyStream` whose chunks are read without a thread hop when already buffered."""

from __future__ import annotations

import codecs
import datetime
import functools
import json as jsonlib
import time
import typing

from . import _bridge
from ._chunk_source import ChunkSource
from ._config import Limits, decompressed_cap
from ._content import RequestContent, encode_request, encode_response
from ._cookies import Cookies
from ._exceptions import (
    DecodingError,
    HTTPStatusError,
    RequestError,
    RequestNotRead,
    ResponseNotRead,
    StreamClosed,
    StreamConsumed,
)
from ._headers import Headers, HeaderTypes
from ._multipart import MultipartStream, boundary_of
from ._requestx import BodyStream, Decoder, LineDecoder, RawHeaders, json_loads, native_aiter
from ._sse import aiter_sse, iter_sse
from ._status_codes import REDIRECT_CODES, codes, reason_bytes
from ._streams import AsyncByteStream, ByteStream, SyncByteStream, UnattachedStream
from ._urls import URL, QueryParamTypes

__all__ = [
    "AsyncByteStream",
    "ByteStream",
    "Request",
    "RequestParts",
    "Response",
    "SyncByteStream",
    "NO_BODY",
    "adopt_request",
    "adopt_response",
    "prepare_headers",
]

#: A request not built yet: (method, URL or its string, header list, extensions). The hot paths
#: keep these and build the `Request` only if `response.request` is asked for.
RequestParts = tuple[str, typing.Union[URL, str], list[tuple[bytes, bytes]], dict[str, typing.Any]]


_HOST_PENDING: typing.Any = object()  # the Host header httpx shows is added when `headers` is first read
NO_BODY = ByteStream(b"")
_BODY_METHODS = ("POST", "PUT", "PATCH")
_TEXT_BATCH = 256 << 10  # the most bytes of a streamed body the text iterators take at once


def prepare_headers(method: str, headers: Headers, body_headers: typing.Mapping[str, str]) -> None:
    """httpx's request headers (less Host, see `Request.headers`): `body_headers` (the body's
    length and type) where the caller set none, and `Content-Length: 0` for a POST, PUT or PATCH
    without a body."""
    if body_headers:
        extra = []
        for key, value in body_headers.items():
            if key == "Transfer-Encoding" and "content-length" in headers:
                continue  # a Content-Length given explicitly wins over chunked transfer
            if key.lower() not in headers:
                extra.append((key.encode("ascii"), value.encode("latin-1")))
        if extra:
            headers._list = [*headers._list, *extra]
    elif method in _BODY_METHODS and "content-length" not in headers and "transfer-encoding" not in headers:
        headers._list = [(b"Content-Length", b"0"), *headers._list]


class Request:
    """An HTTP request: method, URL, headers and a body (`content` once read, `stream` always)."""

    __slots__ = ("_content", "_headers", "_host", "extensions", "method", "stream", "url")

    def __init__(
        self,
        method: str | bytes,
        url: URL | str,
        *,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        cookies: typing.Any = None,
        content: RequestContent | None = None,
        data: typing.Any = None,
        files: typing.Any = None,
        json: typing.Any = None,
        stream: typing.Any = None,
        extensions: dict[str, typing.Any] | None = None,
    ) -> None:
        self.method = method.decode("ascii").upper() if isinstance(method, bytes) else method.upper()
        self.url = URL(url) if params is None else URL(url, params=params)
        self._headers = Headers(headers)
        self._host = _HOST_PENDING
        self.extensions = {} if extensions is None else extensions
        if cookies:
            Cookies(cookies).set_cookie_header(self)
        if stream is None:
            boundary = boundary_of(self._headers.get("content-type"))
            body_headers, stream = encode_request(content, data, files, json, boundary)
            prepare_headers(self.method, self._headers, body_headers)
        self.stream = stream
        self._content = stream._stream if type(stream) is ByteStream else None

    @classmethod
    def _build(
        cls,
        method: str,
        url: URL,
        headers: Headers,
        stream: typing.Any,
        extensions: dict[str, typing.Any],
    ) -> Request:
        """The client's path: parts already merged and encoded, adopted without copies."""
        self = cls.__new__(cls)
        self.method = method
        self.url = url
        self._headers = headers
        self._host = _HOST_PENDING
        self.stream = stream
        self._content = stream._stream if type(stream) is ByteStream else None
        self.extensions = extensions
        return self

    @classmethod
    def _redirected(
        cls, method: str, url: URL, headers: Headers, stream: typing.Any, extensions: dict[str, typing.Any]
    ) -> Request:
        """The request that follows a redirect: a Host equal to the new URL's stays the engine's to send."""
        self = cls._build(method, url, headers, stream, extensions)
        first = headers._list[0] if headers._list else None
        if first is not None and first[0].lower() == b"host" and first[1] == url.netloc:
            self._host = first
        return self

    @classmethod
    def _from_parts(cls, parts: RequestParts) -> Request:
        """The request of a plain call, built from its parts only when asked for."""
        method, url, headers, extensions = parts
        url = url if type(url) is URL else URL(url)
        return cls._build(method, url, Headers._from_raw(headers), NO_BODY, extensions)

    @property
    def headers(self) -> Headers:
        """The headers, with the `Host` the engine sends first (as httpx shows them)."""
        if self._host is _HOST_PENDING:
            self._host = None
            headers = self._headers
            if "host" not in headers:
                netloc = self.url.netloc
                if netloc:
                    self._host = (b"Host", netloc)
                    headers._list = [self._host, *headers._list]
        return self._headers

    @headers.setter
    def headers(self, value: HeaderTypes) -> None:
        self._headers = value if isinstance(value, Headers) else Headers(value)
        self._host = None

    def _wire_headers(self) -> list[tuple[bytes, bytes]]:
        """The headers the engine sends: the Host shown in `headers` is the engine's own to add
        (it sends it as `:authority` on HTTP/2), so it is left out unless it was changed."""
        headers = self._headers._list
        if self._host is not None and self._host is not _HOST_PENDING and headers and headers[0] is self._host:
            return headers[1:]
        return headers

    def _body(self) -> typing.Any:
        """The body as the engine takes it: bytes when known (None for none), else the stream."""
        content = self._content
        if content is not None:
            return content or None
        stream = self.stream
        if type(stream) is MultipartStream and stream.in_memory:
            return b"".join(stream)
        return stream

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise RequestNotRead()
        return self._content

    def read(self) -> bytes:
        """The body; a streamed one is read into memory (and sent as those bytes from then on)."""
        if self._content is None:
            if not isinstance(self.stream, typing.Iterable):
                raise RuntimeError("Attempted to read an async request body synchronously: use aread().")
            self._content = b"".join(self.stream)
            self.stream = ByteStream(self._content)
        return self._content

    async def aread(self) -> bytes:
        if self._content is None:
            if not isinstance(self.stream, typing.AsyncIterable):
                raise RuntimeError("Attempted to read a sync request body asynchronously: use read().")
            self._content = b"".join([chunk async for chunk in self.stream])
            self.stream = ByteStream(self._content)
        return self._content

    def __repr__(self) -> str:
        return f"<Request({self.method!r}, {str(self.url)!r})>"

    def __getstate__(self) -> dict[str, typing.Any]:
        # As httpx: the body travels only once read; the extensions (a timeout, hooks) never do.
        return {"method": self.method, "url": self.url, "headers": self.headers, "content": self._content}

    def __setstate__(self, state: dict[str, typing.Any]) -> None:
        self.method = state["method"]
        self.url = state["url"]
        self._headers = state["headers"]
        self._host = None
        self._content = state["content"]
        self.stream = UnattachedStream() if self._content is None else ByteStream(self._content)
        self.extensions = {}


def adopt_request(request: typing.Any) -> Request:
    """requestx's `Request` for an httpx or httpx2 one (`client.send(httpx.Request(...))`): its
    method, URL, headers in order, and its body as bytes when read (else its stream)."""
    if isinstance(request, Request):
        return request
    missing = [name for name in ("method", "url", "headers") if not _has(request, name)]
    if missing:
        raise TypeError(f"expected a Request, got {type(request).__name__} without {', '.join(missing)}")
    url = URL(request.url)
    headers = Headers(request.headers)
    host = headers.get("host")
    if host is not None and host == url.netloc.decode("ascii", "replace"):
        del headers["host"]  # the one httpx adds from the URL: the engine adds its own (redirects too)
    stream: typing.Any
    try:
        stream = ByteStream(bytes(request.content))
    except Exception:  # the library's RequestNotRead: a stream not read yet
        stream = request.stream
    extensions = dict(getattr(request, "extensions", None) or {})
    method = request.method
    return Request._build(
        method.decode("ascii").upper() if isinstance(method, bytes) else str(method).upper(),
        url,
        headers,
        stream,
        extensions,
    )


def _has(obj: object, name: str) -> bool:
    """Whether `obj` has attribute `name`, without evaluating a property (that may raise)."""
    return hasattr(type(obj), name) or name in getattr(obj, "__dict__", ())


class _ResponseStream(AsyncByteStream, SyncByteStream):
    """`response.stream`: the raw body (Content-Encoding not undone) of a response not read yet;
    once read, a buffered body yields its content and a streamed one nothing, as in httpx."""

    __slots__ = ("_response",)

    def __init__(self, response: Response) -> None:
        self._response = response

    def __iter__(self) -> typing.Iterator[bytes]:
        response = self._response
        if response._content is not None:
            if response._stream is None and response._content:
                yield response._content
            return
        yield from response.iter_raw()

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        response = self._response
        if response._content is not None:
            if response._stream is None and response._content:
                yield response._content
            return
        async for chunk in response.aiter_raw():
            yield chunk

    def close(self) -> None:
        self._response.close()

    async def aclose(self) -> None:
        await self._response.aclose()


class _PythonBody:
    """A response body from Python (another library's response, `Response(content=iterator)`,
    `Response(stream=...)`): the interface of the engine's `BodyStream` for sync reads, and
    `anext()` for async ones. A stream of requestx's that is only sync (or only async) refuses
    the other kind of read, as httpx's do; other objects are read either way."""

    __slots__ = ("_async_only", "_chunks", "_closed", "_source", "_sync_only")

    def __init__(self, source: typing.Any) -> None:
        if isinstance(source, (bytes, bytearray, memoryview)):
            source = ByteStream(bytes(source))
        self._source = source
        self._chunks: typing.Any = None
        self._closed = False
        is_sync, is_async = isinstance(source, SyncByteStream), isinstance(source, AsyncByteStream)
        self._sync_only = is_sync and not is_async
        self._async_only = is_async and not is_sync

    @property
    def source(self) -> typing.Any:
        return self._source

    def next(self) -> bytes:
        """The next non-empty chunk, or b"" at the end."""
        if self._chunks is None:
            if self._async_only or not hasattr(self._source, "__iter__"):
                raise RuntimeError("Attempted to call a sync iterator on an async stream.")
            self._chunks = iter(self._source)
        for chunk in self._chunks:
            if chunk:
                return bytes(chunk)
        return b""

    async def anext(self) -> bytes:
        if self._chunks is None:
            source = self._source
            if self._sync_only:
                raise RuntimeError("Attempted to call an async iterator on an sync stream.")
            self._chunks = source.__aiter__() if hasattr(source, "__aiter__") else iter(source)
        chunks = self._chunks
        if hasattr(chunks, "__anext__"):
            while True:
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    return b""
                if chunk:
                    return bytes(chunk)
        for chunk in chunks:  # a sync source read from the event loop
            if chunk:
                return bytes(chunk)
        return b""

    def close(self) -> None:
        if self._async_only:
            raise RuntimeError("Attempted to call an sync close on an async stream.")
        self._release()

    def _release(self) -> None:
        if not self._closed and hasattr(self._source, "close"):
            self._closed = True
            self._source.close()

    async def aclose(self) -> None:
        if self._sync_only:
            raise RuntimeError("Attempted to call an async close on an sync stream.")
        if self._closed:
            return
        if hasattr(self._source, "aclose"):
            self._closed = True
            await self._source.aclose()
        else:
            self._release()


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            value = value.strip().strip("'\"")
            try:
                codecs.lookup(value)
            except LookupError:
                return None
            return value
    return None


class _StatusRange:
    """`response.is_success` and its kin: whether the status code lies in [low, high]."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def __get__(self, response: Response | None, owner: type | None = None) -> bool:
        return response is not None and self.low <= response.status_code <= self.high


class Response:
    """An HTTP response. `content`, `text` and `json()` need the body read (always so unless streamed)."""

    # NOTE: no __slots__: class-level defaults let the engine's hot path set only the six
    # attributes that differ per response (0.5 -> 0.3 µs per response), the rest stay shared.
    http_version = "HTTP/1.1"
    default_encoding: str | typing.Callable[[bytes], str] = "utf-8"
    next_request: Request | None = None
    is_closed = True
    is_stream_consumed = True
    _headers: Headers | None = None
    _raw_headers: typing.Any = None
    _request: Request | None = None
    _request_parts: RequestParts | None = None
    _content: bytes | None = None
    _stream: BodyStream | _PythonBody | None = None
    _encoding: str | None = None
    _text: str | None = None
    _elapsed: float | None = None
    _started = 0.0
    _on_close: typing.Any = None
    _history: list[Response] | None = None
    _extensions: dict[str, typing.Any] | None = None
    _num_bytes_downloaded: int | None = None
    #: The client's `Limits` when they bound decoding otherwise than the defaults (None: defaults).
    _limits: Limits | None = None
    #: How many times the engine retried the request before this response (see `Retry`).
    retries = 0

    def __init__(
        self,
        status_code: int,
        *,
        headers: HeaderTypes | None = None,
        content: bytes | str | None = None,
        text: str | None = None,
        html: str | None = None,
        json: typing.Any = None,
        stream: typing.Any = None,
        request: Request | None = None,
        extensions: dict[str, typing.Any] | None = None,
        history: list[Response] | None = None,
        default_encoding: str | typing.Callable[[bytes], str] = "utf-8",
    ) -> None:
        self.status_code = status_code
        self._headers = Headers(headers)
        self._request = request
        self._history = [] if history is None else list(history)
        self.default_encoding = default_encoding
        self._extensions = {} if extensions is None else extensions
        given = stream is not None  # `stream=`: a raw body, never read here (as httpx)
        if not given:
            body_headers, stream = encode_response(content, text, html, json)
            prepare_headers("", self._headers, body_headers)
        if given or type(stream) is not ByteStream:
            # A body to stream (Content-Encoding undone as it is read), not drained here.
            self._stream = _PythonBody(stream)
            self._num_bytes_downloaded = 0
            self.is_closed = False
            self.is_stream_consumed = False
            return
        body = stream._stream
        encoding = self._headers.get("content-encoding")
        if encoding and body:
            try:
                body = b"".join(_decoded([body], Decoder(encoding, decompressed_cap(None, whole=True))))
            except DecodingError as exc:
                raise self._with_request(exc) from None
        self._content = body

    @classmethod
    def _from_engine(
        cls,
        raw: tuple[int, str, RawHeaders, typing.Any, int],
        request: Request | RequestParts,
        default_encoding: str | typing.Callable[[bytes], str],
        started: float,
    ) -> Response:
        """The hot path: adopts the engine's tuple without copying or re-validating anything.
        `request` may be the parts of a request not built yet: `.request` builds it on first use."""
        self = cls.__new__(cls)
        self.status_code, self.http_version, self._raw_headers, body, retries = raw
        if retries:
            self.retries = retries
        if isinstance(request, Request):
            self._request = request
        else:
            self._request_parts = request
        if default_encoding != "utf-8":
            self.default_encoding = default_encoding
        self._started = started
        if type(body) is bytes:
            self._elapsed = time.perf_counter() - started
            self._content = body
        else:
            self._stream = body
            self._num_bytes_downloaded = 0
            self.is_closed = False
            self.is_stream_consumed = False
        return self

    @property
    def stream(self) -> SyncByteStream | AsyncByteStream:
        """The raw body as httpx's transports hand it over: iterable and async-iterable, with
        `close()`/`aclose()`. A buffered body yields its content, which is already decoded; a
        body given as a stream (`Response(content=iterator)`) is that stream."""
        if type(self._stream) is _PythonBody:
            given: SyncByteStream | AsyncByteStream = self._stream.source
            return given
        return _ResponseStream(self)

    @property
    def history(self) -> list[Response]:
        if self._history is None:
            self._history = []
        return self._history

    @history.setter
    def history(self, value: list[Response]) -> None:
        self._history = value

    @property
    def extensions(self) -> dict[str, typing.Any]:
        if self._extensions is None:
            self._extensions = {
                "http_version": self.http_version.encode("ascii"),
                "reason_phrase": reason_bytes(self.status_code, self._wire_reason()),
            }
        return self._extensions

    @extensions.setter
    def extensions(self, value: dict[str, typing.Any]) -> None:
        self._extensions = value

    # --- metadata -------------------------------------------------------------------------------

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers._from_raw(self._raw_headers.items())
        return self._headers

    @headers.setter
    def headers(self, value: HeaderTypes) -> None:
        self._headers = Headers(value)

    @property
    def request(self) -> Request:
        request = self._request
        if request is None:
            if self._request_parts is None:
                raise RuntimeError("The request instance has not been set on this response.")
            request = self._request = Request._from_parts(self._request_parts)
        return request

    @request.setter
    def request(self, value: Request) -> None:
        self._request = value

    @property
    def url(self) -> URL:
        return self.request.url

    @property
    def reason_phrase(self) -> str:
        # As httpx: the extensions' (a transport's, or the caller's), else the server's own text,
        # else the standard phrase.
        extensions = self._extensions
        reason = extensions.get("reason_phrase") if extensions is not None else self._wire_reason()
        if reason is None:
            return codes.get_reason_phrase(self.status_code)
        return typing.cast(bytes, reason).decode("ascii", errors="ignore")

    def _wire_reason(self) -> bytes | None:
        """The status line's reason phrase when the server's is not the standard one."""
        raw = self._raw_headers
        return None if raw is None else typing.cast("bytes | None", raw.reason)

    @property
    def elapsed(self) -> datetime.timedelta:
        """Time from sending the request until the body was read or the response closed."""
        if self._elapsed is None:
            raise RuntimeError("'.elapsed' may only be accessed after the response has been read or closed.")
        return datetime.timedelta(seconds=self._elapsed)

    @elapsed.setter
    def elapsed(self, value: datetime.timedelta) -> None:
        self._elapsed = value.total_seconds()

    @property
    def num_bytes_downloaded(self) -> int:
        if self._num_bytes_downloaded is None:
            return len(self._content or b"")
        return self._num_bytes_downloaded

    is_informational = _StatusRange(100, 199)
    is_success = _StatusRange(200, 299)
    #: Any 3xx status, as httpx2 defines it (not all of them redirect: see `has_redirect_location`).
    is_redirect = _StatusRange(300, 399)

    @property
    def has_redirect_location(self) -> bool:
        """A redirect status (301, 302, 303, 307, 308) with a Location to follow."""
        return self.status_code in REDIRECT_CODES and "location" in self.headers

    is_client_error = _StatusRange(400, 499)
    is_server_error = _StatusRange(500, 599)
    is_error = _StatusRange(400, 599)

    def raise_for_status(self) -> Response:
        """Raises `HTTPStatusError` for 4xx/5xx (and unfollowed 1xx/3xx), else returns self."""
        if self._request is None and self._request_parts is None:
            raise RuntimeError(
                "Cannot call `raise_for_status` as the request instance has not been set on this response."
            )
        request = self.request
        if self.is_success:
            return self
        if self.has_redirect_location:
            message = (
                "{error_type} '{0.status_code} {0.reason_phrase}' for url '{0.url}'\n"
                "Redirect location: '{0.headers[location]}'\n"
            )
        else:
            message = "{error_type} '{0.status_code} {0.reason_phrase}' for url '{0.url}'\n"
        message += (
            "For more information check: https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/{0.status_code}"
        )
        error_type = {1: "Informational response", 3: "Redirect response", 4: "Client error", 5: "Server error"}.get(
            self.status_code // 100, "Invalid status code"
        )
        raise HTTPStatusError(message.format(self, error_type=error_type), request=request, response=self)

    # --- body -----------------------------------------------------------------------------------

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise ResponseNotRead()
        return self._content

    @property
    def charset_encoding(self) -> str | None:
        if self._headers is None and self._raw_headers is not None:
            raw = self._raw_headers.get("content-type")
            return _charset(None if raw is None else raw.decode("latin-1"))
        return _charset(self.headers.get("content-type"))

    @property
    def encoding(self) -> str | None:
        """The charset of Content-Type, else `default_encoding` (a name, or a function of the body)."""
        if self._encoding is None:
            encoding = self.charset_encoding
            if encoding is None:
                default = self.default_encoding
                encoding = default if isinstance(default, str) else default(self.content)
            self._encoding = encoding
        return self._encoding

    @encoding.setter
    def encoding(self, value: str) -> None:
        if self._text is not None:
            raise ValueError("Setting encoding after `text` has been accessed is not allowed.")
        self._encoding = value

    @property
    def text(self) -> str:
        if self._text is None:
            content = self.content
            self._text = content.decode(self.encoding or "utf-8", errors="replace") if content else ""
        return self._text

    def json(self, **kwargs: typing.Any) -> typing.Any:
        """Decodes the body as JSON; UTF-8 bodies are decoded by the engine straight to objects."""
        content = self.content
        if not kwargs:
            try:
                return json_loads(content)
            except ValueError:
                pass  # BOMs, UTF-16/32, NaN: let the standard library decide, with its own error
        return jsonlib.loads(content, **kwargs)

    @property
    def cookies(self) -> Cookies:
        """The cookies this response set (its Set-Cookie headers, scoped by the request URL)."""
        cookies = Cookies()
        cookies.extract_cookies(self)
        return cookies

    @property
    def links(self) -> dict[str | None, dict[str, str]]:
        header = self.headers.get("link")
        if not header:
            return {}
        links: dict[str | None, dict[str, str]] = {}
        for value in header.split(","):
            url, _, params = value.partition(";")
            link = {"url": url.strip(" <>'\"")}
            for param in params.split(";"):
                key, _, val = param.partition("=")
                if key.strip():
                    link[key.strip(" '\"")] = val.strip(" '\"")
            links[link.get("rel") or link.get("url")] = link
        return links

    # --- streaming ------------------------------------------------------------------------------

    def _begin_stream(self) -> BodyStream | _PythonBody:
        if self.is_stream_consumed:
            raise StreamConsumed()
        if self.is_closed or self._stream is None:
            raise StreamClosed()
        self.is_stream_consumed = True
        return self._stream

    def read(self) -> bytes:
        if self._content is None:
            self._content = b"".join(self._iter_decoded(None, whole=True))
        return self._content

    async def aread(self) -> bytes:
        if self._content is None:
            self._content = b"".join([chunk async for chunk in self._aiter_decoded(None, whole=True)])
        return self._content

    def _decoder(self, whole: bool) -> Decoder | None:
        """The Content-Encoding decoder of a streamed body (buffered bodies arrive decoded),
        within the client's limits: a body read whole is capped by default, an iterated one
        comes in steps of about 1 MiB (src/body/decode.rs) and is capped only when asked."""
        if self._stream is None:
            return None
        encoding = self.headers.get("content-encoding")
        if not encoding:
            return None
        limits = self._limits
        return Decoder(
            encoding, decompressed_cap(limits, whole), None if limits is None else limits.max_decompression_ratio
        )

    def _with_request(self, exc: RequestError) -> RequestError:
        """`exc` with this response's request: httpx sets it on whatever fails while a body is read."""
        if exc._request is None:
            exc._request = self._request
        return exc

    def iter_bytes(self, chunk_size: int | None = None) -> typing.Iterator[bytes]:
        """The body with Content-Encoding undone (gzip, deflate, br, zstd, stacked), in pieces
        of about 1 MiB at most whatever the compression ratio (unless `chunk_size` asks more)."""
        return self._iter_decoded(chunk_size, whole=False)

    def _iter_decoded(self, chunk_size: int | None, whole: bool) -> typing.Iterator[bytes]:
        if self._content is not None:
            yield from _rechunk([self._content], chunk_size)
            return
        decoder = self._decoder(whole)
        if decoder is None:
            yield from self.iter_raw(chunk_size)
            return
        try:
            yield from _rechunk(_decoded(self.iter_raw(), decoder), chunk_size)
        except DecodingError as exc:
            raise self._with_request(exc) from None

    def aiter_bytes(self, chunk_size: int | None = None) -> typing.AsyncIterator[bytes]:
        return self._aiter_decoded(chunk_size, whole=False)

    async def _aiter_decoded(self, chunk_size: int | None, whole: bool) -> typing.AsyncIterator[bytes]:
        if self._content is not None:
            for piece in _rechunk([self._content], chunk_size):
                yield piece
            return
        decoder = self._decoder(whole)
        if decoder is None:
            async for chunk in self.aiter_raw(chunk_size):
                yield chunk
            return
        cut = _Rechunker(chunk_size)
        try:
            async for raw in self.aiter_raw():
                for step in _steps(decoder, raw):
                    for piece in cut.feed(step):
                        yield piece
            for step in _steps(decoder, None):
                for piece in cut.feed(step):
                    yield piece
        except DecodingError as exc:
            raise self._with_request(exc) from None
        for piece in cut.flush():
            yield piece

    def iter_raw(self, chunk_size: int | None = None) -> typing.Iterator[bytes]:
        """The body as sent (Content-Encoding not undone), chunks as they arrive."""
        if self._content is not None and self._stream is None:
            yield from _rechunk([self._content], chunk_size)
            return
        stream = self._begin_stream()
        try:
            yield from _rechunk(self._counted(iter(stream.next, b"")), chunk_size)
        except RequestError as exc:
            self._with_request(exc)
            raise
        finally:
            self.close()

    def _counted(self, chunks: typing.Iterator[bytes]) -> typing.Iterator[bytes]:
        for chunk in chunks:
            self._num_bytes_downloaded = (self._num_bytes_downloaded or 0) + len(chunk)
            yield chunk

    def _read_as_text(self) -> None:
        """The text iterators take the body in batches of `_TEXT_BATCH` bytes, which stay in cache while
        they are decoded and split (see `BodyStream.set_batch`)."""
        if type(self._stream) is BodyStream:
            self._stream.set_batch(_TEXT_BATCH)

    def _text_decoder(self) -> typing.Callable[[bytes, bool], str]:
        """Decodes the body's chunks into text as they come (`iter_text`, `aiter_text`)."""
        self._read_as_text()
        return codecs.getincrementaldecoder(self.encoding or "utf-8")(errors="replace").decode

    def iter_text(self, chunk_size: int | None = None) -> typing.Iterator[str]:
        decode = self._text_decoder()
        for chunk in self.iter_bytes(chunk_size):
            if text := decode(chunk, False):
                yield text
        if text := decode(b"", True):
            yield text

    def _line_decoder(self) -> LineDecoder | _TextLines:
        self._read_as_text()
        # UTF-8 (the default, and what SSE mandates) is decoded and split in Rust in one pass.
        encoding = self.encoding or "utf-8"
        if codecs.lookup(encoding).name == "utf-8":
            return LineDecoder()
        return _TextLines(encoding)

    def iter_lines(self) -> typing.Iterator[str]:
        lines = self._line_decoder()
        for chunk in self.iter_bytes():
            yield from lines.feed(chunk)
        yield from lines.flush()

    async def aiter_raw(self, chunk_size: int | None = None) -> typing.AsyncIterator[bytes]:
        if self._content is not None and self._stream is None:
            for whole in _rechunk([self._content], chunk_size):
                yield whole
            return
        stream = self._begin_stream()
        anext_chunk = stream.anext if isinstance(stream, _PythonBody) else functools.partial(_bridge.next_of, stream)
        cut = _Rechunker(chunk_size)
        try:
            while chunk := await anext_chunk():
                self._num_bytes_downloaded = (self._num_bytes_downloaded or 0) + len(chunk)
                for piece in cut.feed(chunk):
                    yield piece
            for piece in cut.flush():
                yield piece
        except RequestError as exc:
            self._with_request(exc)
            raise
        finally:
            await self.aclose()

    async def aiter_text(self, chunk_size: int | None = None) -> typing.AsyncIterator[str]:
        decode = self._text_decoder()
        async for chunk in self.aiter_bytes(chunk_size):
            if text := decode(chunk, False):
                yield text
        if text := decode(b"", True):
            yield text

    def aiter_lines(self) -> typing.AsyncIterator[str]:
        lines = self._line_decoder()
        if isinstance(lines, LineDecoder):
            # A native iterator: a ready line costs no coroutine frame (see src/text/aiter.rs).
            chunks = typing.cast(typing.AsyncGenerator[bytes, None], self.aiter_bytes())
            return native_aiter(lines, ChunkSource(chunks))
        return self._aiter_decoded_lines(lines)

    async def _aiter_decoded_lines(self, lines: _TextLines) -> typing.AsyncIterator[str]:
        async for chunk in self.aiter_bytes():
            for line in lines.feed(chunk):
                yield line
        for line in lines.flush():
            yield line

    def iter_sse(self) -> typing.Iterator[typing.Any]:
        """The body as server-sent events (`ServerSentEvent`), parsed in Rust as they arrive."""
        return iter_sse(self)

    def aiter_sse(self) -> typing.AsyncIterator[typing.Any]:
        return aiter_sse(self)

    def close(self) -> None:
        """Stops the body transfer (its connection is closed if the body was not fully read)."""
        if not self.is_closed:
            if self._stream is not None:
                self._stream.close()  # an async-only body refuses (before the response counts as closed)
            self._closed()

    async def aclose(self) -> None:
        if not self.is_closed:
            stream = self._stream
            if type(stream) is _PythonBody:
                await stream.aclose()
            elif stream is not None:
                stream.close()
            self._closed()

    def _closed(self) -> None:
        self.is_closed = True
        self._set_elapsed()
        if self._on_close is not None:
            self._on_close(self)

    def _set_elapsed(self) -> None:
        if self._elapsed is None and self._started:
            self._elapsed = time.perf_counter() - self._started

    def __repr__(self) -> str:
        return f"<Response [{self.status_code} {self.reason_phrase}]>"

    def __getstate__(self) -> dict[str, typing.Any]:
        # As httpx: the body travels only once read, the extensions never; the copy is closed.
        state = dict(self.__dict__)
        for name in ("_stream", "_extensions", "_on_close", "_raw_headers", "_request_parts"):
            state.pop(name, None)
        state["_headers"] = self.headers
        if self._request is not None or self._request_parts is not None:
            state["_request"] = self.request
        return state

    def __setstate__(self, state: dict[str, typing.Any]) -> None:
        self.__dict__.update(state)
        self.is_closed = True
        self._extensions = {}

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    def __del__(self) -> None:
        stream = getattr(self, "_stream", None)
        if stream is not None and not getattr(self, "is_closed", True):
            stream._release() if type(stream) is _PythonBody else stream.close()


def adopt_response(response: typing.Any) -> Response:
    """requestx's `Response` for what a transport returned: itself, or an httpx/httpx2 response
    (status, headers in order, extensions, HTTP version, body). A body not read yet stays a raw
    stream, decoded as it is read; a body already read is adopted as its (decoded) content."""
    if isinstance(response, Response):
        return response
    missing = [name for name in ("status_code", "headers") if not _has(response, name)]
    if not (_has(response, "stream") or _has(response, "content")):
        missing.append("stream (or content)")
    if missing:
        raise TypeError(
            "a transport must return a requestx.Response (or an httpx or httpx2 one), "
            f"not {type(response).__name__}: it has no {', '.join(missing)}"
        )
    ours = Response.__new__(Response)
    ours.status_code = int(response.status_code)
    ours._headers = Headers(response.headers)
    ours._history = []
    extensions = getattr(response, "extensions", None)
    ours._extensions = dict(extensions) if extensions else {}
    version = getattr(response, "http_version", None)
    if isinstance(version, str) and version != ours.http_version:
        ours.http_version = version
    stream = getattr(response, "stream", None)
    if stream is not None and not getattr(response, "is_stream_consumed", False):
        ours._stream = _PythonBody(stream)
        ours._num_bytes_downloaded = 0
        ours.is_closed = False
        ours.is_stream_consumed = False
    else:
        ours._content = bytes(response.content)
    return ours


def _steps(decoder: Decoder, chunk: bytes | None) -> typing.Iterator[bytes]:
    """The bounded steps a raw chunk decodes into (a chunk may make many), or with `chunk` None
    those of the rest once the body has ended. Both iterators of a decoded body step with it."""
    step = decoder.flush() if chunk is None else decoder.decode(chunk)
    while step:
        yield step
        step = decoder.flush() if chunk is None else decoder.decode(b"")


def _decoded(chunks: typing.Iterable[bytes], decoder: Decoder) -> typing.Iterator[bytes]:
    """`chunks` decoded, step by bounded step."""
    for chunk in chunks:
        yield from _steps(decoder, chunk)
    yield from _steps(decoder, None)


class _Rechunker:
    """Cuts a body into chunks of `size` bytes (the last one shorter), or with `size` None passes
    its chunks through, empty ones dropped. Every iterator of a body (sync and async, raw and
    decoded) cuts with it. Linear: what is left over is copied once per chunk fed, not per cut
    (re-slicing the remainder per cut made 64 MiB in 1 KiB cuts take seconds)."""

    __slots__ = ("buffer", "size")

    def __init__(self, size: int | None) -> None:
        self.size = size
        self.buffer = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        size = self.size
        if size is None:
            return [chunk] if chunk else []
        buffer = self.buffer
        if not buffer and len(chunk) == size:
            return [chunk]
        buffer += chunk
        end = len(buffer) - len(buffer) % size
        if not end:
            return []
        with memoryview(buffer) as view:
            pieces = [view[start : start + size].tobytes() for start in range(0, end, size)]
        del buffer[:end]
        return pieces

    def flush(self) -> list[bytes]:
        rest, self.buffer = self.buffer, bytearray()
        return [bytes(rest)] if rest else []


def _rechunk(chunks: typing.Iterable[bytes], chunk_size: int | None) -> typing.Iterator[bytes]:
    cut = _Rechunker(chunk_size)
    for chunk in chunks:
        yield from cut.feed(chunk)
    yield from cut.flush()


class _TextLines:
    """Lines of a body in an encoding other than UTF-8: Python's incremental decoder, then httpx's
    line rules (those of `str.splitlines`, a `\\r` at a chunk's end waiting for a `\\n`)."""

    __slots__ = ("_buffer", "_decoder", "_trailing_cr")

    def __init__(self, encoding: str) -> None:
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._buffer: list[str] = []
        self._trailing_cr = False

    def feed(self, chunk: bytes) -> list[str]:
        return self._split(self._decoder.decode(chunk))

    def flush(self) -> list[str]:
        lines = self._split(self._decoder.decode(b"", final=True))
        if self._buffer or self._trailing_cr:
            lines.append("".join(self._buffer))
        self._buffer = []
        self._trailing_cr = False
        return lines

    def _split(self, text: str) -> list[str]:
        if self._trailing_cr:
            text = "\r" + text
            self._trailing_cr = False
        if text.endswith("\r"):
            self._trailing_cr = True
            text = text[:-1]
        if not text:
            return []
        lines = text.splitlines()
        trailing = text[-1] not in _LINE_BREAKS
        if len(lines) == 1 and trailing:
            self._buffer.append(lines[0])
            return []
        if self._buffer:
            lines[0] = "".join(self._buffer) + lines[0]
            self._buffer = []
        if trailing:
            self._buffer.append(lines.pop())
        return lines


_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines splits on
