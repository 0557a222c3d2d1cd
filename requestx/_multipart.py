"""`files=`: multipart/form-data bodies, as httpx builds them. The form fields of `data=` come
first, then the files; file objects are streamed in 64 KiB reads (rewound first, never read whole
into memory) and the body has a Content-Length whenever every part's size is known."""

from __future__ import annotations

import io
import mimetypes
import os
import typing

from ._streams import FILE_CHUNK, AsyncByteStream, SyncByteStream, peek_filelike_length
from ._urls import primitive_value

__all__ = ["MultipartStream", "boundary_of"]

FileContent = typing.Union[typing.IO[bytes], bytes, str]
FileTypes = typing.Union[
    FileContent,
    typing.Tuple[typing.Optional[str], FileContent],
    typing.Tuple[typing.Optional[str], FileContent, typing.Optional[str]],
    typing.Tuple[typing.Optional[str], FileContent, typing.Optional[str], typing.Mapping[str, str]],
]

# HTML5's escaping of form-data names and filenames (what browsers send, and httpx): a quote and
# the control characters but ESC become %XX, a backslash is doubled.
_HTML5_ESCAPES = {ord('"'): "%22", ord("\\"): "\\\\"} | {c: f"%{c:02X}" for c in range(0x20) if c != 0x1B}


def _param(name: str, value: str) -> bytes:
    return f'{name}="{value.translate(_HTML5_ESCAPES)}"'.encode()


def boundary_of(content_type: str | None) -> bytes | None:
    """The boundary a `multipart/form-data; boundary=...` Content-Type names (the user's own)."""
    if not content_type or not content_type.startswith("multipart/form-data"):
        return None
    for section in content_type.split(";")[1:]:
        section = section.strip()
        if section.lower().startswith("boundary="):
            return section[len("boundary=") :].strip('"').encode("latin-1")
    return None


class _DataField:
    """A form field: a name and a primitive value."""

    __slots__ = ("_head", "_value")

    def __init__(self, name: typing.Any, value: typing.Any) -> None:
        if not isinstance(name, str):
            raise TypeError(f"Invalid type for name. Expected str, got {type(name)}: {name!r}")
        if value is not None and not isinstance(value, (str, bytes, int, float)):
            raise TypeError(f"Invalid type for value. Expected primitive type, got {type(value)}: {value!r}")
        self._head = b"Content-Disposition: form-data; " + _param("name", name) + b"\r\n\r\n"
        self._value = value if isinstance(value, bytes) else primitive_value(value).encode("utf-8")

    def length(self) -> int | None:
        return len(self._head) + len(self._value)

    def render(self) -> typing.Iterator[bytes]:
        yield self._head
        yield self._value


class _FileField:
    """A file: `value`, `(filename, content)`, `(filename, content, content_type)` or
    `(filename, content, content_type, headers)`; content is bytes, text or a binary file."""

    __slots__ = ("_content", "_head")

    def __init__(self, name: typing.Any, value: typing.Any) -> None:
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
            filename = os.path.basename(str(getattr(value, "name", "upload")))
            content = value
        if content_type is None and filename:
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        if content_type is not None and not any(key.lower() == "content-type" for key in headers):
            headers = {**headers, "Content-Type": content_type}
        if isinstance(content, io.StringIO):
            raise TypeError("Multipart file uploads require 'io.BytesIO', not 'io.StringIO'.")
        if isinstance(content, io.TextIOBase):
            raise TypeError("Multipart file uploads must be opened in binary mode.")
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, (bytes, bytearray)) and not hasattr(content, "read"):
            raise TypeError(f"Expected bytes or a file object for file {name!r}, not {type(content).__name__}")
        head = [b"Content-Disposition: form-data; ", _param("name", str(name))]
        if filename:
            head += [b"; ", _param("filename", filename)]
        for key, header_value in headers.items():
            head.append(f"\r\n{key}: {header_value}".encode())
        head.append(b"\r\n\r\n")
        self._head = b"".join(head)
        self._content = content

    @property
    def in_memory(self) -> bool:
        return isinstance(self._content, (bytes, bytearray))

    def length(self) -> int | None:
        content = self._content
        size = len(content) if isinstance(content, (bytes, bytearray)) else peek_filelike_length(content)
        return None if size is None else len(self._head) + size

    def render(self) -> typing.Iterator[bytes]:
        yield self._head
        content = self._content
        if isinstance(content, (bytes, bytearray)):
            yield bytes(content)
            return
        if hasattr(content, "seek"):
            try:
                content.seek(0)  # the same file sent twice (a retry, a redirect) sends it whole
            except (OSError, ValueError):
                pass
        while chunk := content.read(FILE_CHUNK):
            yield chunk if isinstance(chunk, bytes) else chunk.encode("utf-8")


class MultipartStream(SyncByteStream, AsyncByteStream):
    """A multipart/form-data body, sync and async (files are read with blocking reads either way,
    as httpx does); it can be sent again, files rewound."""

    def __init__(self, data: typing.Mapping[str, typing.Any], files: typing.Any, boundary: bytes | None = None) -> None:
        self.boundary = boundary or os.urandom(16).hex().encode("ascii")
        fields: list[_DataField | _FileField] = []
        for name, value in data.items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                fields.append(_DataField(name, item))
        for name, value in files.items() if isinstance(files, typing.Mapping) else files:
            fields.append(_FileField(name, value))
        self._fields = fields

    @property
    def in_memory(self) -> bool:
        """Whether every part is bytes (no file to read): the body can cross as one piece."""
        return all(isinstance(field, _DataField) or field.in_memory for field in self._fields)

    def content_length(self) -> int | None:
        per_part = len(self.boundary) + 6  # b"--" boundary b"\r\n", then the part, then b"\r\n"
        total = len(self.boundary) + 6  # b"--" boundary b"--\r\n"
        for field in self._fields:
            length = field.length()
            if length is None:
                return None
            total += per_part + length
        return total

    def headers(self) -> dict[str, str]:
        length = self.content_length()
        sizing = {"Transfer-Encoding": "chunked"} if length is None else {"Content-Length": str(length)}
        return {**sizing, "Content-Type": f"multipart/form-data; boundary={self.boundary.decode('ascii')}"}

    def __iter__(self) -> typing.Iterator[bytes]:
        separator = b"--" + self.boundary + b"\r\n"
        for field in self._fields:
            yield separator
            yield from field.render()
            yield b"\r\n"
        yield b"--" + self.boundary + b"--\r\n"

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        for chunk in self:
            yield chunk
