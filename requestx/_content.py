"""Encoding of request bodies (`content=`, `data=`, `json=`) into bytes and content headers."""

from __future__ import annotations

import json as jsonlib
import typing
from urllib.parse import urlencode

from ._urls import primitive_value

__all__ = ["RequestContent", "StreamBody", "encode_request"]

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
        from ._exceptions import StreamConsumed

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
    import inspect

    return inspect.iscoroutinefunction(fn)


def _as_bytes(chunk: typing.Any) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, (bytearray, memoryview)):
        return bytes(chunk)
    raise TypeError(f"request body chunks must be bytes, not {type(chunk).__name__}")


RequestContent = typing.Union[str, bytes, typing.Iterable[bytes]]
RequestData = typing.Mapping[str, typing.Any]


def encode_request(
    content: RequestContent | None = None,
    data: RequestData | None = None,
    json: typing.Any = None,
    files: typing.Any = None,
) -> tuple[bytes | StreamBody | None, str | None]:
    """The body (bytes, or a StreamBody sent chunk by chunk) and the Content-Type it implies."""
    if files:
        from ._multipart import encode_multipart

        if data is not None and not isinstance(data, typing.Mapping):
            raise TypeError("data= must be a mapping when files= is given")
        return encode_multipart(data, files)
    if content is not None:
        if isinstance(content, bytes):
            return content, None
        if isinstance(content, str):
            return content.encode("utf-8"), None
        if isinstance(content, (bytearray, memoryview)):
            return bytes(content), None
        if hasattr(content, "__aiter__") or hasattr(content, "__iter__") or hasattr(content, "read"):
            return StreamBody(content), None
        raise TypeError(f"Unexpected type for 'content', {type(content)!r}")
    if data is not None:
        if isinstance(data, (bytes, str)) or (hasattr(data, "__iter__") and not isinstance(data, typing.Mapping)):
            return encode_request(content=data)
        if not isinstance(data, typing.Mapping):
            raise TypeError(f"Unexpected type for 'data', {type(data)!r}")
        items: list[tuple[str, str]] = []
        for key, value in data.items():
            if isinstance(value, (list, tuple)):
                items.extend((key, primitive_value(v)) for v in value)
            else:
                items.append((key, primitive_value(value)))
        return urlencode(items, doseq=True).encode("ascii"), "application/x-www-form-urlencoded"
    if json is not None:
        body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return body.encode("utf-8"), "application/json"
    return None, None
