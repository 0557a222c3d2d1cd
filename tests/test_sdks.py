"""The official OpenAI and Anthropic SDKs on requestx's engine, through `requestx.HttpxTransport` and
`requestx.AsyncHttpxTransport` under httpx2 clients (and httpx 0.28's, for openai), against a fake
API server (tests/servers/sdk_api.py) in a uvicorn subprocess on 127.0.0.1.

What the SDKs build on the transport is checked end to end: JSON and streamed completions, the SDKs'
own retries (the server counts the attempts), their exception classes for refused connections and
timeouts (whose cause chains hold the host library's exceptions), and early exits from streams (the
server sees the disconnect). Async tests run under every runtime of the `arun` fixture.
"""

from __future__ import annotations

import json
import socket
import time
import typing
import urllib.request
import uuid

import anthropic
import httpx
import httpx2
import openai
import pytest

import requestx
from tests.conftest import Server, hypercorn, uvicorn
from tests.servers.sdk_api import LONG_PIECES, SLOW_SECONDS

PROMPT = "one two three"
ECHO = "echo: " + PROMPT
ECHO_PIECES = ["echo: ", "one ", "two ", "three"]
MESSAGES: typing.Any = [{"role": "user", "content": PROMPT}]


@pytest.fixture(scope="session")
def sdk_api() -> typing.Iterator[Server]:
    """The fake OpenAI/Anthropic API under uvicorn (HTTP/1.1)."""
    s = Server(uvicorn("tests.servers.sdk_api:app"), probe_path="/health")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def sdk_api_h2() -> typing.Iterator[Server]:
    """The fake API under hypercorn: HTTP/2 with prior knowledge over cleartext (and HTTP/1.1)."""
    s = Server(hypercorn(app="tests.servers.sdk_api:app"), probe_path="/health")
    yield s
    s.stop()


def observed(server: Server, path: str) -> dict[str, typing.Any]:
    """What the fake server recorded (its GET endpoints wait boundedly where they need to)."""
    with urllib.request.urlopen(server.url + path, timeout=20) as r:
        return typing.cast("dict[str, typing.Any]", json.loads(r.read()))


def attempts(server: Server, key: str) -> dict[str, typing.Any]:
    return observed(server, f"/attempts?id={key}")


def disconnected(server: Server, key: str) -> dict[str, typing.Any]:
    """Waits (at most 10 s, server-side) for the client of `key` to go away."""
    return observed(server, f"/disconnected?id={key}&wait=10")


