"""httpx2's server-sent events API on requestx: `client.sse()` (`requestx._sse.client_sse` and
`async_client_sse`), `EventSource` iteration, `max_event_size`, `ServerSentEvent`, checked against
httpx2 itself on the same streams, from this module's server (`app`, under uvicorn on 127.0.0.1)."""

from __future__ import annotations

import copy
import json
import pickle
import typing
import urllib.parse

import httpx2
import pytest

import requestx
from requestx import ServerSentEvent as E
from requestx._sse import DEFAULT_MAX_EVENT_SIZE_BYTES, EventSource, async_client_sse, client_sse
from tests.conftest import Server, uvicorn
from tests.servers.app import _body, _respond

# --- the server ------------------------------------------------------------------------------------

BODIES: dict[str, bytes] = {
    "basic": b"data: hello\n\n",
    "multiline": b"event: update\ndata: line 1\ndata: line 2\nid: 42\n\n",
    "crlf": b"data: a\r\ndata: b\r\n\r\ndata: c\rdata: d\r\r",
    "cr_only": b"event: x\rdata: 1\r\rdata: 2\r\r",
    "comments": b": a comment\n:another\ndata: x\n\n",
    "no_colon": b"data\n\ndata\ndata\n\n",
    "spaces": b"data:no space\ndata:  two spaces\ndata: colon: kept\n\n",
    "empty_data": b"data:\n\ndata: \n\n",
    "id_persists": b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
    "id_nul": b"id: 7\ndata: a\n\nid: x\x00y\ndata: b\n\n",
    "retry": b"retry: 1500\ndata: a\n\nretry: 15x\ndata: b\n\n",
    # Blocks without a data line: an event, id or valid retry field makes them events.
    "event_only": b"event: ping\n\ndata: after\n\n",
    "id_only": b"id: 9\n\ndata: real\n\n",
    "retry_only": b"retry: 3000\n\n",
    "empty_event": b"event:\n\n",
    "mixed_no_data": b"event: a\nid: 1\nretry: 5\n\n: c\n\nevent: b\n\n",
    # ... and these are not: comments, unknown fields, an id with NUL, an invalid retry.
    "not_events": b": keep-alive\n\nfoo: bar\n\nid: x\x00y\n\nretry: soon\n\n\n\ndata: last\n\n",
    "case_sensitive": b"Data: x\nDATA: y\n data: z\ndata: real\n\n",
    "trailing": b"data: complete\n\ndata: incomplete",
    "trailing_event_only": b"data: complete\n\nevent: never dispatched\n",
    "blank_lines": b"\n\n\ndata: a\n\n\n\n",
    "utf8": "data: héllo ✓ 😀\n\n".encode(),
    "json": b'data: {"delta": "hi"}\n\n',
    "many": b"".join(b"id: %d\ndata: event %d\n\n" % (i, i) for i in range(100)),
}
# Where requestx keeps the WHATWG rules and httpx2 does not (docs/compatibility.md).
DIFFERENT: dict[str, bytes] = {
    "bom": b"\xef\xbb\xbfdata: after bom\n\n",  # requestx drops the BOM; httpx2 reads a field "\ufeffdata"
    "trailing_cr": b"data: a\r",  # no empty line: incomplete; httpx2 dispatches it at the end
    "retry_format": b"retry:  15\n\nretry: -5\n\nretry: 1_0\n\n",  # ASCII digits only; httpx2 takes int()
    "latin1": b"data: caf\xe9\n\n",  # served as charset=iso-8859-1: requestx decodes UTF-8 as SSE says
}


