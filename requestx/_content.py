"""Request and response bodies from `content=`, `data=`, `files=`, `json=` (and a response's
`text=`/`html=`): the stream to send and the headers it implies, as httpx encodes them."""

from __future__ import annotations

import json as jsonlib
import typing
import warnings
from urllib.parse import urlencode

from ._multipart import MultipartStream
from ._streams import AsyncIteratorByteStream, ByteStream, IteratorByteStream, peek_filelike_length
from ._urls import primitive_value

__all__ = ["RequestContent", "encode_request", "encode_response"]

RequestContent = typing.Union[str, bytes, typing.Iterable[bytes], typing.AsyncIterable[bytes]]
RequestData = typing.Mapping[str, typing.Any]
Stream = typing.Union[ByteStream, IteratorByteStream, AsyncIteratorByteStream, MultipartStream]
Encoded = tuple[dict[str, str], Stream]

_EMPTY: Encoded = ({}, ByteStream(b""))


def _bytes_body(body: bytes) -> Encoded:
    return ({"Content-Length": str(len(body))} if body else {}), ByteStream(body)


def encode_content(content: typing.Any) -> Encoded:
    """`content=`: bytes or text sent with a length; a sync or async iterable (or file) streamed,
    with a length when a file's size is known, else chunked."""
    if isinstance(content, bytes):
        return _bytes_body(content)
    if isinstance(content, str):
        return _bytes_body(content.encode("utf-8"))
    if isinstance(content, (bytearray, memoryview)):
        return _bytes_body(bytes(content))
    if hasattr(content, "__iter__") and not isinstance(content, typing.Mapping):
        length = peek_filelike_length(content) if hasattr(content, "read") else None
        headers = {"Transfer-Encoding": "chunked"} if length is None else {"Content-Length": str(length)}
        return headers, IteratorByteStream(content)
    if hasattr(content, "__aiter__") or hasattr(content, "aread"):
        return {"Transfer-Encoding": "chunked"}, AsyncIteratorByteStream(content)
    raise TypeError(f"Unexpected type for 'content', {type(content)!r}")


def encode_urlencoded_data(data: RequestData) -> Encoded:
    items: list[tuple[str, str]] = []
    for key, value in data.items():
        if isinstance(value, (list, tuple)):
            items.extend((key, primitive_value(item)) for item in value)
        else:
            items.append((key, primitive_value(value)))
    body = urlencode(items, doseq=True).encode("utf-8")
    return {"Content-Length": str(len(body)), "Content-Type": "application/x-www-form-urlencoded"}, ByteStream(body)


def encode_json(json: typing.Any) -> Encoded:
    body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return {"Content-Length": str(len(body)), "Content-Type": "application/json"}, ByteStream(body)


def encode_multipart_data(data: RequestData, files: typing.Any, boundary: bytes | None) -> Encoded:
    stream = MultipartStream(data, files, boundary)
    return stream.headers(), stream


def encode_request(
    content: typing.Any = None,
    data: typing.Any = None,
    files: typing.Any = None,
    json: typing.Any = None,
    boundary: bytes | None = None,
) -> Encoded:
    """The body of a request and its headers: `content=`, else `files=` (multipart, with `data=`
    as its fields), else `data=` (a form), else `json=`; an empty body when none is given."""
    if data is not None and not isinstance(data, typing.Mapping):
        # As httpx (and requests): raw bytes or text passed as data=, with httpx's warning.
        warnings.warn("Use 'content=<...>' to upload raw bytes/text content.", DeprecationWarning, stacklevel=3)
        return encode_content(data)
    if content is not None:
        return encode_content(content)
    if files:
        return encode_multipart_data(data or {}, files, boundary)
    if data:
        return encode_urlencoded_data(data)
    if json is not None:
        return encode_json(json)
    return _EMPTY


def encode_response(
    content: typing.Any = None, text: str | None = None, html: str | None = None, json: typing.Any = None
) -> Encoded:
    """The body of a `Response` built by hand, and its headers."""
    if content is not None:
        return encode_content(content)
    if text is not None:
        body = text.encode("utf-8")
        return {"Content-Length": str(len(body)), "Content-Type": "text/plain; charset=utf-8"}, ByteStream(body)
    if html is not None:
        body = html.encode("utf-8")
        return {"Content-Length": str(len(body)), "Content-Type": "text/html; charset=utf-8"}, ByteStream(body)
    if json is not None:
        return encode_json(json)
    return _EMPTY
