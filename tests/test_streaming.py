"""Streaming with backpressure, early exit, per-read timeouts, streamed uploads and 1 GiB transfers
with flat memory, under threads, asyncio and trio."""

from __future__ import annotations

import urllib.request
import uuid

import pytest

import requestx

MIB = 1 << 20


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def get_json(url: str) -> dict:
    import json

    with urllib.request.urlopen(url, timeout=15) as r:
        return json.loads(r.read())


def test_incremental_delivery_sync(server) -> None:
    key = uuid.uuid4().hex
    with requestx.Client(timeout=30) as c, c.stream("GET", server.url + "/gate", params={"id": key}) as r:
        lines = r.iter_lines()
        assert next(lines) == "first"  # a client that buffered the body would wait 10 s here, then read "timeout"
        c.get(server.url + "/open", params={"id": key})
        assert next(lines) == "rest"


def test_incremental_delivery_async(server, arun) -> None:
    async def main() -> None:
        key = uuid.uuid4().hex
        async with (
            requestx.AsyncClient(timeout=30) as c,
            c.stream("GET", server.url + "/gate", params={"id": key}) as r,
        ):
            lines = r.aiter_lines()
            assert await lines.__anext__() == "first"
            await c.get(server.url + "/open", params={"id": key})
            assert await lines.__anext__() == "rest"

    arun(main)


def test_backpressure_slows_the_server(server) -> None:
    key = uuid.uuid4().hex
    total = 256 * MIB
    with (
        requestx.Client(timeout=30) as c,
        c.stream("GET", server.url + "/firehose", params={"id": key, "total": total}) as r,
    ):
        chunks = r.iter_bytes()
        first = next(chunks)
        assert first
        sent = get_json(f"{server.url}/sent?id={key}")["sent"]
        # Kernel socket buffers plus the engine's few-chunk buffer: megabytes, not the whole body.
        assert sent < 48 * MIB, sent
        received = len(first) + sum(len(chunk) for chunk in chunks)
    assert received == total


def test_early_exit_closes_the_connection(server, arun) -> None:
    key = uuid.uuid4().hex

    async def main() -> None:
        async with requestx.AsyncClient(timeout=30) as c:
            async with c.stream("GET", server.url + "/firehose", params={"id": key, "total": 1 << 30}) as r:
                async for _chunk in r.aiter_bytes():
                    break
            assert (await c.get(server.url + "/small")).status_code == 200

    arun(main)
    assert get_json(f"{server.url}/disconnected?id={key}&wait=5")["disconnected"]


def test_cancel_while_streaming_closes_the_connection(server, arun) -> None:
    key = uuid.uuid4().hex

    async def main() -> None:
        async with requestx.AsyncClient(timeout=30) as c:

            async def slow_reader() -> None:
                async with c.stream("GET", server.url + "/stream", params={"chunks": 1000, "delay": 0.05}) as r:
                    async for _chunk in r.aiter_bytes():
                        pass

            async def firehose() -> None:
                async with c.stream("GET", server.url + "/firehose", params={"id": key, "total": 1 << 30}) as r:
                    async for _chunk in r.aiter_bytes():
                        await arun.sleep(0.001)

            assert await arun.cancel_after(0.3, firehose)
            assert await arun.cancel_after(0.2, slow_reader)

    arun(main)
    assert get_json(f"{server.url}/disconnected?id={key}&wait=5")["disconnected"]


def test_stalled_stream_read_timeout_sync(raw_server) -> None:
    with requestx.Client(timeout=0.3) as c, c.stream("GET", raw_server.url + "/stall") as r:
        assert r.status_code == 200
        with pytest.raises(requestx.ReadTimeout):
            r.read()


def test_stalled_stream_read_timeout_async(raw_server, arun) -> None:
    async def main() -> None:
        async with requestx.AsyncClient(timeout=0.3) as c, c.stream("GET", raw_server.url + "/stall") as r:
            with pytest.raises(requestx.ReadTimeout):
                await r.aread()

    arun(main)


# Every line break str.splitlines (and so httpx) knows, a CRLF, an empty line, multi-byte text.
LINES_TEXT = "a\r\nb\rc\nd\x0be\x0cf\x1cg\x1dh\x1ei\x85j\u2028k\u2029l\n\nm é✓ \U0001f600 end\r"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le", "latin-1"])
def test_line_decoders_at_every_split_point(encoding: str) -> None:
    from requestx._models import LineDecoder, _TextLines

    text = LINES_TEXT if encoding != "latin-1" else LINES_TEXT.encode("latin-1", "replace").decode("latin-1")
    body = text.encode(encoding)
    for cut in range(len(body) + 1):
        lines = LineDecoder() if encoding == "utf-8" else _TextLines(encoding)
        out = lines.feed(body[:cut]) + lines.feed(body[cut:]) + lines.flush()
        assert out == text.splitlines(), (encoding, cut)


