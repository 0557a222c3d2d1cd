"""Content-Encoding undone by the engine: gzip, deflate (zlib and raw), br, zstd, stacked, buffered
and streamed; `iter_raw()` sees the body as sent; corrupt data is a DecodingError."""

from __future__ import annotations

import gzip

import pytest

import requestx

TEXT = "compressible " * 2000
ENCODINGS = ["gzip", "deflate", "br", "zstd", "gzip,br", "zstd,gzip,deflate"]


@pytest.mark.parametrize("enc", ENCODINGS)
def test_buffered(server, enc: str) -> None:
    with requestx.Client() as c:
        r = c.get(server.url + "/compressed", params={"enc": enc})
    assert r.text == TEXT
    assert r.headers["content-encoding"] == enc.replace(",", ", ")


@pytest.mark.parametrize("enc", ENCODINGS)
@pytest.mark.parametrize("chunk", [7, 1000])
def test_streamed_sync(server, enc: str, chunk: int) -> None:
    with requestx.Client() as c, c.stream("GET", server.url + "/compressed", params={"enc": enc, "chunk": chunk}) as r:
        assert b"".join(r.iter_bytes()).decode() == TEXT


def test_streamed_async(server, arun) -> None:
    async def main() -> None:
        async with requestx.AsyncClient() as c:
            async with c.stream("GET", server.url + "/compressed", params={"enc": "br", "chunk": 100}) as r:
                assert b"".join([chunk async for chunk in r.aiter_bytes(chunk_size=1000)]).decode() == TEXT
            async with c.stream("GET", server.url + "/compressed", params={"enc": "gzip", "chunk": 100}) as r:
                assert [line async for line in r.aiter_lines()] == [TEXT]

    arun(main)


def test_raw_deflate_without_zlib_header(server) -> None:
    # Some servers send raw deflate under "deflate": decoded all the same, as httpx does.
    with requestx.Client() as c:
        assert c.get(server.url + "/compressed", params={"enc": "rawdeflate"}).status_code == 200


def test_iter_raw_is_the_body_as_sent(server) -> None:
    with requestx.Client() as c, c.stream("GET", server.url + "/compressed", params={"enc": "gzip", "chunk": 50}) as r:
        raw = b"".join(r.iter_raw())
        assert r.num_bytes_downloaded == len(raw)
    assert gzip.decompress(raw).decode() == TEXT


@pytest.mark.parametrize("enc", ["gzip", "br", "zstd", "deflate"])
def test_corrupt_body_is_decoding_error(server, enc: str) -> None:
    with requestx.Client() as c:
        with pytest.raises(requestx.DecodingError) as info:
            c.get(server.url + "/compressed", params={"enc": enc, "corrupt": 1})
        assert info.value.request.url.path == "/compressed"
        with pytest.raises(requestx.DecodingError):
            with c.stream("GET", server.url + "/compressed", params={"enc": enc, "corrupt": 1, "chunk": 64}) as r:
                r.read()


def test_unknown_encoding_passes_through(server) -> None:
    with requestx.Client() as c:
        r = c.get(server.url + "/compressed", params={"enc": "identity"})
    assert r.text == TEXT


def test_head_with_content_encoding(server) -> None:
    with requestx.Client() as c:
        r = c.head(server.url + "/compressed", params={"enc": "gzip"})
    assert r.status_code == 200 and r.content == b""


# --- decompression bombs: bounded steps and limits ------------------------------------------------

BOMB_ENCODINGS = ["gzip", "deflate", "br", "zstd", "gzip,gzip"]


@pytest.mark.parametrize("enc", BOMB_ENCODINGS)
def test_a_bomb_streams_in_bounded_pieces(server, enc: str) -> None:
    """64 MiB of zeros from ~64 KiB or less: never one piece bigger than about a MiB (it came out
    as a single chunk of the whole body before)."""
    total, biggest = 0, 0
    with requestx.Client() as c, c.stream("GET", server.url + "/bomb", params={"enc": enc, "mib": 64}) as r:
        for piece in r.iter_bytes():
            total += len(piece)
            biggest = max(biggest, len(piece))
            assert not piece.strip(b"\0")
    assert total == 64 << 20
    assert biggest <= 4 << 20


def test_a_bomb_streams_in_bounded_pieces_async(server, arun) -> None:
    async def main() -> tuple[int, int]:
        total, biggest = 0, 0
        async with requestx.AsyncClient() as c:
            async with c.stream("GET", server.url + "/bomb", params={"enc": "zstd", "mib": 64}) as r:
                async for piece in r.aiter_bytes():
                    total += len(piece)
                    biggest = max(biggest, len(piece))
        return total, biggest

    total, biggest = arun(main)
    assert total == 64 << 20 and biggest <= 4 << 20


@pytest.mark.parametrize("enc", ["gzip", "br", "zstd"])
def test_the_decompressed_size_limit(server, enc: str, arun) -> None:
    limits = requestx.Limits(max_decompressed_size=8 << 20)
    params = {"enc": enc, "mib": 64}
    with requestx.Client(limits=limits) as c:
        with pytest.raises(requestx.DecodingError, match="max_decompressed_size") as info:
            c.get(server.url + "/bomb", params=params)  # decoded whole by the engine
        assert info.value.request.url.path == "/bomb"
        with c.stream("GET", server.url + "/bomb", params=params) as r:
            with pytest.raises(requestx.DecodingError, match="max_decompressed_size"):
                for _ in r.iter_bytes():
                    pass
        assert c.get(server.url + "/compressed", params={"enc": enc}).text == TEXT  # within it: fine

    async def main() -> None:
        async with requestx.AsyncClient(limits=limits) as c:
            with pytest.raises(requestx.DecodingError, match="max_decompressed_size"):
                await c.get(server.url + "/bomb", params=params)
            async with c.stream("GET", server.url + "/bomb", params=params) as r:
                with pytest.raises(requestx.DecodingError, match="max_decompressed_size"):
                    await r.aread()

    arun(main)


def test_the_decompression_ratio_limit(server) -> None:
    limits = requestx.Limits(max_decompression_ratio=100)
    with requestx.Client(limits=limits) as c:
        with pytest.raises(requestx.DecodingError, match="max_decompression_ratio"):
            c.get(server.url + "/bomb", params={"enc": "gzip", "mib": 16})
        assert c.get(server.url + "/compressed", params={"enc": "gzip"}).text == TEXT  # under a MiB


def test_limits_are_validated() -> None:
    for kwargs in ({"max_decompressed_size": -1}, {"max_decompression_ratio": 0.5}, {"max_headers": 0}):
        with pytest.raises(ValueError):
            requestx.Limits(**kwargs)
