"""The native engine (Rust). Private: use the `requestx` package."""

from typing import Any, Optional

_Timeouts = tuple[Optional[float], Optional[float], Optional[float], Optional[float]]
_RawResponse = tuple[int, str, RawHeaders, Any, str]

class RawHeaders:
    def items(self) -> list[tuple[bytes, bytes]]: ...
    def get(self, name: str) -> Optional[bytes]: ...

class Hub:
    def __new__(cls) -> Hub: ...
    def fileno(self) -> int: ...
    def drain(self) -> list[int]: ...

class Op:
    @property
    def id(self) -> int: ...
    def cancel(self) -> bool: ...
    def take(self) -> Any: ...

class BodyStream:
    def next_nowait(self) -> Optional[bytes]: ...
    def submit_next(self, hub: Hub) -> Op: ...
    def next_blocking(self) -> bytes: ...
    def close(self) -> None: ...

class ClientCore:
    def __new__(
        cls,
        *,
        http1: bool,
        http2: bool,
        verify: Optional[str],
        max_connections: Optional[int],
        max_keepalive: Optional[int],
        keepalive_expiry: Optional[float],
        connect_timeout: Optional[float],
        proxy: Optional[str],
        trust_env: bool,
    ) -> ClientCore: ...
    def send_blocking(
        self,
        method: str,
        url: str,
        headers: list[tuple[bytes, bytes]],
        body: Optional[bytes],
        timeouts: _Timeouts,
        stream: bool = False,
    ) -> _RawResponse: ...
    def send_async(
        self,
        hub: Hub,
        method: str,
        url: str,
        headers: list[tuple[bytes, bytes]],
        body: Optional[bytes],
        timeouts: _Timeouts,
        stream: bool = False,
    ) -> Op: ...
    def close(self) -> None: ...
    @property
    def is_closed(self) -> bool: ...

def json_loads(data: bytes) -> Any: ...
def _after_fork_child() -> None: ...