async def app(scope: dict[str, typing.Any], receive: typing.Any, send: typing.Any) -> None:
    """/replay streams back the request body (or BODIES[case]) in `split`-byte pieces with `status`
    and `type`, then ends it, or with `hold` keeps it open until the client goes; /echo answers
    one event holding the request; /redirect redirects to /replay?case=basic."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    query = dict(urllib.parse.parse_qsl(scope["query_string"].decode(), keep_blank_values=True))
    path = scope["path"]
    if path == "/small":
        await _respond(send, 200, b"ok")
    elif path == "/replay":
        body = await _body(receive)
        if "case" in query:
            body = {**BODIES, **DIFFERENT}[query["case"]]
        ctype = query.get("type", "text/event-stream").encode()
        status = int(query.get("status", "200"))
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", ctype)]})
        step = int(query.get("split", "0")) or len(body) or 1
        for i in range(0, len(body), step):
            await send({"type": "http.response.body", "body": body[i : i + step], "more_body": True})
        if "hold" in query:
            while (await receive())["type"] != "http.disconnect":
                pass
            return
        await send({"type": "http.response.body", "body": b""})
    elif path == "/echo":
        body = await _body(receive)
        seen = {
            "method": scope["method"],
            "query": scope["query_string"].decode(),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
            "body": body.decode("latin-1"),
        }
        last = dict(scope["headers"]).get(b"last-event-id", b"0").decode()
        event = b"id: %d\ndata: %s\n\n" % (int(last) + 1, json.dumps(seen).encode())
        await _respond(send, 200, event, content_type=b"text/event-stream")
    elif path == "/redirect":
        await _respond(send, 302, b"", [(b"location", b"/replay?case=basic")])
    else:
        await _respond(send, 404, b"not found")


@pytest.fixture(scope="module")
def sse_server() -> typing.Iterator[Server]:
    s = Server(uvicorn("tests.test_sse_httpx2:app"))
    yield s
    s.stop()


# --- helpers ---------------------------------------------------------------------------------------

Event = tuple[str, str, str, typing.Optional[int]]


def fields(events: typing.Iterable[typing.Any]) -> list[Event]:
    return [(e.event, e.data, e.id, e.retry) for e in events]


@pytest.fixture(params=["client.sse", "client_sse"])
def open_sse(request: pytest.FixtureRequest) -> typing.Callable[..., typing.Any]:
    """`client.sse(url, ...)`, or the module functions the methods are (until the methods exist)."""

    def opener(client: typing.Any, url: str, **kwargs: typing.Any) -> typing.Any:
        if request.param == "client.sse":
            return client.sse(url, **kwargs)
        function = async_client_sse if isinstance(client, requestx.AsyncClient) else client_sse
        return function(client, url, **kwargs)

    return opener


def reference(url: str, **kwargs: typing.Any) -> tuple[list[Event], str | None]:
    """What httpx2 makes of the stream at `url`: the events, then the SSEError's message if any."""
    events: list[Event] = []
    with httpx2.Client(timeout=10) as c, c.sse(url, **kwargs) as source:
        try:
            for event in source:
                events.append((event.event, event.data, event.id, event.retry))
        except httpx2.SSEError as exc:
            return events, str(exc)
    return events, None


def read_sync(
    open_sse: typing.Callable[..., typing.Any], url: str, **kwargs: typing.Any
) -> tuple[list[Event], str | None]:
    events: list[Event] = []
    with requestx.Client(timeout=10) as c, open_sse(c, url, **kwargs) as source:
        assert isinstance(source, EventSource)
        try:
            for event in source:
                assert isinstance(event, E)
                events.append((event.event, event.data, event.id, event.retry))
        except requestx.SSEError as exc:
            assert exc.request.url == source.response.url
            return events, str(exc)
    return events, None


async def read_async(
    open_sse: typing.Callable[..., typing.Any], url: str, **kwargs: typing.Any
) -> tuple[list[Event], str | None]:
    events: list[Event] = []
    async with requestx.AsyncClient(timeout=10) as c, open_sse(c, url, **kwargs) as source:
        assert isinstance(source, EventSource)
        iterator = aiter(source)
        try:
            async for event in iterator:
                events.append((event.event, event.data, event.id, event.retry))
        except requestx.SSEError as exc:
            assert exc.request.url == source.response.url
            with pytest.raises(StopAsyncIteration):  # as an async generator that raised
                await anext(iterator)
            return events, str(exc)
    return events, None


# --- events, as httpx2 parses them -----------------------------------------------------------------


@pytest.mark.parametrize("split", [0, 1, 3])
@pytest.mark.parametrize("case", sorted(BODIES))
def test_events_match_httpx2_sync(sse_server, open_sse, case: str, split: int) -> None:
    url = f"{sse_server.url}/replay?case={case}&split={split}"
    expected = reference(url)
    assert read_sync(open_sse, url) == expected
    assert expected[1] is None


def test_events_match_httpx2_async(sse_server, open_sse, arun) -> None:
    urls = [f"{sse_server.url}/replay?case={case}&split={split}" for case in sorted(BODIES) for split in (0, 1)]

    async def main() -> list[tuple[list[Event], str | None]]:
        return [await read_async(open_sse, url) for url in urls]

    assert arun(main) == [reference(url) for url in urls]


