"""The ASGI app the tests talk to, served by uvicorn (HTTP/1.1) or hypercorn (HTTP/2) on 127.0.0.1.

Endpoints record what the server observed (disconnects, requests in flight) so tests can assert on
the server's side of the conversation instead of on timing.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import typing
import urllib.parse

DISCONNECTED: set[str] = set()
SENT: dict[str, int] = {}
SSE_CASES = {
    "basic": b"data: hello\n\n",
    "multiline": b"event: update\ndata: line 1\ndata: line 2\nid: 42\n\n",
    "crlf": b"data: a\r\ndata: b\r\n\r\ndata: c\rdata: d\r\r",
    "bom": b"\xef\xbb\xbfdata: after bom\n\n",
    "comments": b": a comment\n:another\ndata: x\n\n",
    "no_colon": b"data\n\ndata\ndata\n\n",
    "spaces": b"data:no space\ndata:  two spaces\n\n",
    "id_persists": b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
    "id_nul": b"id: 7\ndata: a\n\nid: x\x00y\ndata: b\n\n",
    "retry": b"retry: 1500\ndata: a\n\nretry: 15x\ndata: b\n\n",
    "no_data": b"event: ping\n\nid: 9\n\ndata: real\n\n",
    "unknown_field": b"foo: bar\ndata: kept\n\n",
    "trailing": b"data: complete\n\ndata: incomplete",
    "utf8": "data: héllo ✓\n\n".encode(),
}
EVENTS: dict[str, asyncio.Event] = {}
STATS = {"in_flight": 0, "max_in_flight": 0}
# /track: per group, requests in flight now and at most, and when each started (monotonic seconds).
MEETINGS: dict[str, int] = {}
BOMBS: dict[tuple[str, int], bytes] = {}
GROUPS: dict[str, dict[str, typing.Any]] = {}
# /flaky: per key, when each call arrived.
FLAKY: dict[str, list[float]] = {}


def _compress(encoding: str, data: bytes) -> bytes:
    import gzip
    import zlib

    if encoding == "gzip":
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "rawdeflate":
        c = zlib.compressobj(wbits=-15)
        return c.compress(data) + c.flush()
    if encoding == "br":
        import brotli

        return brotli.compress(data)
    if encoding == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(data)
    return data


def _event(key: str) -> asyncio.Event:
    if key not in EVENTS:
        EVENTS[key] = asyncio.Event()
    return EVENTS[key]


def blob(size: int, seed: int) -> bytes:
    """The body of /blob: the same bytes for the same size and seed, for the tests to compare."""
    return random.Random(seed).randbytes(size)


async def _wait_event(key: str, query: dict[str, str]) -> None:
    """Waits for event `key`, at most `wait` seconds (5 by default)."""
    try:
        await asyncio.wait_for(_event(key).wait(), float(query.get("wait", "5")))
    except asyncio.TimeoutError:
        pass


async def _body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _respond(send, status: int, body: bytes = b"", headers=(), content_type=b"text/plain") -> None:
    hdrs = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    hdrs.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


async def _json(send, obj, status: int = 200, headers=()) -> None:
    await _respond(send, status, json.dumps(obj).encode(), headers, b"application/json")


def _record_disconnect(key: str) -> None:
    DISCONNECTED.add(key)
    _event("disconnect:" + key).set()


async def _wait_disconnect(receive, key: str) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            _record_disconnect(key)
            return


async def serve_lifespan(receive, send) -> None:
    """Answers the ASGI lifespan protocol (startup, shutdown) with nothing to do."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        await serve_lifespan(receive, send)
        return
    path = scope["path"]
    query = dict(urllib.parse.parse_qsl(scope["query_string"].decode()))
    STATS["in_flight"] += 1
    STATS["max_in_flight"] = max(STATS["max_in_flight"], STATS["in_flight"])
    try:
        await _route(scope, receive, send, path, query)
    finally:
        STATS["in_flight"] -= 1


