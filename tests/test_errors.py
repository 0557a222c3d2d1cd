"""Bad input and hostile servers: each gets a clear httpx exception, never a crash or a hang."""

from __future__ import annotations

import socket
import time
import uuid

import pytest

import requestx


@pytest.mark.parametrize(
    ("url", "exc"),
    [
        ("ftp://example.org/", requestx.UnsupportedProtocol),
        ("example.org", requestx.UnsupportedProtocol),
        ("/relative/path", requestx.UnsupportedProtocol),
        ("http://", requestx.UnsupportedProtocol),  # httpx's classes for what it sends
        ("http:///path", requestx.UnsupportedProtocol),  # never a lookup of the host "path"
        ("http:/path", requestx.UnsupportedProtocol),
        ("http://exa mple.org/", requestx.InvalidURL),
        ("http://127.0.0.1:99999/", requestx.ConnectError),
        ("http://[::1/", requestx.InvalidURL),
        ("http://127.0.0.1/\r\nX-Injected: 1", requestx.InvalidURL),
        ("http://127.0.0.1/\x00", requestx.InvalidURL),
    ],
)
def test_invalid_urls(url: str, exc: type[Exception]) -> None:
    with requestx.Client() as c, pytest.raises(exc):
        c.get(url)


def test_url_type_errors() -> None:
    with requestx.Client() as c, pytest.raises(TypeError):
        c.get(1234)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Bad": "line\r\nInjected: 1"},
        {"X-Bad": "a\nb"},
        {"X-Bad": "nul\x00"},
        {"Bad Name": "v"},
        {"Bad:Name": "v"},
        {"": "v"},
        {"X-Ünïcode-Name".encode(): b"v"},
    ],
)
def test_illegal_headers(server, headers: dict[str, str]) -> None:
    with requestx.Client() as c, pytest.raises(requestx.LocalProtocolError) as info:
        c.get(server.url + "/small", headers=headers)
    assert info.value.request.url == server.url + "/small"


def test_header_type_errors(server) -> None:
    with requestx.Client() as c, pytest.raises(TypeError):
        c.get(server.url + "/small", headers={"X-A": 1})  # type: ignore[dict-item]


@pytest.mark.parametrize("method", ["GE T", "GET\r\n", "", "G(ET)"])
def test_bad_method(server, method: str) -> None:
    with requestx.Client() as c, pytest.raises(requestx.LocalProtocolError):
        c.request(method, server.url + "/small")


def test_non_serialisable_json(server) -> None:
    with requestx.Client() as c:
        with pytest.raises(TypeError):
            c.post(server.url + "/echo", json={"a": object()})
        with pytest.raises(ValueError):
            c.post(server.url + "/echo", json={"a": float("nan")})


def test_bad_body_types(server) -> None:
    with requestx.Client() as c:
        with pytest.raises(TypeError):
            c.post(server.url + "/echo", content=12)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            c.post(server.url + "/echo", content=["not bytes"])  # type: ignore[list-item]


def test_connection_refused() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with requestx.Client() as c, pytest.raises(requestx.ConnectError) as info:
        c.get(f"http://127.0.0.1:{port}/")
    assert isinstance(info.value, requestx.TransportError)
    assert info.value.request.url == f"http://127.0.0.1:{port}/"


@pytest.mark.parametrize(
    ("path", "exc"),
    [
        ("/garbage", requestx.RemoteProtocolError),
        ("/truncated", requestx.RemoteProtocolError),
        ("/truncated-large", requestx.RemoteProtocolError),
        ("/huge-length", requestx.RemoteProtocolError),
        ("/close", requestx.RemoteProtocolError),
        ("/badchunk", requestx.RemoteProtocolError),
        ("/headerflood", requestx.RemoteProtocolError),
        ("/badstatus", requestx.RemoteProtocolError),
        ("/badgzip", requestx.DecodingError),
        ("/switch", requestx.RemoteProtocolError),  # a 101 nobody asked for (httpx raises)
        ("/unknown-te", requestx.RemoteProtocolError),  # not read to the end of the connection
    ],
)
def test_hostile_server_sync(raw_server, path: str, exc: type[Exception]) -> None:
    with requestx.Client(timeout=5) as c:
        with pytest.raises(exc):
            c.get(raw_server.url + path)
        assert c.get(raw_server.url + "/ok").text == "ok"  # the client is still fine


