"""`ChunkSource`: what feeds a native async iterator (`native_aiter`, src/text/aiter.rs) with body
chunks when it has nothing ready; `aiter_lines()` and `aiter_sse()` read through it."""

from __future__ import annotations

import typing

if typing.TYPE_CHECKING:
    from ._requestx import LineDecoder, SseDecoder
    from ._requestx import _NativeAsyncIterator as NativeAsyncIterator

__all__ = ["ChunkSource"]


class ChunkSource:
    """Feeds a native async iterator (`native_aiter`: `aiter_lines()`, `aiter_sse()`) from body
    chunks when nothing is ready; `on_end` runs once the body has ended."""

    __slots__ = ("_chunks", "_on_end")

    def __init__(
        self, chunks: typing.AsyncGenerator[bytes, None], on_end: typing.Callable[[], None] | None = None
    ) -> None:
        self._chunks = chunks
        self._on_end = on_end

    async def refill(self, decoder: LineDecoder | SseDecoder, items: NativeAsyncIterator[typing.Any]) -> typing.Any:
        while True:
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                decoder.finish()
                if self._on_end is not None:
                    self._on_end()
                return items.take()  # StopAsyncIteration if nothing was left
            if decoder.push(chunk):
                return items.take()

    async def aclose(self) -> None:
        await self._chunks.aclose()
