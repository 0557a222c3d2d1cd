"""A request body sent chunk by chunk (`StreamBody`): iterators, async iterators, file objects.
Both body encoders build on it: plain content (`_content`) and multipart (`_multipart`)."""

from __future__ import annotations

import inspect
import typing

from ._exceptions import StreamConsumed

__all__ = ["FILE_CHUNK", "StreamBody"]

# NOTE: 64 KiB reads from files: large enough that per-chunk overhead (one engine hand-off) is
# noise, small enough that four queued chunks keep an upload's memory flat.
FILE_CHUNK = 64 * 1024


class StreamBody:
    """A request body sent chunk by chunk: a sync or async iterator of bytes, or a file object."""

    __slots__ = ("_consumed", "_source", "is_async")

    def __init__(self, source: typing.Any) -> None:
        self._source = source
        self._consumed = False
        read = getattr(source, "read", None)
        self.is_async = hasattr(source, "__aiter__") or (read is not None and _is_coroutine_function(read))

    def _claim(self) -> typing.Any:
        if self._consumed:
            raise StreamConsumed()
        self._consumed = True
        return self._source

    def __iter__(self) -> typing.Iterator[bytes]:
        source = self._claim()
        if self.is_async:
            raise RuntimeError("Attempted to send an async request body with a sync Client.")
        if hasattr(source, "read"):
            while chunk := source.read(FILE_CHUNK):
                yield _as_bytes(chunk)
            return
        for chunk in source:
            yield _as_bytes(chunk)

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        source = self._claim()
        if hasattr(source, "__aiter__"):
            async for chunk in source:
                yield _as_bytes(chunk)
        elif hasattr(source, "read") and self.is_async:
            while chunk := await source.read(FILE_CHUNK):
                yield _as_bytes(chunk)
        elif hasattr(source, "read"):
            while chunk := source.read(FILE_CHUNK):
                yield _as_bytes(chunk)
        else:
            for chunk in source:
                yield _as_bytes(chunk)


def _is_coroutine_function(fn: typing.Any) -> bool:
    return inspect.iscoroutinefunction(fn)


def _as_bytes(chunk: typing.Any) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, (bytearray, memoryview)):
        return bytes(chunk)
    raise TypeError(f"request body chunks must be bytes, not {type(chunk).__name__}")