def test_many_response_headers_within_the_limit(raw_server) -> None:
    with requestx.Client() as c:
        r = c.get(raw_server.url + "/many-headers")
    assert r.text == "ok" and len(r.headers.get_list("set-cookie")) == 500  # hyper alone takes 100
    with requestx.Client(limits=requestx.Limits(max_headers=100)) as c:
        with pytest.raises(requestx.RemoteProtocolError, match=r"max_headers"):
            c.get(raw_server.url + "/many-headers")
        assert c.get(raw_server.url + "/ok").text == "ok"


@pytest.mark.parametrize("phase", ["read", "connect"])
def test_a_zero_timeout_always_times_out(server, phase: str) -> None:
    """`timeout=0` is "fail unless ready now", every time (it raced the answer before)."""
    timeout = requestx.Timeout(5, **{phase: 0})
    error = requestx.ReadTimeout if phase == "read" else requestx.ConnectTimeout
    with requestx.Client(timeout=timeout) as c:
        for _ in range(200):
            with pytest.raises(error):
                c.get(server.url + "/small")
    with requestx.Client() as c:
        for _ in range(100):
            with pytest.raises(requestx.TimeoutException):  # connect or read: neither is ready now
                c.get(server.url + "/small", timeout=0)


def test_hostile_server_async(raw_server, arun) -> None:
    async def main() -> None:
        async with requestx.AsyncClient(timeout=5) as c:
            with pytest.raises(requestx.RemoteProtocolError):
                await c.get(raw_server.url + "/truncated")
            with pytest.raises(requestx.DecodingError):
                await c.get(raw_server.url + "/badgzip")
            assert (await c.get(raw_server.url + "/ok")).text == "ok"

    arun(main)


def test_read_timeout_waiting_for_head(raw_server) -> None:
    with requestx.Client(timeout=requestx.Timeout(5, read=0.3)) as c, pytest.raises(requestx.ReadTimeout) as info:
        c.get(raw_server.url + "/silent")
    assert isinstance(info.value, requestx.TimeoutException)


def test_read_timeout_counts_once_the_body_is_sent(server) -> None:
    """`Timeout(5, read=0.3)`: the head wait after a body went out is the read timeout's, not
    the longer write timeout's (the write timeout bounds only the sending of the body)."""
    started = time.monotonic()
    with requestx.Client(timeout=requestx.Timeout(5.0, read=0.3)) as c, pytest.raises(requestx.ReadTimeout):
        c.post(server.url + "/slow", params={"delay": 6}, content=b"x" * 10_000)
    assert time.monotonic() - started < 4  # well before the 5 s of the other timeouts


def test_read_timeout_is_per_read(raw_server, server) -> None:
    with requestx.Client() as c:
        with pytest.raises(requestx.ReadTimeout):
            c.get(raw_server.url + "/stall", timeout=0.3)
        # 10 chunks 0.1 s apart: 1 s in all, but no single read waits 0.5 s.
        r = c.get(server.url + "/stream", params={"chunks": 10, "delay": 0.1}, timeout=0.5)
        assert r.status_code == 200 and len(r.content) == 10 * 11


def test_per_request_timeout_overrides_client(server) -> None:
    with requestx.Client(timeout=0.2) as c:
        with pytest.raises(requestx.ReadTimeout):
            c.get(server.url + "/slow", params={"delay": 1})
        assert c.get(server.url + "/slow", params={"delay": 0.4}, timeout=5).text == "slow"


def test_async_read_timeout(server, arun) -> None:
    async def main() -> None:
        async with requestx.AsyncClient(timeout=0.2) as c:
            with pytest.raises(requestx.ReadTimeout):
                await c.get(server.url + "/slow", params={"delay": 1})

    arun(main)


@pytest.mark.parametrize("per_request", [False, True])
def test_connect_timeout(per_request: bool) -> None:
    # A listener whose accept queue is full drops further SYNs: connect() hangs, on loopback only.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        # The client's connect timeout, or one given per request (over a client's of 30 s).
        timeout = requestx.Timeout(5, connect=0.3)
        client_timeout = requestx.Timeout(5, connect=30) if per_request else timeout
        with requestx.Client(timeout=client_timeout) as c, pytest.raises(requestx.ConnectTimeout):
            c.get(f"http://127.0.0.1:{port}/", timeout=timeout if per_request else requestx.USE_CLIENT_DEFAULT)
    finally:
        for s in fillers:
            s.close()
        listener.close()