def refused_url() -> str:
    """A URL of a port nothing listens on: bound, then closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def chain(exc: BaseException | None) -> list[BaseException]:
    """`exc` and its causes (explicit, else implicit), outermost first."""
    out: list[BaseException] = []
    while exc is not None and all(exc is not e for e in out):
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def has(exc: BaseException, cls: type[BaseException]) -> bool:
    return any(isinstance(e, cls) for e in chain(exc))


def sync_openai(url: str, key: str, **kwargs: typing.Any) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-test",
        base_url=url + "/v1",
        http_client=httpx2.Client(transport=requestx.HttpxTransport()),
        default_headers={"x-test-id": key},
        **kwargs,
    )


def async_openai(url: str, key: str, **kwargs: typing.Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key="sk-test",
        base_url=url + "/v1",
        http_client=httpx2.AsyncClient(transport=requestx.AsyncHttpxTransport()),
        default_headers={"x-test-id": key},
        **kwargs,
    )


def sync_anthropic(url: str, key: str, **kwargs: typing.Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="sk-ant-test",
        base_url=url,
        http_client=httpx2.Client(transport=requestx.HttpxTransport()),
        default_headers={"x-test-id": key},
        **kwargs,
    )


def async_anthropic(url: str, key: str, **kwargs: typing.Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key="sk-ant-test",
        base_url=url,
        http_client=httpx2.AsyncClient(transport=requestx.AsyncHttpxTransport()),
        default_headers={"x-test-id": key},
        **kwargs,
    )


def new_key() -> str:
    return uuid.uuid4().hex


# The events of the fake stream, as the Anthropic SDK yields them (it drops `ping`).
ANTHROPIC_EVENTS = [
    "message_start",
    "content_block_start",
    *["content_block_delta"] * len(ECHO_PIECES),
    "content_block_stop",
    "message_delta",
    "message_stop",
]


# OpenAI, sync.


def test_openai_chat_completion(sdk_api: Server) -> None:
    key = new_key()
    with sync_openai(sdk_api.url, key) as client:
        completion = client.chat.completions.create(model="echo", messages=MESSAGES)
    assert completion.choices[0].message.content == ECHO
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens == 5 + len(ECHO.split())
    assert completion._request_id == "req_fake"  # a response header, read through the host's Response
    assert attempts(sdk_api, key) == {"count": 1, "retry_counts": ["0"]}


def test_openai_chat_stream(sdk_api: Server) -> None:
    with sync_openai(sdk_api.url, new_key()) as client:
        stream = client.chat.completions.create(model="echo", messages=MESSAGES, stream=True)
        chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].delta.content for c in chunks[1:-1]] == ECHO_PIECES
    assert chunks[-1].choices[0].finish_reason == "stop"  # the last chunk before [DONE]
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_openai_retries_429_then_200(sdk_api: Server) -> None:
    key = new_key()
    with sync_openai(sdk_api.url, key, max_retries=2) as client:
        completion = client.chat.completions.create(model="rate-limit-2", messages=MESSAGES)
    assert completion.choices[0].message.content == ECHO
    # Two 429s, then the answer: the SDK's own retries, each numbered by the SDK.
    assert attempts(sdk_api, key) == {"count": 3, "retry_counts": ["0", "1", "2"]}


def test_openai_500_after_retries(sdk_api: Server) -> None:
    key = new_key()
    with sync_openai(sdk_api.url, key, max_retries=2) as client, pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="error-500", messages=MESSAGES)
    assert info.value.status_code == 500
    assert isinstance(info.value.response, httpx2.Response)
    assert attempts(sdk_api, key)["count"] == 3  # max_retries + 1


def test_openai_connection_refused() -> None:
    with sync_openai(refused_url(), new_key(), max_retries=0) as client:
        with pytest.raises(openai.APIConnectionError) as info:
            client.chat.completions.create(model="echo", messages=MESSAGES)
    assert not isinstance(info.value, openai.APITimeoutError)
    assert has(info.value, httpx2.ConnectError)
    assert has(info.value, requestx.ConnectError)  # the engine's error is the host's cause


def test_openai_timeout(sdk_api: Server) -> None:
    key = new_key()
    with sync_openai(sdk_api.url, key, timeout=0.5, max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError) as info:
            client.chat.completions.create(model="slow", messages=MESSAGES)
        elapsed = time.monotonic() - started
    assert has(info.value, httpx2.TimeoutException)
    assert has(info.value, requestx.TimeoutException)  # raised by the engine, as the host's class
    assert elapsed < SLOW_SECONDS / 2
    # The server never answered: the client went away while it waited.
    assert disconnected(sdk_api, key) == {"disconnected": True, "sent": 0}


def test_openai_stream_break_disconnects(sdk_api: Server) -> None:
    key = new_key()
    with sync_openai(sdk_api.url, key) as client:
        with client.chat.completions.create(model="long", messages=MESSAGES, stream=True) as stream:
            for i, chunk in enumerate(stream):
                assert chunk.choices[0].delta.content == ("" if i == 0 else f"piece{i - 1} ")
                if i == 3:
                    break
        seen = disconnected(sdk_api, key)
        assert seen["disconnected"] and seen["sent"] < LONG_PIECES
        # The client (and its pool) lives on.
        assert client.chat.completions.create(model="echo", messages=MESSAGES).choices[0].message.content == ECHO


def test_openai_on_legacy_httpx_client(sdk_api: Server) -> None:
    """openai also accepts an httpx 0.28 client: the transport answers with httpx's classes."""
    key = new_key()
    client = openai.OpenAI(
        api_key="sk-test",
        base_url=sdk_api.url + "/v1",
        http_client=httpx.Client(transport=requestx.HttpxTransport()),
        default_headers={"x-test-id": key},
        max_retries=1,
    )
    with client:
        raw = client.chat.completions.with_raw_response.create(model="rate-limit-1", messages=MESSAGES)
        assert isinstance(raw.http_response, httpx.Response)
        assert raw.parse().choices[0].message.content == ECHO
        stream = client.chat.completions.create(model="echo", messages=MESSAGES, stream=True)
        assert [c.choices[0].delta.content for c in stream][1:-1] == ECHO_PIECES
        with pytest.raises(openai.APITimeoutError) as info:
            client.with_options(max_retries=0).chat.completions.create(model="slow", messages=MESSAGES, timeout=0.5)
    assert has(info.value, httpx.TimeoutException)
    assert attempts(sdk_api, key)["count"] == 4  # 429 + 200, the stream, the timed-out one


