"""The native engine (Rust). Private: use the `requestx` package."""

from typing import Any, final

__all__ = [
    "BodySender",
    "BodyStream",
    "SseDecoder",
    "ClientCore",
    "Hub",
    "Op",
    "RawHeaders",
    "_after_fork_child",
    "json_loads",
]

_Timeouts = tuple[float | None, float | None, float | None, float | None]
_RawResponse = tuple[int, str, RawHeaders, Any]

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
    @property
    def done(self) -> bool: ...
    def wait(self) -> Any: ...
    def cancel(self) -> bool: ...
    def spin(self, micros: int) -> bool: ...
    def take(self) -> Any: ...

@final
class BodyStream:
    def next_nowait(self) -> bytes | None: ...
    def wait_ready(self, hub: Hub) -> Op: ...
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
        hub: Hub | None,
        method: str,
        url: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes | BodySender | None,
        timeouts: _Timeouts,
        stream: bool = False,
    ) -> Op: ...
    def close(self) -> None: ...
    @property
    def is_closed(self) -> bool: ...

def json_loads(data: bytes) -> Any: ...
def _after_fork_child() -> None: ...

@final
class SseDecoder:
    def __new__(cls) -> SseDecoder: ...
    def feed(self, chunk: bytes) -> list[tuple[str, str, str, int | None]]: ...
    @property
    def last_event_id(self) -> str: ...

@final
class BodySender:
    def __new__(cls, write_timeout: float | None = None) -> BodySender: ...
    def try_send(self, chunk: bytes) -> bool | None: ...
    def send_blocking(self, chunk: bytes) -> bool: ...
    def submit_send(self, hub: Hub, chunk: bytes) -> Op: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