def test_line_decoder_replaces_invalid_utf8() -> None:
    from requestx._models import LineDecoder

    lines = LineDecoder()
    assert lines.feed(b"ok\xff\n\xe2") + lines.feed(b"\x82\xac\n\xe2\x82") + lines.flush() == [
        "ok\ufffd",
        "\u20ac",
        "\ufffd",
    ]


@pytest.mark.parametrize("charset", ["utf-8", "utf-16-le"])
@pytest.mark.parametrize("split", [1, 3, 1000])
def test_iter_lines_across_chunk_boundaries(server, arun, charset: str, split: int) -> None:
    params = {"text": LINES_TEXT, "charset": charset, "split": str(split)}
    expected = LINES_TEXT.splitlines()
    with requestx.Client() as c, c.stream("GET", server.url + "/pieces", params=params) as r:
        assert list(r.iter_lines()) == expected

    async def main() -> list[str]:
        async with requestx.AsyncClient() as c, c.stream("GET", server.url + "/pieces", params=params) as r:
            return [line async for line in r.aiter_lines()]

    assert arun(main) == expected


def test_aiter_lines_iterator_protocol(server, arun) -> None:
    # aiter_lines() of a UTF-8 body is a native async iterator: check it behaves as one.
    params = {"text": "one\ntwo\nthree", "split": "2"}

    async def main() -> None:
        async with requestx.AsyncClient() as c, c.stream("GET", server.url + "/pieces", params=params) as r:
            lines = r.aiter_lines()
            assert lines.__aiter__() is lines
            assert await lines.__anext__() == "one"
            assert await anext(lines) == "two"
            assert [line async for line in lines] == ["three"]
            for _ in range(2):  # exhausted for good
                with pytest.raises(StopAsyncIteration):
                    await lines.__anext__()
            with pytest.raises(requestx.StreamConsumed):
                await anext(r.aiter_lines())  # a new one needs the body again
        async with requestx.AsyncClient() as c, c.stream("GET", server.url + "/pieces", params=params) as r:
            lines = r.aiter_lines()
            assert await anext(lines) == "one"
            await lines.aclose()  # as an async generator's: nothing more comes out
            with pytest.raises(StopAsyncIteration):
                await anext(lines)

    arun(main)


def test_aiter_lines_under_a_tracer(server, arun) -> None:
    # A trace function makes CPython await through __next__/StopIteration instead of am_send.
    import sys

    def tracer(frame: object, event: str, arg: object) -> object:
        return tracer

    params = {"text": LINES_TEXT, "split": "3"}

    async def main() -> list[str]:
        sys.settrace(tracer)
        try:
            async with requestx.AsyncClient() as c, c.stream("GET", server.url + "/pieces", params=params) as r:
                return [line async for line in r.aiter_lines()]
        finally:
            sys.settrace(None)

    assert arun(main) == LINES_TEXT.splitlines()


def test_aiter_lines_error_mid_body(raw_server, arun) -> None:
    async def main() -> list[str]:
        seen = []
        async with requestx.AsyncClient() as c, c.stream("GET", raw_server.url + "/truncated") as r:
            with pytest.raises(requestx.RemoteProtocolError):
                async for line in r.aiter_lines():
                    seen.append(line)
        return seen

    assert arun(main) == []


def test_aiter_lines_cancelled_mid_stream(server, arun) -> None:
    key = uuid.uuid4().hex

    async def main() -> None:
        async with requestx.AsyncClient() as c:
            params = {"id": key, "total": 1 << 30, "chunk": 100, "lines": 1}

            async def read_lines() -> None:
                async with c.stream("GET", server.url + "/firehose", params=params) as r:
                    async for _line in r.aiter_lines():
                        await arun.sleep(0)

            assert await arun.cancel_after(0.3, read_lines)

    arun(main)
    assert get_json(f"{server.url}/disconnected?id={key}&wait=5")["disconnected"]


def test_aiter_lines_in_a_reference_cycle_is_collected(server, arun) -> None:
    import gc
    import weakref

    async def main() -> weakref.ref[requestx.Response]:
        async with requestx.AsyncClient() as c:
            r = await c.get(server.url + "/pieces", params={"text": "a\nb"})
            lines = r.aiter_lines()
            assert await anext(lines) == "a"
            r.held = lines  # response -> iterator -> source -> aiter_bytes -> response
            return weakref.ref(r)

    gone = arun(main)
    gc.collect()
    assert gone() is None


def test_iter_text_multibyte_split(server) -> None:
    text = "é✓" * 1000
    with requestx.Client() as c, c.stream("GET", server.url + "/text", params={"text": text}) as r:
        assert "".join(r.iter_text(chunk_size=7)) == text


