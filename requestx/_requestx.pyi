"""The native engine (Rust). Private: use the `requestx` package."""

from typing import Any, final

__all__ = ["BodyStream", "ClientCore", "Hub", "Op", "RawHeaders", "_after_fork_child", "json_loads"]

_Timeouts = tuple[float | None, float | None, float | None, float | None]
_RawResponse = tuple[int, str, RawHeaders, Any, str]

@final
class RawHeaders:
    def items(self) -> list[tuple[bytes, bytes]]: ...
    def get(self, name: str) -> bytes | None: ...

@final
class Hub:
    def __new__(cls) -> Hub: ...
    def fileno(self) -> int: ...
    def drain(self) -> list[int]: ...

@final
class Op:
    @property
    def id(self) -> int: ...
    def cancel(self) -> bool: ...
    def take(self) -> Any: ...

@final
class BodyStream:
    def next_nowait(self) -> bytes | None: ...
    def submit_next(self, hub: Hub) -> Op: ...
    def next_blocking(self) -> bytes: ...
    def close(self) -> None: ...

@final
class ClientCore:
    def __new__(
        cls,
        *,
        http1: bool,
        http2: bool,
        verify: str | None,
        max_connections: int | None,
        max_keepalive: int | None,
        keepalive_expiry: float | None,
        connect_timeout: float | None,
        proxy: str | None,
        trust_env: bool,
    ) -> ClientCore: ...
    def send_blocking(
        self,
        method: str,
        url: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes | None,
        timeouts: _Timeouts,
        stream: bool = False,
    ) -> _RawResponse: ...
    def send_async(
        self,
        hub: Hub,
        method: str,
        url: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes | None,
        timeouts: _Timeouts,
        stream: bool = False,
    ) -> Op: ...
    def close(self) -> None: ...
    @property
    def is_closed(self) -> bool: ...

def json_loads(data: bytes) -> Any: ...
def _after_fork_child() -> None: ...
