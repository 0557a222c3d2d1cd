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