async def _route(scope, receive, send, path: str, query: dict[str, str]) -> None:
    if path == "/small":
        await _respond(send, 200, b"x" * 100)
    elif path == "/echo":
        body = await _body(receive)
        await _json(
            send,
            {
                "method": scope["method"],
                "path": path,
                "query": scope["query_string"].decode(),
                "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
                "body": body.decode("latin-1"),
                "http_version": scope["http_version"],
            },
        )
    elif path.startswith("/status/"):
        await _respond(send, int(path.rsplit("/", 1)[1]), b"status")
    elif path.startswith("/redirect/"):
        n = int(path.rsplit("/", 1)[1])
        target = "/echo" if n <= 0 else f"/redirect/{n - 1}"
        await _respond(send, 302, b"", [(b"location", target.encode())])
    elif path == "/redirect-to":
        status = int(query.get("status", "302"))
        await _respond(send, status, b"", [(b"location", query["url"].encode())])
    elif path == "/slow":
        await asyncio.sleep(float(query.get("delay", "0.5")))
        await _respond(send, 200, b"slow")
    elif path == "/hang":
        # Never answers; records when the client goes away.
        _event("start:" + query["id"]).set()
        await _wait_disconnect(receive, query["id"])
    elif path == "/started":
        # Waits (bounded) until /hang?id=... has arrived.
        await _wait_event("start:" + query["id"], query)
        await _json(send, {"started": _event("start:" + query["id"]).is_set()})
    elif path == "/disconnected":
        # Waits (bounded) for the disconnect of `id`, so tests need no sleeps of their own.
        await _wait_event("disconnect:" + query["id"], query)
        await _json(send, {"disconnected": query["id"] in DISCONNECTED})
    elif path == "/meet":
        # Answers once `n` requests of `group` are in at the same time (bounded): concurrency proven.
        key = "meet:" + query["group"]
        MEETINGS[key] = MEETINGS.get(key, 0) + 1
        if MEETINGS[key] >= int(query["n"]):
            _event(key).set()
        await _wait_event(key, query)
        await _json(send, {"met": _event(key).is_set()})
    elif path == "/peer":
        # The client's address: one port per connection, so tests can count connections.
        await _json(send, {"port": scope["client"][1], "http_version": scope["http_version"]})
    elif path == "/stats":
        await _json(send, dict(STATS))
    elif path == "/text":
        charset = query.get("charset")
        text = query.get("text", "héllo wörld")
        ctype = f"text/plain; charset={charset}" if charset else "text/plain"
        await _respond(send, 200, text.encode(charset or "utf-8"), content_type=ctype.encode())
    elif path == "/pieces":
        # The text in the given charset, sent `split` bytes per body message.
        charset = query.get("charset", "utf-8")
        body = query["text"].encode(charset)
        step = int(query.get("split", "1"))
        ctype = f"text/plain; charset={charset}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", ctype)]})
        for i in range(0, len(body), step):
            await send({"type": "http.response.body", "body": body[i : i + step], "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/json":
        doc = {"items": [{"id": i, "name": f"n{i}", "ok": i % 2 == 0, "score": i / 3, "tags": None} for i in range(50)]}
        await _json(send, doc)
    elif path == "/stream":
        n = int(query.get("chunks", "10"))
        size = int(query.get("size", "10"))
        delay = float(query.get("delay", "0"))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for i in range(n):
            await send({"type": "http.response.body", "body": (b"%d" % (i % 10)) * size + b"\n", "more_body": True})
            if delay:
                await asyncio.sleep(delay)
        await send({"type": "http.response.body", "body": b""})
    elif path == "/blob":
        # `size` seeded random bytes in uneven pieces, with a Content-Length unless `nolength`.
        size, piece = int(query["size"]), int(query.get("chunk", "65536"))
        body = blob(size, int(query.get("seed", "0")))
        headers = [(b"content-type", b"application/octet-stream")]
        if not query.get("nolength"):
            headers.append((b"content-length", str(size).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        at, step = 0, 0
        while at < size:
            n = (piece, piece // 3 + 1, 7)[step % 3]
            await send({"type": "http.response.body", "body": body[at : at + n], "more_body": True})
            at, step = at + n, step + 1
        await send({"type": "http.response.body", "body": b""})
    elif path == "/gate":
        # First chunk, then the rest only once /open?id= was called: proves incremental delivery.
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"first\n", "more_body": True})
        try:
            await asyncio.wait_for(_event("gate:" + query["id"]).wait(), 10)
            tail = b"rest\n"
        except asyncio.TimeoutError:
            tail = b"timeout\n"
        await send({"type": "http.response.body", "body": tail})
    elif path == "/open":
        _event("gate:" + query["id"]).set()
        await _respond(send, 200, b"opened")
    elif path == "/firehose":
        # Streams `total` bytes in `chunk`-sized pieces (each ending a line if `lines`), counting
        # what it managed to hand over.
        key, total, size = query["id"], int(query["total"]), int(query.get("chunk", "65536"))
        SENT[key] = 0
        watcher = asyncio.ensure_future(_wait_disconnect(receive, key))
        block = b"z" * (size - 1) + (b"\n" if query.get("lines") else b"z")
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(total).encode())]}
        )
        while SENT[key] < total and key not in DISCONNECTED:
            piece = block[: min(size, total - SENT[key])]
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            SENT[key] += len(piece)
            await asyncio.sleep(0)  # let the disconnect watcher run: send() is a no-op once gone
        if key not in DISCONNECTED:
            await send({"type": "http.response.body", "body": b""})
        watcher.cancel()
    elif path == "/sent":
        # The byte count of a firehose once it has stopped moving (bounded wait), so tests need no sleeps.
        key, last, still = query["id"], -1, 0
        for _ in range(100):
            now = SENT.get(key, 0)
            still = still + 1 if now == last else 0
            if still >= 5:
                break
            last = now
            await asyncio.sleep(0.05)
        await _json(send, {"sent": SENT.get(key, 0)})
    elif path == "/upload":
        # Counts the body without keeping it.
        key = query.get("id", "")
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                _record_disconnect(key)
                return
            total += len(message.get("body", b""))
            if total:
                _event("upload:" + key).set()
            if not message.get("more_body"):
                break
        await _json(send, {"received": total})
    elif path == "/noread":
        # Never reads the request body (uvicorn then stops reading the socket), answers after 10 s.
        await asyncio.sleep(10)
        await _respond(send, 200, b"late")
    elif path == "/upload-started":
        try:
            await asyncio.wait_for(_event("upload:" + query["id"]).wait(), 5)
        except asyncio.TimeoutError:
            pass
        await _json(send, {"started": _event("upload:" + query["id"]).is_set()})
    elif path == "/sse":
        body = SSE_CASES[query["case"]]
        ctype = query.get("type", "text/event-stream; charset=utf-8").encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", ctype)]})
        step = int(query.get("split", "0")) or len(body)
        for i in range(0, len(body), step):
            await send({"type": "http.response.body", "body": body[i : i + step], "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/sse-resume":
        last = dict(scope["headers"]).get(b"last-event-id", b"").decode()
        start = int(last or "0") + 1
        body = b"".join(b"id: %d\ndata: event %d\n\n" % (i, i) for i in range(start, start + 3))
        await _respond(send, 200, body, content_type=b"text/event-stream")
    elif path == "/compressed":
        # `enc` is applied left to right, as a server stacking encodings would.
        body = query.get("text", "compressible " * 2000).encode()
        encodings = [e for e in query.get("enc", "").split(",") if e]
        for enc in encodings:
            body = _compress(enc, body)
        chunk = int(query.get("chunk", "0")) or len(body) or 1
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        if encodings:
            headers.append((b"content-encoding", ", ".join(encodings).encode()))
        if query.get("corrupt"):
            body = body[: len(body) // 2] + b"garbage" * 10
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i in range(0, len(body), chunk):
            await send({"type": "http.response.body", "body": body[i : i + chunk], "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/bomb":
        # `mib` MiB of zeros, compressed with `enc` (a decompression bomb: ~1000:1 or better).
        key = (query["enc"], int(query["mib"]))
        if key not in BOMBS:
            body = bytes(key[1] << 20)
            for enc in key[0].split(","):
                body = _compress(enc, body)
            BOMBS[key] = body
        body = BOMBS[key]
        headers = [
            (b"content-type", b"application/octet-stream"),
            (b"content-encoding", key[0].replace(",", ", ").encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i in range(0, len(body), 16384):
            await send({"type": "http.response.body", "body": body[i : i + 16384], "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/digest":
        # An independent RFC 7616 check (user "user", password "pass"), not the client's code.
        import hashlib
        import re

        algorithm = query.get("algorithm", "MD5")
        hash_fn = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256, "SHA-512": hashlib.sha512}[
            algorithm.split("-SESS")[0]
        ]
        challenge = f'Digest realm="tests", qop="auth", nonce="n0nce", opaque="op", algorithm={algorithm}'
        header = dict(scope["headers"]).get(b"authorization", b"").decode()
        if not header.startswith("Digest "):
            await _respond(send, 401, b"auth please", [(b"www-authenticate", challenge.encode())])
            return
        got = {k: a or b for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', header[7:])}

        def h(text: str) -> str:
            return hash_fn(text.encode()).hexdigest()

        ha1 = h("user:tests:pass")
        if algorithm.endswith("-SESS"):
            ha1 = h(f"{ha1}:n0nce:{got['cnonce']}")
        ha2 = h(f"{scope['method']}:{got['uri']}")
        expected = h(f"{ha1}:n0nce:{got['nc']}:{got['cnonce']}:auth:{ha2}")
        ok = got.get("response") == expected and got.get("opaque") == "op" and got.get("username") == "user"
        await _json(send, {"authenticated": ok, "uri": got.get("uri")}, status=200 if ok else 403)
    elif path == "/set-cookie":
        await _respond(send, 200, b"ok", [(b"set-cookie", f"{query['name']}={query['value']}; Path=/".encode())])
    elif path == "/cookies":
        cookie = dict(scope["headers"]).get(b"cookie", b"").decode()
        await _json(send, {"cookie": cookie})
    elif path == "/track":
        # Counts the group's requests in flight (the pool tests' concurrency bound) and their starts.
        group = GROUPS.setdefault(query["group"], {"in": 0, "max": 0, "starts": []})
        group["in"] += 1
        group["max"] = max(group["max"], group["in"])
        group["starts"].append(time.monotonic())
        try:
            await asyncio.sleep(float(query.get("delay", "0")))
        finally:
            group["in"] -= 1
        await _json(send, {"i": query.get("i")})
    elif path == "/track-stats":
        group = GROUPS.get(query["group"], {"in": 0, "max": 0, "starts": []})
        await _json(send, {"max": group["max"], "starts": group["starts"], "count": len(group["starts"])})
    elif path == "/flaky":
        # Fails the first `fail` calls of `key` with `status` (and Retry-After when given), then succeeds.
        calls = FLAKY.setdefault(query["key"], [])
        calls.append(time.monotonic())
        if len(calls) <= int(query.get("fail", "1")):
            headers = [(b"retry-after", query["retry_after"].encode())] if "retry_after" in query else []
            await _respond(send, int(query.get("status", "503")), b"busy", headers)
        else:
            await _respond(send, 200, b"ok")
    elif path == "/flaky-stats":
        await _json(send, {"calls": FLAKY.get(query["key"], [])})
    else:
        await _respond(send, 404, b"not found")