def test_blocks_without_data_are_events(sse_server, open_sse) -> None:
    url = f"{sse_server.url}/replay?case="
    assert read_sync(open_sse, url + "event_only")[0] == [("ping", "", "", None), ("message", "after", "", None)]
    assert read_sync(open_sse, url + "mixed_no_data")[0] == [("a", "", "1", 5), ("b", "", "1", None)]
    assert read_sync(open_sse, url + "not_events")[0] == [("message", "last", "", None)]


@pytest.mark.parametrize(
    ("case", "ours", "theirs"),
    [
        ("bom", [("message", "after bom", "", None)], []),
        ("trailing_cr", [], [("message", "a", "", None)]),
        ("retry_format", [], [("message", "", "", 15), ("message", "", "", -5), ("message", "", "", 10)]),
        ("latin1", [("message", "caf\ufffd", "", None)], [("message", "café", "", None)]),
    ],
)
def test_whatwg_rules_kept_where_httpx2_differs(sse_server, open_sse, case: str, ours, theirs) -> None:
    url = f"{sse_server.url}/replay?case={case}&type=" + urllib.parse.quote("text/event-stream; charset=iso-8859-1")
    assert read_sync(open_sse, url) == (ours, None)
    assert reference(url) == (theirs, None)


# --- max_event_size --------------------------------------------------------------------------------
# NOTE: a line still arriving counts too, so a comment longer than the limit raises or not by how the
# network splits it (in httpx2 as here): no case below depends on that.

LIMITED = [
    (b"event: x\ndata: abcd\n\n" * 2, 18),  # 8 + 10 bytes: at the limit
    (b"event: x\ndata: abcd\n\n", 17),  # one byte over: nothing of the event
    (b": cccccc\ndata: a\n\n", 10),  # comments are not counted (8 + 7 bytes would be over)
    (b"foo: " + b"x" * 30 + b"\n\ndata: a\n\n", 20),  # unknown fields are
    (b"data: a\n\ndata: " + b"x" * 50 + b"\n\ndata: b\n\n", 20),  # the events before the error come first
    (b"data: a\n\ndata: " + b"x" * 50, 20),  # a line still arriving counts
    (b"data: 0123\r\n\r\ndata: 4567\r\n\r\n", 10),  # line endings are not counted; each event counts anew
    ("data: é✓\n\n".encode(), 11),  # bytes, not characters
    ("data: é✓\n\n".encode(), 10),
    (b"data: a\n\n", 0),
]


@pytest.mark.parametrize("split", [0, 1, 5])
@pytest.mark.parametrize(("body", "limit"), LIMITED)
def test_max_event_size_matches_httpx2_sync(sse_server, open_sse, body: bytes, limit: int, split: int) -> None:
    url = f"{sse_server.url}/replay?split={split}"
    kwargs = {"method": "POST", "content": body, "max_event_size": limit}
    assert read_sync(open_sse, url, **kwargs) == reference(url, **kwargs)


def test_max_event_size_matches_httpx2_async(sse_server, open_sse, arun) -> None:
    runs = [(body, limit, split) for body, limit in LIMITED for split in (0, 1)]

    def kwargs(body: bytes, limit: int) -> dict[str, typing.Any]:
        return {"method": "POST", "content": body, "max_event_size": limit}

    async def main() -> list[tuple[list[Event], str | None]]:
        url = sse_server.url + "/replay?split="
        return [await read_async(open_sse, f"{url}{split}", **kwargs(body, limit)) for body, limit, split in runs]

    expected = [reference(f"{sse_server.url}/replay?split={split}", **kwargs(b, n)) for b, n, split in runs]
    assert arun(main) == expected
    assert any(error for _, error in expected) and any(error is None for _, error in expected)


def test_max_event_size_default_is_one_mebibyte(sse_server, open_sse) -> None:
    assert DEFAULT_MAX_EVENT_SIZE_BYTES == 1 << 20
    url = sse_server.url + "/replay?split=65536"
    line = b"data: " + b"x" * ((1 << 20) - 6)  # 1 MiB exactly
    events, error = read_sync(open_sse, url, method="POST", content=line + b"\n\n")
    assert error is None and len(events[0][1]) == (1 << 20) - 6
    events, error = read_sync(open_sse, url, method="POST", content=line + b"x\n\n")
    assert events == [] and error == "Server-sent event exceeded the 1048576 byte limit."
    events, error = read_sync(open_sse, url, method="POST", content=line + b"x\n\n", max_event_size=None)
    assert error is None and len(events[0][1]) == (1 << 20) - 5


