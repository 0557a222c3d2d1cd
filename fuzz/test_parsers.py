"""Property-based fuzzing of what parses untrusted input: URLs, headers, cookies and query strings
(Python), and the Rust decoders reached through them (Content-Encoding, lines, server-sent events,
JSON). Each target asserts that hostile input ends in a documented exception, never another one,
a crash or a hang. Not in CI's default path: `nox -s fuzz` runs `FUZZ_EXAMPLES` examples per
target (20,000 by default, about a minute each); a failure found becomes a regression test in tests/.
"""

from __future__ import annotations

import os
import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import requestx
from requestx._requestx import Decoder, LineDecoder, SseDecoder, json_loads

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20000"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)


URL_ALPHABET = st.characters(codec="utf-8") | st.sampled_from(list(":/?#[]@!$&'()*+,;=%.-_~ \\\t\n0123456789"))
url_text = st.one_of(
    st.text(URL_ALPHABET, max_size=80),
    st.builds(
        lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
        st.sampled_from(["http", "https", "HTTP", "ftp", ""]),
        st.text(URL_ALPHABET, max_size=30),
        st.one_of(st.just(""), st.text("0123456789:abc", max_size=8).map(lambda p: ":" + p)),
        st.text(URL_ALPHABET, max_size=30),
    ),
)


@FUZZ
@given(url_text)
def test_urls(text: str) -> None:
    try:
        url = requestx.URL(text)
    except requestx.InvalidURL:
        return
    # A URL that was built reads back, copies and joins without any other exception.
    assert isinstance((str(url), url.host, url.port, url.path, url.raw_path, url.netloc, url.params), tuple)
    try:
        url.join("../x?y#z")
        url.copy_with(path="/p")
    except requestx.InvalidURL:
        pass


header_text = st.text(st.characters(codec="utf-8"), max_size=40)
header_bytes = st.binary(max_size=40)


@FUZZ
@given(st.lists(st.tuples(st.one_of(header_text, header_bytes), st.one_of(header_text, header_bytes)), max_size=8))
def test_headers(items: list[tuple[str | bytes, str | bytes]]) -> None:
    try:
        headers = requestx.Headers(items)
    except UnicodeEncodeError:
        return  # a non-ASCII str, as httpx
    repr(headers), dict(headers), headers.multi_items(), headers.raw
    for key, _ in items:
        headers.get_list(key.decode("latin-1") if isinstance(key, bytes) else key)


@FUZZ
@given(st.lists(st.text(st.characters(codec="utf-8"), max_size=60), max_size=4), header_text)
def test_set_cookie_headers(values: list[str], path: str) -> None:
    raw = [(b"Set-Cookie", v.encode("utf-8")) for v in values]
    request = requestx.Request("GET", "https://example.org/" + "".join(c for c in path if c.isalnum()))
    response = requestx.Response(200, headers=raw, request=request)
    jar = requestx.Cookies()
    jar.extract_cookies(response)
    out = requestx.Request("GET", "https://example.org/")
    jar.set_cookie_header(out)
    list(jar.items()), repr(jar)


@FUZZ
@given(st.one_of(st.text(max_size=80), st.binary(max_size=80).map(lambda b: b.decode("latin-1"))))
def test_query_strings(text: str) -> None:
    try:
        params = requestx.QueryParams(text)
    except UnicodeEncodeError:
        return
    str(params), params.multi_items(), params.merge({"a": "1"}), params.set("b", 2)


ENCODINGS = ["gzip", "deflate", "br", "zstd", "gzip, br", "zstd, deflate", "identity", "nonsense"]


def _compressed(encoding: str, data: bytes) -> bytes:
    import gzip

    import brotli
    import zstandard

    for enc in [e.strip() for e in encoding.split(",")]:  # applied left to right, as a server stacks them
        data = {
            "gzip": gzip.compress,
            "deflate": zlib.compress,
            "br": brotli.compress,
            "zstd": zstandard.ZstdCompressor().compress,
        }.get(enc, lambda d: d)(data)
    return data


@FUZZ
@given(
    st.sampled_from(ENCODINGS),
    st.binary(max_size=2000),
    st.integers(0, 3),
    st.lists(st.integers(1, 300), min_size=1, max_size=20),
    st.binary(max_size=8),
)
def test_content_encodings(encoding: str, data: bytes, damage: int, cuts: list[int], junk: bytes) -> None:
    """Valid bodies decode to what was encoded; damaged ones (truncated, overwritten, appended to)
    decode or raise DecodingError, in steps of at most 1 MiB."""
    body = _compressed(encoding, data)
    if damage == 1:
        body = body[: len(body) // 2]
    elif damage == 2 and body:
        body = junk + body[len(junk) :]
    elif damage == 3:
        body += junk
    decoder = Decoder(encoding)
    out = []
    try:
        pos = 0
        for cut in cuts * (len(body) // max(sum(cuts), 1) + 1):
            if pos >= len(body):
                break
            step = decoder.decode(body[pos : pos + cut])
            pos += cut
            while step:
                assert len(step) <= 1 << 20
                out.append(step)
                step = decoder.decode(b"")
        step = decoder.flush()
        while step:
            out.append(step)
            step = decoder.flush()
    except requestx.DecodingError:
        assert damage, "an undamaged body failed to decode"
        return
    if not damage:
        assert b"".join(out) == data


@FUZZ
@given(st.lists(st.binary(max_size=200), max_size=10))
def test_lines_and_events(chunks: list[bytes]) -> None:
    lines = LineDecoder()
    for chunk in chunks:
        lines.feed(chunk)
    lines.flush()
    events = SseDecoder(4096, None)
    try:
        for chunk in chunks:
            events.feed(chunk)
    except requestx.SSEError:
        pass  # an event over the size limit


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
        ).map(lambda v: repr(v).encode()),
    )
)
def test_json(data: bytes) -> None:
    try:
        json_loads(data)
    except ValueError:
        pass