# Anthropic, sync.


def test_anthropic_message(sdk_api: Server) -> None:
    key = new_key()
    with sync_anthropic(sdk_api.url, key) as client:
        message = client.messages.create(model="echo", max_tokens=64, messages=MESSAGES)
    assert message.content[0].type == "text" and message.content[0].text == ECHO
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 5
    assert attempts(sdk_api, key)["count"] == 1


def test_anthropic_raw_stream_events(sdk_api: Server) -> None:
    with sync_anthropic(sdk_api.url, new_key()) as client:
        events = list(client.messages.create(model="echo", max_tokens=64, messages=MESSAGES, stream=True))
    assert [e.type for e in events] == ANTHROPIC_EVENTS
    assert (
        "".join(e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta")
        == ECHO
    )


def test_anthropic_stream_helper(sdk_api: Server) -> None:
    with sync_anthropic(sdk_api.url, new_key()) as client:
        with client.messages.stream(model="echo", max_tokens=64, messages=MESSAGES) as stream:
            texts = list(stream.text_stream)
            final = stream.get_final_message()
    assert texts == ECHO_PIECES
    assert final.content[0].type == "text" and final.content[0].text == ECHO
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == len(ECHO_PIECES)


def test_anthropic_retries_429_then_200(sdk_api: Server) -> None:
    key = new_key()
    with sync_anthropic(sdk_api.url, key, max_retries=3) as client:
        message = client.messages.create(model="rate-limit-3", max_tokens=64, messages=MESSAGES)
    assert message.content[0].type == "text" and message.content[0].text == ECHO
    assert attempts(sdk_api, key) == {"count": 4, "retry_counts": ["0", "1", "2", "3"]}


def test_anthropic_500_after_retries(sdk_api: Server) -> None:
    key = new_key()
    with (
        sync_anthropic(sdk_api.url, key, max_retries=2) as client,
        pytest.raises(anthropic.InternalServerError) as info,
    ):
        client.messages.create(model="error-500", max_tokens=64, messages=MESSAGES)
    assert info.value.status_code == 500
    assert attempts(sdk_api, key)["count"] == 3


def test_anthropic_connection_refused() -> None:
    with sync_anthropic(refused_url(), new_key(), max_retries=0) as client:
        with pytest.raises(anthropic.APIConnectionError) as info:
            client.messages.create(model="echo", max_tokens=64, messages=MESSAGES)
    assert not isinstance(info.value, anthropic.APITimeoutError)
    assert has(info.value, httpx2.ConnectError)


def test_anthropic_timeout_per_request(sdk_api: Server) -> None:
    key = new_key()
    with sync_anthropic(sdk_api.url, key, max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(anthropic.APITimeoutError) as info:
            client.messages.create(model="slow", max_tokens=64, messages=MESSAGES, timeout=0.5)
        elapsed = time.monotonic() - started
    assert has(info.value, httpx2.TimeoutException)
    assert elapsed < SLOW_SECONDS / 2
    assert disconnected(sdk_api, key) == {"disconnected": True, "sent": 0}


def test_anthropic_stream_break_disconnects(sdk_api: Server) -> None:
    key = new_key()
    with sync_anthropic(sdk_api.url, key) as client:
        with client.messages.stream(model="long", max_tokens=64, messages=MESSAGES) as stream:
            for i, text in enumerate(stream.text_stream):
                assert text == f"piece{i} "
                if i == 2:
                    break
        seen = disconnected(sdk_api, key)
        assert seen["disconnected"] and seen["sent"] < LONG_PIECES


# HTTP/2 (prior knowledge over cleartext, against hypercorn).


def test_openai_over_http2(sdk_api_h2: Server) -> None:
    client = openai.OpenAI(
        api_key="sk-test",
        base_url=sdk_api_h2.url + "/v1",
        http_client=httpx2.Client(transport=requestx.HttpxTransport(http1=False, http2=True)),
    )
    with client:
        raw = client.chat.completions.with_raw_response.create(model="echo", messages=MESSAGES)
        assert raw.http_response.http_version == "HTTP/2"
        assert raw.parse().choices[0].message.content == ECHO
        stream = client.chat.completions.create(model="echo", messages=MESSAGES, stream=True)
        assert [c.choices[0].delta.content for c in stream][1:-1] == ECHO_PIECES


def test_async_anthropic_over_http2(sdk_api_h2: Server, arun: typing.Any) -> None:
    async def main() -> None:
        client = anthropic.AsyncAnthropic(
            api_key="sk-ant-test",
            base_url=sdk_api_h2.url,
            http_client=httpx2.AsyncClient(transport=requestx.AsyncHttpxTransport(http1=False, http2=True)),
        )
        async with client:
            raw = await client.messages.with_raw_response.create(model="echo", max_tokens=64, messages=MESSAGES)
            assert raw.http_response.http_version == "HTTP/2"
            async with client.messages.stream(model="echo", max_tokens=64, messages=MESSAGES) as stream:
                assert [t async for t in stream.text_stream] == ECHO_PIECES

    arun(main)


# Async: both SDKs, under every runtime.


def test_async_openai_completion_and_stream(sdk_api: Server, arun: typing.Any) -> None:
    key = new_key()

    async def main() -> None:
        async with async_openai(sdk_api.url, key) as client:
            completion = await client.chat.completions.create(model="echo", messages=MESSAGES)
            assert completion.choices[0].message.content == ECHO
            assert completion._request_id == "req_fake"
            stream = await client.chat.completions.create(model="echo", messages=MESSAGES, stream=True)
            chunks = [c async for c in stream]
            assert chunks[0].choices[0].delta.role == "assistant"
            assert [c.choices[0].delta.content for c in chunks[1:-1]] == ECHO_PIECES
            assert chunks[-1].choices[0].finish_reason == "stop"
            # Concurrent requests on one client.
            results = await arun.gather(
                [lambda: client.chat.completions.create(model="echo", messages=MESSAGES) for _ in range(5)]
            )
            assert all(r.choices[0].message.content == ECHO for r in results)

    arun(main)
    assert attempts(sdk_api, key)["count"] == 7


def test_async_anthropic_message_and_streams(sdk_api: Server, arun: typing.Any) -> None:
    async def main() -> None:
        async with async_anthropic(sdk_api.url, new_key()) as client:
            message = await client.messages.create(model="echo", max_tokens=64, messages=MESSAGES)
            assert message.content[0].type == "text" and message.content[0].text == ECHO
            raw = await client.messages.create(model="echo", max_tokens=64, messages=MESSAGES, stream=True)
            assert [e.type async for e in raw] == ANTHROPIC_EVENTS
            async with client.messages.stream(model="echo", max_tokens=64, messages=MESSAGES) as stream:
                assert [t async for t in stream.text_stream] == ECHO_PIECES
                final = await stream.get_final_message()
            assert final.content[0].type == "text" and final.content[0].text == ECHO
            assert final.stop_reason == "end_turn"

    arun(main)


def test_async_retries(sdk_api: Server, arun: typing.Any) -> None:
    keys = {name: new_key() for name in ("openai-429", "openai-500", "anthropic-429", "anthropic-500")}

    async def main() -> None:
        async with async_openai(sdk_api.url, keys["openai-429"], max_retries=2) as client:
            completion = await client.chat.completions.create(model="rate-limit-2", messages=MESSAGES)
            assert completion.choices[0].message.content == ECHO
        async with async_openai(sdk_api.url, keys["openai-500"], max_retries=2) as client:
            with pytest.raises(openai.InternalServerError):
                await client.chat.completions.create(model="error-500", messages=MESSAGES)
        async with async_anthropic(sdk_api.url, keys["anthropic-429"], max_retries=2) as aclient:
            message = await aclient.messages.create(model="rate-limit-2", max_tokens=64, messages=MESSAGES)
            assert message.content[0].type == "text" and message.content[0].text == ECHO
        async with async_anthropic(sdk_api.url, keys["anthropic-500"], max_retries=1) as aclient:
            with pytest.raises(anthropic.InternalServerError):
                await aclient.messages.create(model="error-500", max_tokens=64, messages=MESSAGES)

    arun(main)
    assert attempts(sdk_api, keys["openai-429"]) == {"count": 3, "retry_counts": ["0", "1", "2"]}
    assert attempts(sdk_api, keys["openai-500"])["count"] == 3
    assert attempts(sdk_api, keys["anthropic-429"]) == {"count": 3, "retry_counts": ["0", "1", "2"]}
    assert attempts(sdk_api, keys["anthropic-500"])["count"] == 2


def test_async_connection_refused(arun: typing.Any) -> None:
    url = refused_url()

    async def main() -> None:
        async with async_openai(url, new_key(), max_retries=0) as client:
            with pytest.raises(openai.APIConnectionError) as info:
                await client.chat.completions.create(model="echo", messages=MESSAGES)
            assert not isinstance(info.value, openai.APITimeoutError)
            assert has(info.value, httpx2.ConnectError)
        async with async_anthropic(url, new_key(), max_retries=0) as aclient:
            with pytest.raises(anthropic.APIConnectionError) as ainfo:
                await aclient.messages.create(model="echo", max_tokens=64, messages=MESSAGES)
            assert not isinstance(ainfo.value, anthropic.APITimeoutError)
            assert has(ainfo.value, httpx2.ConnectError)

    arun(main)


def test_async_timeouts(sdk_api: Server, arun: typing.Any) -> None:
    keys = [new_key(), new_key()]

    async def main() -> None:
        async with async_openai(sdk_api.url, keys[0], timeout=0.5, max_retries=0) as client:
            started = time.monotonic()
            with pytest.raises(openai.APITimeoutError) as info:
                await client.chat.completions.create(model="slow", messages=MESSAGES)
            assert time.monotonic() - started < SLOW_SECONDS / 2
            assert has(info.value, httpx2.TimeoutException)
        async with async_anthropic(sdk_api.url, keys[1], max_retries=0) as aclient:
            started = time.monotonic()
            with pytest.raises(anthropic.APITimeoutError) as ainfo:
                await aclient.messages.create(model="slow", max_tokens=64, messages=MESSAGES, timeout=0.5)
            assert time.monotonic() - started < SLOW_SECONDS / 2
            assert has(ainfo.value, httpx2.TimeoutException)

    arun(main)
    for key in keys:
        assert disconnected(sdk_api, key) == {"disconnected": True, "sent": 0}


def test_async_stream_break_disconnects(sdk_api: Server, arun: typing.Any) -> None:
    keys = [new_key(), new_key()]

    async def main() -> None:
        async with async_openai(sdk_api.url, keys[0]) as client:
            stream = await client.chat.completions.create(model="long", messages=MESSAGES, stream=True)
            async with stream:
                i = 0
                async for _ in stream:
                    i += 1
                    if i == 3:
                        break
        async with async_anthropic(sdk_api.url, keys[1]) as aclient:
            async with aclient.messages.stream(model="long", max_tokens=64, messages=MESSAGES) as astream:
                async for text in astream.text_stream:
                    assert text == "piece0 "
                    break

    arun(main)
    for key in keys:
        seen = disconnected(sdk_api, key)
        assert seen["disconnected"] and seen["sent"] < LONG_PIECES
