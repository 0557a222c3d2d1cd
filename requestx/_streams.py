"""Request and response bodies as byte streams, shaped as httpx's: `SyncByteStream` (iterate, then
`close()`), `AsyncByteStream` (`async for`, then `aclose()`), `ByteStream` (bytes, both ways), and
the streams over what a user passes as a body: sync iterators and files (`IteratorByteStream`),
async ones (`AsyncIteratorByteStream`). The engine takes any of them chunk by chunk; a body whose
bytes are known (`ByteStream`) crosses in one piece."""

from __future__ import annotations

import inspect
import os
import typing

from ._exceptions import StreamClosed, StreamConsumed

__all__ = [
    "FILE_CHUNK",
    "AsyncByteStream",
    "AsyncIteratorByteStream",
    "ByteStream",
    "IteratorByteStream",
    "SyncByteStream",
    "UnattachedStream",
    "peek_filelike_length",
]

# NOTE: 64 KiB reads from files: large enough that per-chunk overhead (one engine hand-off) is
# noise, small enough that four queued chunks keep an upload's memory flat.
FILE_CHUNK = 64 * 1024


def peek_filelike_length(stream: typing.Any) -> int | None:
    """The length of a file-like object's content, without reading it (None when unknown)."""
    try:
        return os.fstat(stream.fileno()).st_size
    except (AttributeError, OSError, ValueError, TypeError):
        pass
    try:
        offset = stream.tell()
        length: int = stream.seek(0, os.SEEK_END)
        stream.seek(offset)
    except (AttributeError, OSError, ValueError, TypeError):
        return None
    return length


class SyncByteStream:
    """httpx's base class of sync bodies: iterate for the chunks, then `close()`."""

    def __iter__(self) -> typing.Iterator[bytes]:
        raise NotImplementedError("The '__iter__' method must be implemented.")  # pragma: no cover
        yield b""

    def close(self) -> None:
        """Releases what the stream holds (a connection, a file)."""


class AsyncByteStream:
    """httpx's base class of async bodies: `async for` the chunks, then `await aclose()`."""

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        raise NotImplementedError("The '__aiter__' method must be implemented.")  # pragma: no cover
        yield b""

    async def aclose(self) -> None:
        """Releases what the stream holds."""


class ByteStream(AsyncByteStream, SyncByteStream):
    """A body of bytes as a stream, sync and async: yields the bytes on every iteration."""

    __slots__ = ("_stream",)

    def __init__(self, stream: bytes) -> None:
        self._stream = stream

    def __iter__(self) -> typing.Iterator[bytes]:
        yield self._stream

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        yield self._stream


def _as_bytes(chunk: typing.Any) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, (bytearray, memoryview)):
        return bytes(chunk)
    raise TypeError(f"request body chunks must be bytes, not {type(chunk).__name__}")


class IteratorByteStream(SyncByteStream):
    """A sync iterable of bytes or a file object opened for binary reads. A generator can be
    iterated once (a second time raises `StreamConsumed`); a list or a file again."""

    __slots__ = ("_consumed", "_is_generator", "_stream")

    def __init__(self, stream: typing.Any) -> None:
        self._stream = stream
        self._is_generator = inspect.isgenerator(stream)
        self._consumed = False

    def __iter__(self) -> typing.Iterator[bytes]:
        if self._consumed and self._is_generator:
            raise StreamConsumed()
        self._consumed = True
        stream = self._stream
        if hasattr(stream, "read"):
            while chunk := stream.read(FILE_CHUNK):
                yield _as_bytes(chunk)
            return
        for chunk in stream:
            yield _as_bytes(chunk)


class AsyncIteratorByteStream(AsyncByteStream):
    """An async iterable of bytes, or an async file: an object with an async `aread(size)` (or `read`)."""

    __slots__ = ("_consumed", "_is_generator", "_stream")

    def __init__(self, stream: typing.Any) -> None:
        self._stream = stream
        self._is_generator = inspect.isasyncgen(stream)
        self._consumed = False

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        if self._consumed and self._is_generator:
            raise StreamConsumed()
        self._consumed = True
        stream = self._stream
        read = getattr(stream, "aread", None)
        if read is None and inspect.iscoroutinefunction(getattr(stream, "read", None)):
            read = stream.read  # an async file object (aiofiles' and others' `read`)
        if read is not None:
            while chunk := await read(FILE_CHUNK):
                yield _as_bytes(chunk)
            return
        async for chunk in stream:
            yield _as_bytes(chunk)


class UnattachedStream(AsyncByteStream, SyncByteStream):
    """The stream of an unpickled request or response: its body did not travel with it."""

    def __iter__(self) -> typing.Iterator[bytes]:
        raise StreamClosed()
        yield b""  # pragma: no cover

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        raise StreamClosed()
        yield b""  # pragma: no cover
