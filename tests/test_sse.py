"""Server-sent events, parsed in Rust per the WHATWG EventSource rules, end to end over HTTP."""

from __future__ import annotations

import pytest

import requestx
from requestx import ServerSentEvent as E

CASES = {
    "basic": [E("message", "hello")],
    "multiline": [E("update", "line 1\nline 2", "42")],
    "crlf": [E("message", "a\nb"), E("message", "c\nd")],
    "bom": [E("message", "after bom")],
    "comments": [E("message", "x")],
    "no_colon": [E("message", ""), E("message", "\n")],
    "spaces": [E("message", "no space\n two spaces")],
    "id_persists": [E("message", "a", "1"), E("message", "b", "1"), E("message", "c", "")],
    "id_nul": [E("message", "a", "7"), E("message", "b", "7")],
    "retry": [E("message", "a", "", 1500), E("message", "b")],
    # Blocks with an event, id or retry field but no data are events too (httpx2, httpx-sse).
    "no_data": [E("ping", ""), E("message", "", "9"), E("message", "real", "9")],
    "unknown_field": [E("message", "kept")],
    "trailing": [E("message", "complete")],
    "utf8": [E("message", "héllo ✓")],
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("split", [0, 1, 3])
def test_sse_conformance_sync(server, case: str, split: int) -> None:
    with (
        requestx.Client() as c,
        requestx.connect_sse(c, "GET", server.url + "/sse", params={"case": case, "split": split}) as source,
    ):
        assert list(source.iter_sse()) == CASES[case]


def test_sse_async(server, arun) -> None:
    async def main() -> list[E]:
        async with (
            requestx.AsyncClient() as c,
            requestx.aconnect_sse(c, "GET", server.url + "/sse", params={"case": "multiline", "split": 2}) as source,
        ):
            return [event async for event in source.aiter_sse()]

    assert arun(main) == CASES["multiline"]


@pytest.mark.parametrize("split", [0, 1])
def test_sse_conformance_async(server, arun, split: int) -> None:
    # aiter_sse() is a native async iterator (src/text/aiter.rs): every case, split at every byte too.
    async def main() -> dict[str, list[E]]:
        seen = {}
        async with requestx.AsyncClient() as c:
            for case in sorted(CASES):
                params = {"case": case, "split": split}
                async with requestx.aconnect_sse(c, "GET", server.url + "/sse", params=params) as source:
                    seen[case] = [event async for event in source.aiter_sse()]
        return seen

    assert arun(main) == CASES


def test_sse_async_wrong_content_type_raises_when_iterated(server, arun) -> None:
    async def main() -> None:
        params = {"case": "basic", "type": "text/plain"}
        url = server.url + "/sse"
        async with requestx.AsyncClient() as c, requestx.aconnect_sse(c, "GET", url, params=params) as s:
            events = s.aiter_sse()  # as an async generator: nothing is checked before iterating
            with pytest.raises(requestx.SSEError, match="text/event-stream"):
                await anext(events)

    arun(main)


def test_sse_async_last_event_id_and_aclose(server, arun) -> None:
    async def main() -> tuple[str, str, list[str], str]:
        async with requestx.AsyncClient() as c:
            async with requestx.aconnect_sse(c, "GET", server.url + "/sse-resume") as source:
                assert source.last_event_id == ""
                events = source.aiter_sse()
                assert (await anext(events)).id == "1"
                assert (await anext(events)).id == "2"
                after_two = source.last_event_id  # the last event handed out, not the last parsed
                await events.aclose()
                with pytest.raises(StopAsyncIteration):
                    await anext(events)
            async with requestx.aconnect_sse(c, "GET", server.url + "/sse-resume", last_event_id=after_two) as source:
                ids = [event.id async for event in source.aiter_sse()]
                return after_two, source.last_event_id, ids, source.response.extensions["last_event_id"]

    assert arun(main) == ("2", "5", ["3", "4", "5"], "5")


def test_response_iter_sse(server) -> None:
    with requestx.Client() as c, c.stream("GET", server.url + "/sse", params={"case": "retry"}) as r:
        events = list(r.iter_sse())
    assert events[0].retry == 1500 and events[0].data == "a"


def test_sse_json_data(server) -> None:
    event = E("message", '{"delta": "hi"}')
    assert event.json() == {"delta": "hi"}


def test_sse_wrong_content_type(server) -> None:
    with (
        requestx.Client() as c,
        requestx.connect_sse(c, "GET", server.url + "/sse", params={"case": "basic", "type": "text/plain"}) as source,
    ):
        with pytest.raises(requestx.SSEError, match="text/event-stream"):
            list(source.iter_sse())


def test_sse_last_event_id_resume(server) -> None:
    with requestx.Client() as c:
        with requestx.connect_sse(c, "GET", server.url + "/sse-resume") as source:
            first = [e.data for e in source.iter_sse()]
            last = source.last_event_id
        assert first == ["event 1", "event 2", "event 3"] and last == "3"
        with requestx.connect_sse(c, "GET", server.url + "/sse-resume", last_event_id=last) as source:
            assert [e.id for e in source.iter_sse()] == ["4", "5", "6"]


def test_sse_request_headers(server) -> None:
    with requestx.Client() as c, requestx.connect_sse(c, "GET", server.url + "/echo") as source:
        headers = dict(source.response.read() and source.response.json()["headers"])
    assert headers["accept"] == "text/event-stream"
    assert headers["cache-control"] == "no-store"