def test_pool_timeout(server) -> None:
    limits = requestx.Limits(max_connections=1)
    with requestx.Client(limits=limits, timeout=requestx.Timeout(5, pool=0.2)) as c:
        # The connection stays taken until the body has arrived (here: 3 chunks 0.5 s apart).
        with c.stream("GET", server.url + "/stream", params={"chunks": 3, "delay": 0.5}) as held:
            with pytest.raises(requestx.PoolTimeout):
                c.get(server.url + "/small")
            held.read()
        assert c.get(server.url + "/small").status_code == 200  # the slot came back


def test_exception_hierarchy() -> None:
    assert issubclass(requestx.ConnectTimeout, requestx.TimeoutException)
    assert issubclass(requestx.TimeoutException, requestx.TransportError)
    assert issubclass(requestx.RemoteProtocolError, requestx.ProtocolError)
    assert issubclass(requestx.TransportError, requestx.RequestError)
    assert issubclass(requestx.RequestError, requestx.HTTPError)
    assert issubclass(requestx.HTTPStatusError, requestx.HTTPError)
    assert not issubclass(requestx.InvalidURL, requestx.HTTPError)
    with pytest.raises(RuntimeError):
        _ = requestx.ReadError("x").request


# --- the total deadline (`Timeout(total=)`, an addition to httpx) -----------------------------------


def test_a_total_deadline_bounds_a_trickling_body(server, arun) -> None:
    """20 chunks 0.1 s apart: no read waits long, so only a total deadline can stop it."""
    params = {"chunks": 20, "delay": 0.1}
    timeout = requestx.Timeout(5.0, total=0.5)
    started = time.monotonic()
    with requestx.Client(timeout=timeout) as c:
        with pytest.raises(requestx.ReadTimeout, match="total"):
            c.get(server.url + "/stream", params=params)  # read whole
        with c.stream("GET", server.url + "/stream", params=params) as r, pytest.raises(requestx.ReadTimeout):
            for _ in r.iter_bytes():
                pass
        assert c.get(server.url + "/small").status_code == 200  # the client goes on
    assert time.monotonic() - started < 4  # two deadlines of 0.5 s, not two bodies of 2 s

    async def main() -> None:
        async with requestx.AsyncClient(timeout=timeout) as c:
            with pytest.raises(requestx.ReadTimeout, match="total"):
                await c.get(server.url + "/stream", params=params)
            async with c.stream("GET", server.url + "/stream", params=params) as r:
                with pytest.raises(requestx.ReadTimeout):
                    await r.aread()

    arun(main)
    with requestx.Client() as c:  # a per-request total, and the pool's requests
        with pytest.raises(requestx.ReadTimeout):
            c.get(server.url + "/stream", params=params, timeout=timeout)
        results = list(c.map([c.build_request("GET", server.url + "/stream", params=params, timeout=timeout)]))
        assert isinstance(results[0], requestx.ReadTimeout)


def test_a_total_deadline_stops_retries(server) -> None:
    key = uuid.uuid4().hex
    retry = requestx.Retry(10, backoff_factor=0.2, status_forcelist=[503])
    with requestx.Client(retries=retry, timeout=requestx.Timeout(5.0, total=0.6)) as c:
        with pytest.raises(requestx.ReadTimeout, match="total"):
            c.get(server.url + "/flaky", params={"key": key, "fail": 100})
        calls = c.get(server.url + "/flaky-stats", params={"key": key}).json()["calls"]
    assert 1 <= len(calls) < 10  # the backoff of ten retries is far longer than the deadline


def test_total_timeout_settings() -> None:
    t = requestx.Timeout(5.0, total=30)
    assert t.total == 30.0 and t.as_dict()["total"] == 30.0 and "total" not in requestx.Timeout(5.0).as_dict()
    assert repr(t) == "Timeout(timeout=5.0, total=30.0)" and requestx.Timeout(t) == t
    with pytest.raises(ValueError):
        requestx.Timeout(5.0, total=-1)