@pytest.mark.parametrize("body", [b"data: ok\n\ndata: " + b"x" * 100 + b"\n\n", b"data: ok\n\ndata: " + b"x" * 100])
def test_max_event_size_raises_without_waiting_for_more(sse_server, open_sse, arun, body: bytes) -> None:
    # The server keeps the stream open after the body: waiting for more would end in ReadTimeout.
    url = sse_server.url + "/replay?hold=1"
    kwargs = {"method": "POST", "content": body, "max_event_size": 50, "timeout": 5}
    expected = ([("message", "ok", "", None)], "Server-sent event exceeded the 50 byte limit.")
    assert reference(url, **kwargs) == expected
    assert read_sync(open_sse, url, **kwargs) == expected

    async def main() -> tuple[list[Event], str | None]:
        return await read_async(open_sse, url, **kwargs)

    assert arun(main) == expected


def test_httpx_sse_api_is_unbounded_unless_asked(sse_server) -> None:
    url = sse_server.url + "/replay"
    body = b"data: " + b"x" * ((1 << 20) + 10) + b"\n\n"
    with requestx.Client() as c:
        with requestx.connect_sse(c, "POST", url, content=body) as source:
            assert [len(e.data) for e in source.iter_sse()] == [(1 << 20) + 10]
        with requestx.connect_sse(c, "POST", url, content=b"data: 0123456789\n\n", max_event_size=10) as source:
            with pytest.raises(requestx.SSEError, match="exceeded the 10 byte limit"):
                list(source.iter_sse())
        with c.stream("POST", url, content=body) as response:
            with pytest.raises(requestx.SSEError, match="exceeded the 1048576 byte limit"):
                list(EventSource(response))  # httpx2's default, constructed directly


# --- the request and the response ------------------------------------------------------------------


def sent(events: list[typing.Any]) -> dict[str, typing.Any]:
    """What /echo saw (its one event): the SSE and auth headers sorted, the rest as sent."""
    (event,) = events
    seen: dict[str, typing.Any] = event.json()
    seen["headers"] = sorted([k, v] for k, v in seen["headers"] if k in ("accept", "cache-control", "authorization"))
    return seen


def test_request_matches_httpx2(sse_server, open_sse) -> None:
    url = sse_server.url + "/echo"
    cases: list[dict[str, typing.Any]] = [
        {},
        {"headers": {"accept": "application/json"}},  # the caller's header replaces the default
        {"headers": [("Cache-Control", "no-cache")]},
        {"method": "POST", "json": {"q": 1}, "params": {"a": "b"}},
        {"method": "PUT", "content": b"raw"},
        {"method": "POST", "data": {"k": "v"}},
        {"auth": ("user", "pass")},
    ]
    for kwargs in cases:
        with requestx.Client(headers={"Accept": "text/html"}) as c, open_sse(c, url, **kwargs) as source:
            ours = sent(list(source))
        with httpx2.Client(headers={"Accept": "text/html"}) as c, c.sse(url, **kwargs) as source:
            theirs = sent(list(source))
        assert ours == theirs, kwargs
    assert theirs["headers"] == [
        ["accept", "text/event-stream"],
        ["authorization", "Basic dXNlcjpwYXNz"],
        ["cache-control", "no-store"],
    ]


def test_request_async(sse_server, open_sse, arun) -> None:
    async def main() -> dict[str, typing.Any]:
        async with requestx.AsyncClient() as c:
            kwargs = {"method": "POST", "json": {"q": 1}, "headers": {"Last-Event-ID": "4"}, "timeout": 5}
            async with open_sse(c, sse_server.url + "/echo", **kwargs) as source:
                events = [event async for event in source]
                assert source.last_event_id == "5"
                return sent(events)

    seen = arun(main)
    assert (seen["method"], seen["body"]) == ("POST", '{"q":1}')
    assert seen["headers"] == [["accept", "text/event-stream"], ["cache-control", "no-store"]]


def test_last_event_id_and_resume(sse_server, open_sse) -> None:
    with requestx.Client() as c:
        with open_sse(c, sse_server.url + "/replay?case=many") as source:
            assert source.last_event_id == ""
            ids = [event.id for event in source]
            assert source.last_event_id == "99" == ids[-1]
            assert source.response.extensions["last_event_id"] == "99"
        with open_sse(c, sse_server.url + "/echo", headers={"Last-Event-ID": source.last_event_id}) as source:
            assert [event.id for event in source] == ["100"]


