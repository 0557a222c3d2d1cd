"""`files=`: multipart/form-data bodies, as httpx builds them. File objects are streamed in 64 KiB
reads (never read whole into memory); in-memory parts make a plain bytes body with a length."""

from __future__ import annotations

import mimetypes
import os
import typing

from ._stream_body import FILE_CHUNK, StreamBody
from ._urls import primitive_value

__all__ = ["encode_multipart"]

FileContent = typing.Union[typing.IO[bytes], bytes, str]
FileTypes = typing.Union[
    FileContent,
    typing.Tuple[typing.Optional[str], FileContent],
    typing.Tuple[typing.Optional[str], FileContent, typing.Optional[str]],
    typing.Tuple[typing.Optional[str], FileContent, typing.Optional[str], typing.Mapping[str, str]],
]


def _quote(value: str) -> str:
    # HTML5's escaping of form-data names and filenames, as browsers and httpx do.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _part_head(
    boundary: bytes, name: str, filename: str | None, content_type: str | None, headers: typing.Mapping[str, str]
) -> bytes:
    disposition = f'form-data; name="{_quote(name)}"'
    if filename is not None:
        disposition += f'; filename="{_quote(filename)}"'
    lines = [f"Content-Disposition: {disposition}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("content-disposition", "content-type")]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    return b"--" + boundary + b"\r\n" + "\r\n".join(lines).encode("utf-8") + b"\r\n\r\n"


_Part = tuple[str, typing.Optional[str], typing.Any, typing.Optional[str], typing.Mapping[str, str]]


def _file_parts(files: typing.Any) -> list[_Part]:
    items = files.items() if isinstance(files, typing.Mapping) else files
    parts: list[_Part] = []
    for name, value in items:
        headers: typing.Mapping[str, str] = {}
        content_type: str | None = None
        if isinstance(value, tuple):
            if len(value) == 2:
                filename, content = value
            elif len(value) == 3:
                filename, content, content_type = value
            else:
                filename, content, content_type, headers = value
        else:
            filename = os.path.basename(getattr(value, "name", "upload")) if hasattr(value, "read") else "upload"
            content = value
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, (bytes, bytearray)) and not hasattr(content, "read"):
            raise TypeError(f"Expected bytes or a file object for file {name!r}, not {type(content).__name__}")
        if content_type is None and filename:
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        elif content_type is None:
            content_type = "application/octet-stream"
        parts.append((str(name), filename, content, content_type, headers))
    return parts


def encode_multipart(
    data: typing.Mapping[str, typing.Any] | None, files: typing.Any, boundary: bytes | None = None
) -> tuple[bytes | StreamBody, str]:
    """The body and its Content-Type: form fields from `data` first, then the files."""
    boundary = boundary or os.urandom(16).hex().encode("ascii")
    fields: list[bytes] = []
    for key, value in (data or {}).items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            head = _part_head(boundary, str(key), None, None, {})
            fields.append(head + primitive_value(item).encode("utf-8") + b"\r\n")
    parts = _file_parts(files)
    tail = b"--" + boundary + b"--\r\n"
    content_type = f"multipart/form-data; boundary={boundary.decode('ascii')}"
    if all(isinstance(content, (bytes, bytearray)) for _, _, content, _, _ in parts):
        body = b"".join(fields) + b"".join(
            _part_head(boundary, name, filename, ctype, headers) + bytes(content) + b"\r\n"
            for name, filename, content, ctype, headers in parts
        )
        return body + tail, content_type

    def chunks() -> typing.Iterator[bytes]:
        yield from fields
        for name, filename, content, ctype, headers in parts:
            yield _part_head(boundary, name, filename, ctype, headers)
            if isinstance(content, (bytes, bytearray)):
                yield bytes(content)
            else:
                while chunk := content.read(FILE_CHUNK):
                    yield chunk if isinstance(chunk, bytes) else chunk.encode("utf-8")
            yield b"\r\n"
        yield tail

    return StreamBody(chunks()), content_type
