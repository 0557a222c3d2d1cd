"""The oracle of the `json` cargo-fuzz target (fuzz_targets/json.rs): the engine's `json_loads`
against the standard library's `json.loads`, on the same bytes.

`Response.json()` falls back to `json.loads` when `json_loads` raises ValueError
(requestx/_models.py: "BOMs, UTF-16/32, NaN"), so `json_loads` may reject what `json.loads`
reads; it must never read what `json.loads` rejects, nor read it differently. The differences
already reported pass unless `strict` (each is marked "reported" below).
"""

from __future__ import annotations

import json
import math
import struct
import typing


class _Constant(Exception):
    pass


def _refuse(name: str) -> typing.NoReturn:
    raise _Constant(name)


def _nodes(value: object) -> typing.Iterator[tuple[object, int]]:
    """Every value inside `value` with its depth (no recursion: `json.loads` nests ~1000 deep)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        yield node, depth
        if isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, dict):
            stack.extend((item, depth + 1) for item in node.values())
            stack.extend((key, depth + 1) for key in node)


def _bits(x: float) -> int:
    """An order-preserving integer of a float, so that neighbours differ by one."""
    (i,) = struct.unpack("<q", struct.pack("<d", x))
    return i if i >= 0 else -(i & 0x7FFF_FFFF_FFFF_FFFF)


def _near(a: float, b: float) -> bool:
    # Reported: serde_json without `float_roundtrip` misses the nearest float by up to a few
    # steps (2 seen: 700017666319277000176663192728167000176663192462); 16 is a generous bound.
    return abs(_bits(a) - _bits(b)) <= 16


def _diff(ours: object, theirs: object, strict: bool, path: str) -> str | None:
    if type(theirs) is int:
        if type(ours) is int and ours == theirs:
            return None
        if not strict and type(ours) is float:
            # Reported: "-0" reads as the float -0.0, not the int 0.
            if theirs == 0 and math.copysign(1.0, ours) < 0 and ours == 0.0:
                return None
            # Reported: integers outside i64/u64 read as floats.
            if not -(2**63) <= theirs < 2**64 and _near(ours, float(theirs)):
                return None
    elif type(theirs) is float:
        if type(ours) is float and _bits(ours) == _bits(theirs):
            return None
        # Reported: serde_json without `float_roundtrip` may miss the nearest float.
        if not strict and type(ours) is float and _near(ours, theirs):
            return None
    elif type(theirs) is list:
        if type(ours) is list and len(ours) == len(theirs):
            for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
                if (found := _diff(a, b, strict, f"{path}[{i}]")) is not None:
                    return found
            return None
    elif type(theirs) is dict:
        if type(ours) is dict and list(ours) == list(theirs):
            for key, value in theirs.items():
                if (found := _diff(ours[key], value, strict, f"{path}[{key!r}]")) is not None:
                    return found
            return None
    elif type(ours) is type(theirs) and ours == theirs:
        return None  # None, bool, str
    return f"at {path}: json_loads read {ours!r:.200}, json.loads {theirs!r:.200}"


def _excused(data: bytes, theirs: object, error: json.JSONDecodeError, strict: bool) -> bool:
    """Whether `json_loads` may reject (with `error`) what `json.loads` read as `theirs`."""
    if json.detect_encoding(data) != "utf-8":
        return True  # documented: a BOM, UTF-16 or UTF-32
    try:
        json.loads(data, parse_constant=_refuse)
    except _Constant:
        return True  # documented: NaN, Infinity, -Infinity
    if strict:
        return False
    if error.msg.startswith("number out of range"):
        # Reported: past the largest float (json.loads: inf), and also just below it where
        # json.loads rounds down to the largest float (1.7976931348623158e308).
        return True
    for node, depth in _nodes(theirs):
        if depth >= 128:
            return True  # reported: serde_json's nesting limit of 128
        if isinstance(node, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in node):
            return True  # reported: a lone surrogate escape (json.loads keeps it)
    return False


def check(data: bytes, ours: object, error: BaseException | None, strict: bool) -> str | None:
    """None if `json_loads`'s answer on `data` (`ours`, or the exception `error`) is right."""
    theirs_error: BaseException | None = None
    try:
        theirs = json.loads(data)
    except (ValueError, RecursionError) as exc:
        theirs_error = exc
    if error is not None:
        if not isinstance(error, json.JSONDecodeError):
            return f"json_loads raised {error!r}, not a JSONDecodeError"
        if not 0 <= error.pos <= len(error.doc):
            return f"JSONDecodeError.pos {error.pos} is outside the document ({len(error.doc)} characters)"
        if theirs_error is not None or _excused(data, theirs, error, strict):
            return None
        return f"json_loads raised {error!r} where json.loads read {theirs!r:.200}"
    if theirs_error is not None:
        return f"json_loads read {ours!r:.200} where json.loads raised {theirs_error!r}"
    return _diff(ours, theirs, strict, "$")
