"""Writes the seed corpora of the cargo-fuzz targets (fuzz/corpus/<target>/), deterministically:
`python fuzz/make_seeds.py` (brotli and zstandard come with the `fuzz` extra). The input formats
are those documented at the top of each fuzz_targets/<target>.rs.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib

import brotli
import zstandard

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target: str, name: str, data: bytes) -> None:
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def sse() -> None:
    chat = "".join(
        "data: " + json.dumps({"id": "c1", "choices": [{"delta": {"content": word}, "index": 0}]}) + "\n\n"
        for word in ["Hel", "lo", " wörld", " ☃"]
    )
    streams = {
        "openai": (chat + "data: [DONE]\n\n").encode(),
        "anthropic": (
            b'event: message_start\ndata: {"type": "message_start"}\n\n'
            b'event: ping\ndata: {"type": "ping"}\n\n'
            b'event: content_block_delta\ndata: {"delta": {"text": "Hi"}}\n\n'
            b'event: message_stop\ndata: {"type": "message_stop"}\n\n'
        ),
        "crlf": b"id: 1\r\nevent: update\r\ndata: line one\r\ndata: line two\r\n\r\n: keep-alive\r\n\r\n",
        "cr-only": b"data: a\rdata: b\r\rretry: 3000\r\r",
        "bom": b"\xef\xbb\xbf: comment\nevent: x\ndata\nid: 7\n\n",
        "fields": b"retry: 10x\ndata: a\n\nretry: 25\ndata:  two spaces\n\nid: x\x00y\n\nfoo: bar\n\nevent:\n\n",
        "id-persists": b"id: 42\ndata: first\n\ndata: second\n\nid\ndata: cleared\n\n",
        "unfinished": b"data: done\n\ndata: never finished",
        "invalid-utf8": b"data: \xff\xfe caf\xc3\xa9 \xe2\x82\n\nevent: \xc3\n\n",
        "retry-overflow": b"retry: 99999999999999999999\ndata: x\n\n",
    }
    # (split seed, limit byte): whole, byte by byte, random cuts; no limit, 10 bytes, 0 bytes, 2 KiB.
    for name, stream in streams.items():
        write("sse", name, b"\x00\x00" + stream)
    write("sse", "openai-cut", b"\x16\x00" + streams["openai"])
    write("sse", "crlf-bytes", b"\x01\x00" + streams["crlf"])
    write("sse", "anthropic-limit", b"\x22\x20" + streams["anthropic"])
    write("sse", "fields-limit0", b"\x02\xff" + streams["fields"])
    write("sse", "bom-cut", b"\x03\x7f" + streams["bom"])
    write("sse", "long-comment-limit", b"\x0a\x0a: a comment longer than the limit\ndata: ok\n\n")
    # Regressions the fuzzer found, fixed (d53d387) and kept as seeds: seed 0x32 cuts this stream
    # as "data: a\r", "", "\ndata:", " b\n\n" (the LF after the empty chunk ended a second line); a
    # BOM arriving a byte at a time passed max_event_size=0.
    write("sse", "regression-empty-chunk-after-cr", b"\x32\x00data: a\r\ndata: b\n\n")
    write("sse", "regression-split-bom-limit", b"\x03\xff\xef\xbb\xbf")


def lines() -> None:
    bodies = {
        "mixed": b"a\nb\r\nc\rd\x0be\x0cf\x1cg\x1dh\x1ei\xc2\x85j\xe2\x80\xa8k\xe2\x80\xa9l\n\nm",
        "crlf": b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "cr-end": b"one\rtwo\r",
        "utf8": "héllo wörld\n日本語\n🎉 party\n".encode(),
        "invalid-utf8": b"a\xffb\n\xe2\x82\n\xed\xa0\x80\n\xf0\x9f\x98",
        "ndjson": b'{"a": 1}\n{"a": 2}\n{"a": 3}\n',
        "empty-lines": b"\n\n\r\n\r\r\n",
    }
    for name, body in bodies.items():
        write("lines", name, b"\x00" + body)
    write("lines", "mixed-bytes", b"\x01" + bodies["mixed"])
    write("lines", "utf8-cut", b"\x0e" + bodies["utf8"])
    write("lines", "crlf-cut", b"\x06" + bodies["crlf"])
    # Regression the fuzzer found, fixed (d53d387) and kept as a seed: cut as "", "", "", "\r", "", ...,
    # "\n", "\n"; the LF after the empty chunks ended a second line.
    write("lines", "regression-empty-chunk-after-cr", b"\x03\r\n\n")


def json_docs() -> None:
    records = [{"id": i, "name": f"user{i}", "score": i * 1.5, "tags": ["a", "b"], "ok": i % 2 == 0} for i in range(8)]
    wide = {f"key{i}": i for i in range(70)}  # past the 64 keys `KeyCache` keeps
    docs = {
        "records": json.dumps(records),
        "wide": json.dumps([wide, wide]),
        "nested": '{"a": {"b": {"c": [1, [2, [3, {"d": null}]]]}}, "e": true, "f": false}',
        "numbers": "[0, -0, 1, -1, 9223372036854775807, -9223372036854775808, 18446744073709551615, "
        "18446744073709551616, 1.5, -2.5e-3, 1E10, 5e-324, 2.2250738585072011e-308, 1.7976931348623157e308]",
        "strings": r'["plain", "esc \" \\ \/ \b \f \n \r \t", "\u00e9\u4e2d", "\ud83d\ude00", "é中😀"]',
        "duplicates": '{"a": 1, "b": 2, "a": 3}',
        "deep-127": "[" * 127 + "]" * 127,
        "deep-128": "[" * 128 + "]" * 128,
        "whitespace": ' \t\n\r{ "a" :\n[ 1 ,2 ] } \n',
        "scalars": '"just a string"',
        "nan": "[NaN, Infinity, -Infinity]",
        "huge": "1e400",
        # Regression (fails with REQUESTX_FUZZ_STRICT=1 until fixed): json.loads reads the largest float.
        "regression-near-max-float": "[1.7976931348623158e308, 1.79769313486231581e308]",
        "regression-float-2-steps": "[700017666319277000176663192728167000176663192462, 7.00017666319277e47]",
        "lone-surrogate": r'"\ud800"',
        "trailing-comma": "[1, 2,]",
        "unterminated": '{"a": "éé',
        "control-char": '"a\tb"',
        "garbage": "tru",
    }
    for name, doc in docs.items():
        write("json", name, doc.encode())
    write("json", "bom", b"\xef\xbb\xbf" + b'{"a": 1}')
    write("json", "utf16", '{"a": 1}'.encode("utf-16-le"))
    write("json", "invalid-utf8", b'["\xff"]')


def decode() -> None:
    text = b"".join(b"line %d: the quick brown fox jumps over the lazy dog\n" % i for i in range(60))

    def raw_deflate(data: bytes) -> bytes:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        return c.compress(data) + c.flush()

    def gz(data: bytes) -> bytes:
        return gzip.compress(data, mtime=0)

    bodies = {
        "gzip": (b"gzip", gz(text)),
        "x-gzip": (b"x-gzip", gz(text)),
        "gzip-members": (b"gzip", gz(text[:500]) + gz(text[500:])),
        "deflate-zlib": (b"deflate", zlib.compress(text)),
        "deflate-raw": (b"deflate", raw_deflate(text)),
        "br": (b"br", brotli.compress(text)),
        "zstd": (b"zstd", zstandard.ZstdCompressor().compress(text)),
        "gzip-br": (b"gzip, br", brotli.compress(gz(text))),
        "deflate-zstd-gzip": (b"deflate, zstd, gzip", gz(zstandard.ZstdCompressor().compress(zlib.compress(text)))),
        "case-identity": (b" Identity , GZIP ", gz(text)),
        "unknown": (b"compress", b"not compressed at all"),
        "truncated-gzip": (b"gzip", gz(text)[:-20]),
        "corrupt-br": (b"br", brotli.compress(text)[:40] + b"\x00garbage"),
        "bomb-gzip": (b"gzip", gz(bytes(3 << 19))),
        "bomb-br": (b"br", brotli.compress(bytes(3 << 19))),
        "bomb-zstd": (b"zstd", zstandard.ZstdCompressor().compress(bytes(3 << 19))),
    }
    # Config byte: max_size index | max_ratio index << 3 | 0x40 round trip | 0x80 the Python Decoder too.
    for name, (header, body) in bodies.items():
        write("decode", name, b"\x00\x00" + header + b"\n" + body)
    write("decode", "gzip-cut", b"\x1a\x80gzip\n" + gz(text))
    write("decode", "br-bytes", b"\x01\x00br\n" + brotli.compress(text[:300]))
    write("decode", "zstd-cut", b"\x0e\x00zstd\n" + zstandard.ZstdCompressor().compress(text))
    write("decode", "deflate-raw-cut", b"\x02\x00deflate\n" + raw_deflate(text))
    write("decode", "bomb-size-limit", b"\x06\x03gzip\n" + gz(bytes(3 << 19)))
    write("decode", "bomb-ratio-limit", b"\x0a\x20br\n" + brotli.compress(bytes(3 << 19)))
    write("decode", "bomb-limits-python", b"\x00\xa5zstd\n" + zstandard.ZstdCompressor().compress(bytes(3 << 19)))
    write("decode", "roundtrip-gzip", b"\x06\x40gzip\n" + text[:400])
    write("decode", "roundtrip-stack", b"\x0b\x40gzip, deflate, zstd\n" + text[:300])
    write("decode", "roundtrip-deflate", b"\x02\xc0deflate\n" + text[:301])


def headers() -> None:
    # One header a line, the first ':' ends the name; \x10 escapes the next byte (XOR 0x40).
    blocks = {
        "request": b"Host:example.com\nUser-Agent:requestx/0.1\nAccept:*/*\nAccept-Encoding:gzip, deflate, br, zstd",
        "repeated": b"Set-Cookie:a=1\nX-Trace:1\nset-cookie:b=2\nSET-COOKIE:c=3",
        "odd-values": b"X-Empty:\nX-Tab:a\tb\nX-Space: padded \nX-Latin1:caf\xe9\nX-Obs:\x80\xff",
        "tokens": b"!#$%&'*+-.^_`|~09azAZ:ok",
        "bad-name": b"Good:1\nBad Name:2",
        "bad-value-cr": b"X-A:ok\nX-B:evil\x10Minjected",
        "bad-value-nul": b"X-A:nul\x10@here",
        "bad-value-del": b"X-A:\x7f",
        "colon-in-name": b"X\x10zY:1",
        "empty-name": b":value",
        "newline-in-value": b"X-A:line\x10Jnext",
    }
    for name, block in blocks.items():
        write("headers", name, block)


if __name__ == "__main__":
    sse()
    lines()
    json_docs()
    decode()
    headers()
