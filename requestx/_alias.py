"""`requestx.alias_httpx()`: `import httpx` (and `import httpx2`) resolve to requestx, process-wide,
as httpx2's own `alias_httpx()` makes them resolve to httpx2."""

from __future__ import annotations

import sys

__all__ = ["alias_httpx"]

_ALIASES = ("httpx", "httpx2")


def alias_httpx() -> None:
    """Makes `import httpx` and `import httpx2` give requestx, so dependencies written for them
    share requestx's classes. For applications (a library should never call it); call it before
    anything imports httpx or httpx2. Calling it again is a no-op. Their submodules (such as
    `httpx._transports`) are not aliased: code reaching into them gets an ImportError."""
    package = sys.modules[__name__.rpartition(".")[0]]
    for alias in _ALIASES:
        existing = sys.modules.get(alias)
        if existing is not None and existing is not package:
            raise RuntimeError(f"{alias} was already imported; call `alias_httpx()` before any `import {alias}`.")
    for alias in _ALIASES:
        sys.modules[alias] = package
