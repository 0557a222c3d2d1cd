"""Hostile servers (tests/servers/hostile.py), under every runtime: sync, threads sharing one client,
and the async ones of `arun` (asyncio, uvloop, trio, anyio on both).

Each case is a few requests on one client, each with what it must give: a typed httpx exception,
or the right response, never a hang or a crash. Then a good request on the same client gets its
own answer (`/echo/after`): the client is still usable and in step with its connections. Bugs are
strict xfails whose reason starts with "BUG".
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
import typing
import uuid

import pytest

import requestx
from tests.servers.hostile import BOMB_SIZE, BOMBS, TEXT, HostileServer

if typing.TYPE_CHECKING:
    from tests.conftest import Runner

MiB = 1 << 20


@pytest.fixture(scope="module")
def hostile() -> typing.Iterator[HostileServer]:
    server = HostileServer()
    yield server
    server.close()
    alive = [t.name for t in server.threads() if t.is_alive()]
    assert not alive, f"the server left threads behind: {alive}"


# --- the cases -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Raises:
    """The request (or its body's iteration) raises exactly `exc`, whose message matches `match`;
    `status`: a streamed response had this status before its body failed."""

    exc: type[Exception]
    match: str | None = None
    status: int | None = None
    within: float | None = None  # seconds: a timeout must fire well before the server gives up


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes | None = b"ok"
    headers: tuple[tuple[str, str], ...] = ()


Expect = typing.Union[Raises, Answer, tuple[typing.Union[Raises, Answer], ...]]  # a tuple: any of them


@dataclasses.dataclass(frozen=True)
class Step:
    path: str  # "{key}" is replaced by a key unique to the run (gates, signals)
    expect: Expect
    method: str = "GET"
    stream: bool = False  # iterate `iter_bytes()` instead of reading the body whole
    release: str | None = None  # "head" or "chunk": open the server's gate {key} once that arrived
    wait_done: bool = False  # afterwards, wait until the server signalled done:{key}
    max_chunk: int | None = None  # streamed: no piece bigger
    timeout: typing.Any = None


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    steps: tuple[Step, ...]
    client: tuple[tuple[str, typing.Any], ...] = ()  # Client(**dict(client))
    bug: str | None = None  # a strict xfail, reason "BUG: ..."
    shared: bool = True  # two threads may run it at once on one client (no reliance on which connection)


def case(id: str, *steps: Step, bug: str | None = None, shared: bool = True, **client: typing.Any) -> Case:
    return Case(id, steps, tuple(client.items()), bug, shared)


def get(path: str, expect: Expect, **kwargs: typing.Any) -> Step:
    return Step(path, expect, **kwargs)


def echo(word: str) -> Step:
    return Step(f"/echo/{word}", Answer(body=word.encode()))


OK = Answer()
PROTOCOL = Raises(requestx.RemoteProtocolError)
#: Small timeouts for the slow servers: each fires within `within` or the case fails.
READ = requestx.Timeout(5.0, read=0.2)
TOTAL = requestx.Timeout(5.0, read=2.0, total=0.4)
READ_TIMEOUT = Raises(requestx.ReadTimeout, within=3.0)
TOTAL_TIMEOUT = Raises(requestx.ReadTimeout, match="total", within=3.0)

CASES: list[Case] = [
    # -- connection resets (RST) and early ends (FIN) --
    case("rst-before-response", get("/rst-before", Raises(requestx.ReadError))),
    case("rst-after-head", get("/rst-after-head", Raises(requestx.ReadError))),
    case("rst-mid-body", get("/rst-mid-body", Raises(requestx.ReadError))),
    case(
        "rst-after-head-streamed",
        get("/rst-after-head-gated/{key}", Raises(requestx.ReadError, status=200), stream=True, release="head"),
    ),
    case(
        "rst-mid-body-streamed",
        get("/rst-mid-body-gated/{key}", Raises(requestx.ReadError, status=200), stream=True, release="chunk"),
    ),
    case("fin-mid-body", get("/fin-mid-body", PROTOCOL)),
    case(
        "fin-mid-body-streamed",
        get(
            "/fin-mid-body-gated/{key}", Raises(requestx.RemoteProtocolError, status=200), stream=True, release="chunk"
        ),
    ),
    case("chunked-truncated", get("/chunked-truncated", PROTOCOL)),
    case("chunked-without-last-chunk", get("/chunked-no-last", PROTOCOL)),
    case("body-to-eof", get("/read-to-eof", Answer(body=TEXT))),
    # -- status lines --
    case("garbage-status-line", get("/garbage", PROTOCOL)),
    case("empty-response", get("/empty", PROTOCOL)),
    case("http09-response", get("/http09", PROTOCOL)),
    case("status-9999", get("/status-9999", PROTOCOL)),
    case("status-two-digits", get("/status-20", PROTOCOL)),
    case("status-letters", get("/status-abc", PROTOCOL)),
    case("status-600", get("/status-600", Answer(600))),  # three digits: a status (httpx agrees)
    case("status-without-reason", get("/no-reason", OK)),
    # httpx (h11) takes "HTTP/3.0" on an HTTP/1 connection; refusing it is as sensible
    case("http3-version-on-http1", get("/http3-version", PROTOCOL)),
    case("bare-lf-line-ends", get("/lf-only", OK)),
    # -- header lines --
    case("header-without-colon", get("/no-colon", PROTOCOL)),
    # RFC 9112 5.2: a user agent unfolds it, as httpx (h11) does
    case("header-obs-fold", get("/obs-fold", Answer(headers=(("x-folded", "first second"),)))),
    case("space-before-colon", get("/space-before-colon", PROTOCOL)),
    case("nul-in-header", get("/header-nul", PROTOCOL)),
    case("headers-at-the-default-limit", get("/headers-1000", Answer(headers=(("x-flood-998", "v"),)))),
    case("header-flood", get("/headers-1001", Raises(requestx.RemoteProtocolError, match="max_headers"))),
    case("headers-at-a-set-limit", get("/headers-10", OK), limits=requestx.Limits(max_headers=10)),
    case(
        "headers-over-a-set-limit",
        get("/headers-11", Raises(requestx.RemoteProtocolError, match="max_headers")),
        limits=requestx.Limits(max_headers=10),
    ),
    case("head-too-large", get("/big-head", Raises(requestx.RemoteProtocolError, match="400 KiB"))),
    case("head-never-ending", get("/endless-head", Raises(requestx.RemoteProtocolError, match="400 KiB"))),
    # -- body framing --
    case("chunk-size-not-hex", get("/chunk-zzz", PROTOCOL)),
    case("chunk-size-negative", get("/chunk-negative", PROTOCOL)),
    case("chunk-size-0x", get("/chunk-0x", PROTOCOL)),
    case("chunk-size-overflow", get("/chunk-overflow", PROTOCOL)),
    case("chunk-size-huge-then-eof", get("/chunk-huge", PROTOCOL)),
    case("chunk-longer-than-its-size", get("/chunk-too-long", PROTOCOL)),
    case("chunk-extension", get("/chunk-extension", OK)),
    case("chunked-small-pieces", get("/chunked", Answer(body=TEXT))),
    case("content-length-conflict", get("/cl-conflict", PROTOCOL)),
    case("content-length-list-conflict", get("/cl-list-conflict", PROTOCOL)),
    case("content-length-duplicate-same", get("/cl-duplicate-same", OK)),
    case("content-length-negative", get("/cl-negative", PROTOCOL)),
    case("content-length-letters", get("/cl-letters", PROTOCOL)),
    case("content-length-and-chunked", get("/cl-and-te", Answer(body=TEXT))),  # chunked wins (RFC 9112 6.3)
    case("transfer-encoding-unknown", get("/te-unknown", PROTOCOL)),
    case(
        "transfer-encoding-gzip-chunked",
        # httpx refuses it ("Only Transfer-Encoding: chunked is supported"), and so does requestx
        get("/te-gzip-chunked", PROTOCOL),
    ),
    # -- interim and switching responses --
    case("unasked-101", get("/switch", PROTOCOL)),
    case("1000-100-continue", get("/continue-flood", OK)),
    case("1000-early-hints", get("/early-hints-flood", OK)),
    case("endless-100-continue-total", get("/continue-endless", TOTAL_TIMEOUT, timeout=TOTAL)),
    # -- slow servers --
    case("head-a-byte-at-a-time", get("/trickle-head", OK)),
    case("body-slower-than-read-timeout", get("/trickle-body-slow", READ_TIMEOUT, timeout=READ)),
    case(
        "body-slower-than-read-timeout-streamed",
        get("/trickle-body-slow", dataclasses.replace(READ_TIMEOUT, status=200), timeout=READ, stream=True),
    ),
    case("body-beyond-total-deadline", get("/trickle-body-fast", TOTAL_TIMEOUT, timeout=TOTAL)),
    case(
        "body-beyond-total-deadline-streamed",
        get("/trickle-body-fast", dataclasses.replace(TOTAL_TIMEOUT, status=200), timeout=TOTAL, stream=True),
    ),
    case("stall-after-head", get("/stall-after-head", READ_TIMEOUT, timeout=READ)),
    case("never-answers", get("/silent", READ_TIMEOUT, timeout=READ)),
    # -- redirects --
    case(
        "redirect-loop",
        get("/redirect-loop", Raises(requestx.TooManyRedirects)),
        follow_redirects=True,
        max_redirects=5,
    ),
    case("redirect-ping-pong", get("/redirect-ping", Raises(requestx.TooManyRedirects)), follow_redirects=True),
    case("redirect-to-dead-port", get("/redirect-dead", Raises(requestx.ConnectError)), follow_redirects=True),
    case(
        "redirect-to-invalid-url",
        get("/redirect-bad-location", Raises(requestx.RemoteProtocolError, match="location")),
        follow_redirects=True,
    ),
    # -- content codings --
    case("gzip-invalid-after-valid-start", get("/gzip-invalid", Raises(requestx.DecodingError))),
    case("gzip-valid", get("/gzip-ok", Answer(body=TEXT))),
]

for _enc in ("gzip", "deflate", "br", "zstd"):
    if _enc not in BOMBS:  # pragma: no cover - brotli and zstandard come with the test extra
        continue
    CASES += [
        case(
            f"bomb-{_enc}-read-whole-capped",
            get(f"/bomb/{_enc}", Raises(requestx.DecodingError, match=r"max_decompressed_size=1048576")),
            limits=requestx.Limits(max_decompressed_size=MiB),
        ),
        case(
            f"bomb-{_enc}-streamed-capped",
            get(
                f"/bomb/{_enc}",
                Raises(requestx.DecodingError, match=r"max_decompressed_size=1048576", status=200),
                stream=True,
                max_chunk=MiB,
            ),
            limits=requestx.Limits(max_decompressed_size=MiB),
        ),
        case(
            f"bomb-{_enc}-streamed-ratio",
            get(
                f"/bomb/{_enc}",
                Raises(requestx.DecodingError, match=r"max_decompression_ratio=100", status=200),
                stream=True,
                max_chunk=MiB,
            ),
            limits=requestx.Limits(max_decompression_ratio=100),
        ),
        case(
            f"bomb-{_enc}-streamed-unlimited",
            get(f"/bomb/{_enc}", Answer(body=bytes(BOMB_SIZE)), stream=True, max_chunk=MiB),
        ),
    ]

CASES += [
    # -- keep-alive abuse --
    case(
        "head-with-body",
        echo("first"),
        get("/head-with-body", Answer(body=b""), method="HEAD"),  # its 4 bytes stay on the connection
        echo("second"),
    ),
    case("unasked-response-with-the-answer", echo("first"), get("/keepalive-garbage", OK), echo("second")),
    case(
        "unasked-response-later-fresh-connection",
        get("/keepalive-garbage-late/{key}", OK, release="head", wait_done=True),
        echo("second"),
        shared=False,
    ),
    case(
        "unasked-response-later-reused-connection",
        echo("first"),
        get("/keepalive-garbage-late/{key}", OK, release="head", wait_done=True),
        echo("second"),
        echo("third"),
        shared=False,
        bug="BUG: an unasked response arriving on an idle kept-alive connection that had already been "
        "reused is read as the next request's answer ('evil'), and every later answer on it is the "
        "previous request's (on a connection used once it is detected and the connection dropped)",
    ),
    case("fin-between-requests", get("/keepalive-fin/{key}", OK, wait_done=True), echo("second"), shared=False),
    case(
        "fin-between-requests-reused-connection",
        echo("first"),
        get("/keepalive-fin/{key}", OK, wait_done=True),
        echo("second"),
        shared=False,
    ),
    # The close races the request, which went out: not retried, as httpx (httpcore) does not.
    case(
        "close-on-next-request",
        get("/keepalive-drop-second", OK),
        get("/keepalive-drop-second", PROTOCOL),
        shared=False,
    ),
    # ... unless retries are asked for: then transparently.
    case(
        "close-on-next-request-with-retries",
        get("/keepalive-drop-second", OK),
        get("/keepalive-drop-second", OK),
        get("/keepalive-drop-second", OK),
        retries=1,
        shared=False,
    ),
]

AFTER = echo("after")  # the good request every case ends with, on its client


def _params() -> list[typing.Any]:
    return [
        pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.bug)] if c.bug else []) for c in CASES
    ]


# --- running them ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    status: int | None = None
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    pieces: list[bytes] = dataclasses.field(default_factory=list)
    error: Exception | None = None
    elapsed: float = 0.0

    @property
    def body(self) -> bytes:
        return b"".join(self.pieces)


def _client_kwargs(c: Case) -> dict[str, typing.Any]:
    return {"timeout": requestx.Timeout(5.0), **dict(c.client)}


def _request_kwargs(step: Step) -> dict[str, typing.Any]:
    return {} if step.timeout is None else {"timeout": step.timeout}


def _step_sync(client: requestx.Client, server: HostileServer, step: Step, key: str) -> Outcome:
    out = Outcome()
    url = server.url + step.path.format(key=key)
    started = time.monotonic()
    try:
        if step.stream:
            with client.stream(step.method, url, **_request_kwargs(step)) as r:
                out.status, out.headers = r.status_code, list(r.headers.items())
                if step.release == "head":
                    server.release(key)
                for piece in r.iter_bytes():
                    out.pieces.append(piece)
                    if step.release == "chunk":
                        server.release(key)
        else:
            r = client.request(step.method, url, **_request_kwargs(step))
            out.status, out.headers, out.pieces = r.status_code, list(r.headers.items()), [r.content]
            if step.release == "head":
                server.release(key)
    except Exception as e:
        out.error = e
    out.elapsed = time.monotonic() - started
    if step.wait_done:
        assert server.wait_done(key), "the server never signalled"
    return out


async def _step_async(
    client: requestx.AsyncClient, server: HostileServer, step: Step, key: str, arun: Runner
) -> Outcome:
    out = Outcome()
    url = server.url + step.path.format(key=key)
    started = time.monotonic()
    try:
        if step.stream:
            async with client.stream(step.method, url, **_request_kwargs(step)) as r:
                out.status, out.headers = r.status_code, list(r.headers.items())
                if step.release == "head":
                    server.release(key)
                async for piece in r.aiter_bytes():
                    out.pieces.append(piece)
                    if step.release == "chunk":
                        server.release(key)
        else:
            r = await client.request(step.method, url, **_request_kwargs(step))
            out.status, out.headers, out.pieces = r.status_code, list(r.headers.items()), [r.content]
            if step.release == "head":
                server.release(key)
    except Exception as e:
        out.error = e
    out.elapsed = time.monotonic() - started
    if step.wait_done:
        assert await arun.to_thread(lambda: server.wait_done(key)), "the server never signalled"
    return out


def _run_sync(client: requestx.Client, server: HostileServer, c: Case) -> list[Outcome]:
    key = uuid.uuid4().hex
    return [_step_sync(client, server, step, key) for step in (*c.steps, AFTER)]


def _matches(expect: Raises | Answer, out: Outcome, streamed: bool) -> str | None:
    """None if `out` is what `expect` says, else why not. (An error raised by a streamed body's
    iteration may lack its `.request`: `test_stream_errors_carry_the_request` covers that.)"""
    if isinstance(expect, Raises):
        err = out.error
        if err is None:
            return f"expected {expect.exc.__name__}, got a {out.status} response: {out.body[:100]!r}"
        if type(err) is not expect.exc:
            return f"expected {expect.exc.__name__}, got {type(err).__module__}.{type(err).__name__}: {err}"
        if expect.match is not None and not re.search(expect.match, str(err), re.IGNORECASE):
            return f"{type(err).__name__} message {str(err)!r} does not match {expect.match!r}"
        if isinstance(err, requestx.RequestError):
            request = err._request
            if request is None and not streamed:
                return f"{type(err).__name__} without its .request"
            if request is not None and request.url.host != "127.0.0.1":
                return f"the error's request is {request!r}"
        if expect.status is not None and out.status != expect.status:
            return f"expected a {expect.status} head before the error, got {out.status}"
        if expect.within is not None and out.elapsed > expect.within:
            return f"{type(err).__name__} after {out.elapsed:.2f} s, not within {expect.within} s"
        return None
    if out.error is not None:
        kind = f"{type(out.error).__module__}.{type(out.error).__name__}"
        return f"expected a {expect.status} response, got {kind}: {out.error}"
    if out.status != expect.status:
        return f"expected status {expect.status}, got {out.status}"
    if expect.body is not None and out.body != expect.body:
        want, got = f"{expect.body[:100]!r} ({len(expect.body)} bytes)", f"{out.body[:100]!r} ({len(out.body)} bytes)"
        return f"expected body {want}, got {got}"
    headers = {name.lower(): value for name, value in out.headers}
    for name, value in expect.headers:
        if headers.get(name) != value:
            return f"expected header {name}: {value!r}, got {headers.get(name)!r}"
    return None


def _check(c: Case, outcomes: list[Outcome]) -> None:
    for i, (step, out) in enumerate(zip((*c.steps, AFTER), outcomes, strict=True)):
        where = f"step {i} ({step.method} {step.path})"
        alternatives = step.expect if isinstance(step.expect, tuple) else (step.expect,)
        problems = [_matches(expect, out, step.stream) for expect in alternatives]
        assert None in problems, f"{where}: " + " / or: ".join(p for p in problems if p)
        if step.max_chunk is not None:
            biggest = max((len(p) for p in out.pieces), default=0)
            assert biggest <= step.max_chunk, f"{where}: a piece of {biggest} bytes (limit {step.max_chunk})"


@pytest.mark.parametrize("c", _params())
def test_sync(hostile: HostileServer, c: Case) -> None:
    with requestx.Client(**_client_kwargs(c)) as client:
        outcomes = _run_sync(client, hostile, c)
    _check(c, outcomes)


@pytest.mark.parametrize("c", _params())
def test_threads(hostile: HostileServer, c: Case) -> None:
    """Two threads run the case at once on one client (one thread when it depends on which
    connection a request gets)."""
    results: list[list[Outcome] | BaseException | None] = [None, None]
    with requestx.Client(**_client_kwargs(c)) as client:

        def worker(i: int) -> None:
            try:
                results[i] = _run_sync(client, hostile, c)
            except BaseException as e:
                results[i] = e

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(2 if c.shared else 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(45)
        assert not any(t.is_alive() for t in threads), "a request hung"
    for result in results[: len(threads)]:
        if isinstance(result, BaseException):
            raise result
        assert result is not None
        _check(c, result)


@pytest.mark.parametrize("c", _params())
def test_async(hostile: HostileServer, c: Case, arun: Runner) -> None:
    async def main() -> list[Outcome]:
        key = uuid.uuid4().hex
        async with requestx.AsyncClient(**_client_kwargs(c)) as client:
            return [await _step_async(client, hostile, step, key, arun) for step in (*c.steps, AFTER)]

    _check(c, arun(main))


# --- the server itself -----------------------------------------------------------------------------


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


def test_bombs_are_bombs() -> None:
    """Each bomb inflates over a thousandfold: far past both limits the cases set."""
    assert set(BOMBS) == {"gzip", "deflate", "br", "zstd"}
    for enc, body in BOMBS.items():
        assert BOMB_SIZE / len(body) > 1000, enc


# --- what an error raised while a body streams carries --------------------------------------------

STREAM_ERRORS = [
    pytest.param("/rst-mid-body", {}, requestx.ReadError, id="ReadError"),
    pytest.param("/fin-mid-body", {}, requestx.RemoteProtocolError, id="RemoteProtocolError"),
    pytest.param("/stall-after-head", {"timeout": READ}, requestx.ReadTimeout, id="ReadTimeout"),
    pytest.param(
        "/bomb/gzip", {"limits": requestx.Limits(max_decompressed_size=MiB)}, requestx.DecodingError, id="DecodingError"
    ),
]


@pytest.mark.parametrize(
    ("path", "kwargs", "exc"),
    STREAM_ERRORS,
)
def test_stream_errors_carry_the_request(
    hostile: HostileServer, path: str, kwargs: dict[str, typing.Any], exc: type[Exception]
) -> None:
    with requestx.Client(**kwargs) as client:
        with pytest.raises(exc) as info, client.stream("GET", hostile.url + path) as r:
            for _ in r.iter_bytes():
                pass
        assert info.value.request.url == hostile.url + path
        assert client.get(hostile.url + "/echo/after").text == "after"


@pytest.mark.parametrize(
    ("path", "kwargs", "exc"),
    STREAM_ERRORS,
)
def test_stream_errors_carry_the_request_async(
    hostile: HostileServer, path: str, kwargs: dict[str, typing.Any], exc: type[Exception], arun: Runner
) -> None:
    async def main() -> None:
        async with requestx.AsyncClient(**kwargs) as client:
            with pytest.raises(exc) as info:
                async with client.stream("GET", hostile.url + path) as r:
                    async for _ in r.aiter_bytes():
                        pass
            assert info.value.request.url == hostile.url + path
            assert (await client.get(hostile.url + "/echo/after")).text == "after"

    arun(main)
