"""Encoding of request bodies (`content=`, `data=`, `json=`) into bytes and content headers."""

from __future__ import annotations

import json as jsonlib
import typing
from urllib.parse import urlencode

from ._multipart import encode_multipart
from ._stream_body import StreamBody
from ._urls import primitive_value

__all__ = ["RequestContent", "encode_request"]

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
