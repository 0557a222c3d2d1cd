"""Encoding of request bodies (`content=`, `data=`, `json=`) into bytes and content headers."""

from __future__ import annotations

import json as jsonlib
import typing
from urllib.parse import urlencode

__all__ = ["RequestContent", "encode_request"]

RequestContent = typing.Union[str, bytes, typing.Iterable[bytes]]
RequestData = typing.Mapping[str, typing.Any]


def _form_value(value: typing.Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return str(value)


def encode_request(
    content: RequestContent | None = None,
    data: RequestData | None = None,
    json: typing.Any = None,
) -> tuple[bytes | None, str | None]:
    """The body bytes and the Content-Type it implies (None where the caller sets none)."""
    if content is not None:
        if isinstance(content, bytes):
            return content, None
        if isinstance(content, str):
            return content.encode("utf-8"), None
        if isinstance(content, (bytearray, memoryview)):
            return bytes(content), None
        if hasattr(content, "__aiter__"):
            raise TypeError("async iterator content is not supported yet; pass bytes")
        if hasattr(content, "__iter__"):
            parts = []
            for part in content:
                if not isinstance(part, (bytes, bytearray, memoryview)):
                    raise TypeError(f"content iterator must yield bytes, not {type(part).__name__}")
                parts.append(bytes(part))
            return b"".join(parts), None
        raise TypeError(f"Unexpected type for 'content', {type(content)!r}")
    if data is not None:
        if isinstance(data, (bytes, str)):
            return encode_request(content=data)
        if not isinstance(data, typing.Mapping):
            raise TypeError(f"Unexpected type for 'data', {type(data)!r}")
        items: list[tuple[str, str]] = []
        for key, value in data.items():
            if isinstance(value, (list, tuple)):
                items.extend((key, _form_value(v)) for v in value)
            else:
                items.append((key, _form_value(value)))
        return urlencode(items, doseq=True).encode("ascii"), "application/x-www-form-urlencoded"
    if json is not None:
        body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return body.encode("utf-8"), "application/json"
    return None, None