def test_streamed_upload_sync_generator(server) -> None:
    def body():
        for i in range(100):
            yield bytes([i % 256]) * 10_000

    with requestx.Client() as c:
        assert c.post(server.url + "/upload", content=body()).json() == {"received": 1_000_000}


def test_streamed_upload_file_object(server, tmp_path) -> None:
    path = tmp_path / "payload.bin"
    path.write_bytes(b"q" * (3 * MIB + 17))
    with requestx.Client() as c, open(path, "rb") as f:
        assert c.put(server.url + "/upload", content=f).json() == {"received": 3 * MIB + 17}


def test_streamed_upload_async_generator(server, arun) -> None:
    async def main() -> None:
        async def body():
            for _ in range(50):
                yield b"a" * 20_000

        async with requestx.AsyncClient() as c:
            assert (await c.post(server.url + "/upload", content=body())).json() == {"received": 1_000_000}

    arun(main)


def test_upload_iterator_exception_propagates_and_aborts(server) -> None:
    class Boom(Exception):
        pass

    key = uuid.uuid4().hex

    def body():
        yield b"x" * 1000
        # Raise only once the server is reading this body, so it can see the request go away.
        assert get_json(f"{server.url}/upload-started?id={key}")["started"]
        raise Boom("from the iterator")

    with requestx.Client() as c:
        with pytest.raises(Boom, match="from the iterator"):
            c.post(server.url + "/upload", params={"id": key}, content=body())
        assert c.get(server.url + "/small").status_code == 200
    assert get_json(f"{server.url}/disconnected?id={key}&wait=5")["disconnected"]


def test_upload_iterator_exception_async(server, arun) -> None:
    async def main() -> None:
        async def body():
            yield b"x"
            raise KeyError("boom")

        async with requestx.AsyncClient() as c:
            with pytest.raises(KeyError):
                await c.post(server.url + "/upload", content=body())

    arun(main)


def test_upload_write_timeout(server) -> None:
    def endless():
        block = b"w" * MIB
        for _ in range(1024):
            yield block

    with requestx.Client(timeout=requestx.Timeout(30, write=0.5)) as c, pytest.raises(requestx.WriteTimeout):
        c.post(server.url + "/noread", content=endless())


def test_download_1gib_flat_memory_sync(server) -> None:
    total = 1 << 30
    key = uuid.uuid4().hex
    baseline = rss_bytes()
    peak = baseline
    received = 0
    with (
        requestx.Client(timeout=30) as c,
        c.stream("GET", server.url + "/firehose", params={"id": key, "total": total, "chunk": MIB}) as r,
    ):
        for i, chunk in enumerate(r.iter_bytes()):
            received += len(chunk)
            if i % 64 == 0:
                peak = max(peak, rss_bytes())
    assert received == total
    assert peak - baseline < 64 * MIB, (peak - baseline) / MIB


def test_download_1gib_flat_memory_async(server, arun) -> None:
    if arun.name not in ("asyncio", "trio"):
        pytest.skip("one 1 GiB transfer per event-loop library")

    async def main() -> tuple[int, int]:
        total, key = 1 << 30, uuid.uuid4().hex
        baseline = peak = rss_bytes()
        received = 0
        async with (
            requestx.AsyncClient(timeout=30) as c,
            c.stream("GET", server.url + "/firehose", params={"id": key, "total": total, "chunk": MIB}) as r,
        ):
            i = 0
            async for chunk in r.aiter_bytes():
                received += len(chunk)
                i += 1
                if i % 64 == 0:
                    peak = max(peak, rss_bytes())
        assert received == total
        return baseline, peak

    baseline, peak = arun(main)
    assert peak - baseline < 64 * MIB, (peak - baseline) / MIB


def test_upload_1gib_flat_memory(server, arun) -> None:
    if arun.name not in ("asyncio", "trio"):
        pytest.skip("one 1 GiB transfer per event-loop library")
    block = b"u" * MIB
    state = {"peak": 0}

    async def body():
        for i in range(1024):
            if i % 64 == 0:
                state["peak"] = max(state["peak"], rss_bytes())
            yield block

    async def main() -> None:
        async with requestx.AsyncClient(timeout=60) as c:
            r = await c.post(server.url + "/upload", content=body())
            assert r.json() == {"received": 1 << 30}

    baseline = rss_bytes()
    arun(main)
    assert state["peak"] - baseline < 64 * MIB


def test_upload_1gib_flat_memory_sync(server) -> None:
    block = b"u" * MIB
    baseline = rss_bytes()
    state = {"peak": baseline}

    def body():
        for i in range(1024):
            if i % 64 == 0:
                state["peak"] = max(state["peak"], rss_bytes())
            yield block

    with requestx.Client(timeout=60) as c:
        assert c.post(server.url + "/upload", content=body()).json() == {"received": 1 << 30}
    assert state["peak"] - baseline < 64 * MIB
