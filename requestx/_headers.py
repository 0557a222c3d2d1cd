"""`Headers`: case-insensitive, multi-valued, order-preserving, as httpx's."""

from __future__ import annotations

import typing

__all__ = ["Headers", "HeaderTypes", "foreign_library"]

#: The libraries whose objects (URL, Headers, Timeout, Request, Response, transports) requestx accepts.
_FOREIGN = ("httpx", "httpx2")


def foreign_library(obj: object) -> str | None:
    """'httpx' or 'httpx2' if `obj` is (or derives from) a class of that library, else None. The
    library is never imported here: an object of it exists only if it was."""
    for cls in type(obj).__mro__:
        top = cls.__module__.partition(".")[0]
        if top in _FOREIGN:
            return top
    return None


HeaderTypes = typing.Union[
    "Headers",
    typing.Mapping[str, str],
    typing.Mapping[bytes, bytes],
    typing.Sequence[typing.Tuple[str, str]],
    typing.Sequence[typing.Tuple[bytes, bytes]],
]


def _encode(value: str | bytes, what: str, encoding: str) -> bytes:
    """A name or value as bytes: bytes as given, str encoded with `encoding` (as httpx: ascii
    unless the Headers were given one, so a non-ASCII str is a UnicodeEncodeError there)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode(encoding)
    raise TypeError(f"Header {what} must be str or bytes, not {type(value)}")


#: Names whose values `repr` shows as `[secure]`, as httpx does.
_SENSITIVE = frozenset(("authorization", "proxy-authorization"))


class Headers(typing.MutableMapping[str, str]):
    """HTTP headers. Keys compare case-insensitively; `headers["a"]` joins repeated values with ", ".

    The list behind a Headers object is never changed in place: every mutation installs a new
    list. So a request can share its client's list without copying it, and the engine can keep
    the parsed form of a list it has seen before (see `ClientCore`).
    """

    __slots__ = ("_encoding", "_list")

    def __init__(self, headers: HeaderTypes | None = None, encoding: str | None = None) -> None:
        self._list: list[tuple[bytes, bytes]] = []
        self._encoding = encoding
        if headers is None:
            return
        if isinstance(headers, Headers):
            self._list = list(headers._list)
            return
        codec = encoding or "ascii"
        if not isinstance(headers, (dict, list, tuple)):
            raw = getattr(headers, "raw", None)  # httpx's or httpx2's Headers: every value, in order
            if isinstance(raw, list):
                self._list = [(_encode(k, "name", codec), _encode(v, "value", codec)) for k, v in raw]
                return
        items = headers.items() if isinstance(headers, typing.Mapping) else headers
        self._list = [(_encode(k, "name", codec), _encode(v, "value", codec)) for k, v in items]

    @classmethod
    def _from_raw(cls, raw: list[tuple[bytes, bytes]]) -> Headers:
        """Adopts a list from the engine as is (no copy, no re-validation)."""
        h = cls.__new__(cls)
        h._list = raw
        h._encoding = None
        return h

    @property
    def encoding(self) -> str:
        """The codec that decodes every value: ascii, else utf-8, else iso-8859-1."""
        if self._encoding is None:
            for codec in ("ascii", "utf-8"):
                try:
                    for k, v in self._list:
                        k.decode(codec)
                        v.decode(codec)
                except UnicodeDecodeError:
                    continue
                self._encoding = codec
                break
            else:
                self._encoding = "iso-8859-1"
        return self._encoding

    @encoding.setter
    def encoding(self, value: str) -> None:
        self._encoding = value

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        return list(self._list)

    def keys(self) -> typing.KeysView[str]:
        enc = self.encoding
        return {k.lower().decode(enc): None for k, _ in self._list}.keys()

    def values(self) -> typing.ValuesView[str]:
        return {k: self[k] for k in self.keys()}.values()

    def items(self) -> typing.ItemsView[str, str]:
        return {k: self[k] for k in self.keys()}.items()

    def multi_items(self) -> list[tuple[str, str]]:
        enc = self.encoding
        return [(k.lower().decode(enc), v.decode(enc)) for k, v in self._list]

    def _lookup(self, key: str) -> bytes:
        """`key` as the bytes of a name, in the headers' own encoding as httpx encodes it (so a
        name read back from `keys()` finds its header). An ASCII key, nearly every one, is the
        same bytes in every encoding headers have: no encoding detection for it."""
        if key.isascii():
            return key.lower().encode("ascii")
        try:
            # Bytes lower-cased as names are compared (ASCII letters only), as `keys()` shows them.
            return key.encode(self.encoding).lower()
        except UnicodeEncodeError:
            return key.encode("utf-8").lower()  # no name of these headers can be spelled so

    def get(self, key: str, default: typing.Any = None) -> typing.Any:
        try:
            return self[key]
        except KeyError:
            return default

    def get_list(self, key: str, split_commas: bool = False) -> list[str]:
        lk = self._lookup(key)
        enc = self.encoding
        values = [v.decode(enc) for k, v in self._list if k.lower() == lk]
        if not split_commas:
            return values
        return [item.strip() for value in values for item in value.split(",")]

    def update(self, headers: typing.Any = None) -> None:  # type: ignore[override]
        other = Headers(headers)
        replaced = {k.lower() for k, _ in other._list}
        self._list = [(k, v) for k, v in self._list if k.lower() not in replaced] + other._list

    def copy(self) -> Headers:
        return Headers(self, encoding=self._encoding)

    def __getitem__(self, key: str) -> str:
        lk = self._lookup(key) if isinstance(key, str) else key.lower()
        values = [v for k, v in self._list if k.lower() == lk]
        if not values:
            raise KeyError(key)
        return ", ".join(v.decode(self.encoding) for v in values)

    def __setitem__(self, key: str, value: str | bytes) -> None:
        # As httpx: a str is encoded with the encoding given or found so far, else UTF-8.
        codec = self._encoding or "utf-8"
        raw_key = _encode(key, "name", codec)
        raw_value = _encode(value, "value", codec)
        if self._encoding == "ascii" and not (raw_key.isascii() and raw_value.isascii()):
            self._encoding = None  # bytes beyond ASCII: found again, so every value still decodes
        lk = raw_key.lower()
        items: list[tuple[bytes, bytes]] = []
        placed = False
        for k, v in self._list:
            if k.lower() != lk:
                items.append((k, v))
            elif not placed:
                items.append((raw_key, raw_value))
                placed = True
        if not placed:
            items.append((raw_key, raw_value))
        self._list = items

    def __delitem__(self, key: str) -> None:
        lk = self._lookup(key)
        kept = [(k, v) for k, v in self._list if k.lower() != lk]
        if len(kept) == len(self._list):
            raise KeyError(key)
        self._list = kept

    def __contains__(self, key: typing.Any) -> bool:
        if not isinstance(key, str):
            return False
        lk = self._lookup(key)
        return any(k.lower() == lk for k, _ in self._list)

    def __iter__(self) -> typing.Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __eq__(self, other: object) -> bool:
        try:
            other_headers = Headers(other)  # type: ignore[arg-type]
        except (ValueError, TypeError):
            return False
        mine = sorted((k.lower(), v) for k, v in self._list)
        theirs = sorted((k.lower(), v) for k, v in other_headers._list)
        return mine == theirs

    def __repr__(self) -> str:
        """As httpx's: credentials shown as `[secure]`, the encoding named unless it is ascii."""
        encoding = self.encoding
        items = [(k, "[secure]" if k in _SENSITIVE else v) for k, v in self.multi_items()]
        as_dict = dict(items)
        shown: object = as_dict if len(as_dict) == len(items) else items
        suffix = "" if encoding == "ascii" else f", encoding={encoding!r}"
        return f"{type(self).__name__}({shown!r}{suffix})"