def test_wrong_content_type_raises_when_iterated(sse_server, open_sse, arun) -> None:
    # The status is not checked, the Content-Type is: when iteration starts, as httpx2 does.
    url = f"{sse_server.url}/replay?case=basic&status=500&type=application/json"
    expected = ([], "Expected response with content type 'text/event-stream', got 'application/json'.")
    assert reference(url) == expected
    with requestx.Client() as c, open_sse(c, url) as source:
        assert source.response.status_code == 500
        with pytest.raises(requestx.SSEError) as caught:
            next(iter(source))
        assert isinstance(caught.value, requestx.TransportError)
        assert str(caught.value) == expected[1] and caught.value.request.url == url
    assert read_sync(open_sse, url) == expected
    assert read_sync(open_sse, f"{sse_server.url}/replay?case=basic&status=404")[0] == [("message", "hello", "", None)]
    assert read_sync(open_sse, f"{sse_server.url}/nowhere") == (
        [],
        "Expected response with content type 'text/event-stream', got 'text/plain'.",
    )
    assert reference(f"{sse_server.url}/nowhere") == read_sync(open_sse, f"{sse_server.url}/nowhere")

    async def main() -> tuple[list[Event], str | None]:
        return await read_async(open_sse, url)

    assert arun(main) == expected


def test_follow_redirects(sse_server, open_sse) -> None:
    url = sse_server.url + "/redirect"
    with requestx.Client() as c:
        with open_sse(c, url) as source:
            assert source.response.status_code == 302
        with open_sse(c, url, follow_redirects=True) as source:
            assert fields(source) == [("message", "hello", "", None)]
            assert source.response.url == sse_server.url + "/replay?case=basic"


def test_event_source_api(sse_server) -> None:
    with requestx.Client() as c, client_sse(c, sse_server.url + "/replay?case=multiline") as source:
        assert source.response.headers["content-type"] == "text/event-stream"
        with pytest.raises(AttributeError):
            source.response = source.response  # type: ignore[misc]  # read-only, as in httpx2
        assert list(source.iter_sse()) == [E("update", "line 1\nline 2", "42")]  # httpx-sse's name


def test_keyword_only_and_unknown_arguments() -> None:
    with requestx.Client() as c:
        with pytest.raises(TypeError):
            client_sse(c, "http://127.0.0.1:1/", "GET").__enter__()  # type: ignore[misc]
        with pytest.raises(TypeError):
            client_sse(c, "http://127.0.0.1:1/", stream=True).__enter__()  # type: ignore[call-arg]


# --- ServerSentEvent, as httpx2's frozen dataclass -------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {}),
        (("update", "x", "1", 5), {}),
        ((), {"data": 'it\'s "quoted"\n\ttab'}),
        ((), {"event": ""}),
        ((), {"retry": -1}),
        ((), {"id": "é✓"}),
    ],
)
def test_server_sent_event_matches_httpx2(args: tuple[typing.Any, ...], kwargs: dict[str, typing.Any]) -> None:
    ours, theirs = E(*args, **kwargs), httpx2.ServerSentEvent(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert (ours.event, ours.data, ours.id, ours.retry) == (theirs.event, theirs.data, theirs.id, theirs.retry)
    assert ours == E(*args, **kwargs) and hash(ours) == hash(E(*args, **kwargs))
    assert ours != theirs  # other classes are not equal, as dataclasses of different classes
    assert pickle.loads(pickle.dumps(ours)) == ours == copy.deepcopy(ours)


def test_server_sent_event_defaults_none_and_json() -> None:
    assert E() == E("message", "", "", None) == E(event=None, data=None, id=None)  # None: httpx-sse
    assert E(data='{"delta": "hi"}').json() == {"delta": "hi"}
    with pytest.raises(json.JSONDecodeError):
        E(data="not json").json()
    assert E.__match_args__ == ("event", "data", "id", "retry")
    match E("ping", retry=5):
        case E("ping", data, _, retry):
            assert (data, retry) == ("", 5)
        case _:
            pytest.fail("no match")
    event = E("x")
    with pytest.raises(AttributeError):
        event.data = "changed"  # type: ignore[misc]
    assert {E("a"), E("a"), E("b")} == {E("a"), E("b")}
