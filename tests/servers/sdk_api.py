"""A fake OpenAI and Anthropic HTTP API (plain ASGI, served by uvicorn or hypercorn) for the SDK tests.

`POST /v1/chat/completions` answers as OpenAI's Chat Completions API, `POST /v1/messages` as
Anthropic's Messages API; both as JSON, or with `"stream": true` as the server-sent events each SDK
parses. The model name picks a behaviour:

- `echo` (or anything else): a completion whose text is `echo: <the last user message>`;
- `rate-limit-N`: a 429 (with `retry-after-ms: 1` and `retry-after: 0`) the first N attempts of a
  test, then as `echo`;
- `error-500`: always a 500 (with `retry-after-ms: 1`, so the SDKs' retries are quick);
- `slow`: answers after 10 s, unless the client goes away first (recorded as a disconnect);
- `long`: (streaming) a stream of up to 3000 pieces, 10 ms apart, that ends when the client disconnects
  (recorded).

A test names itself with the `x-test-id` header. The server records every attempt of a test (with
the SDK's `x-stainless-retry-count`), served by `GET /attempts?id=`; `GET /disconnected?id=&wait=`
waits (boundedly) until the client of that test has disconnected, so tests need no sleeps.
"""

from __future__ import annotations

import asyncio
import json
import time
import typing
import urllib.parse

from tests.servers.app import _body as read_body
from tests.servers.app import serve_lifespan

Receive = typing.Callable[[], typing.Awaitable[dict[str, typing.Any]]]
Send = typing.Callable[[dict[str, typing.Any]], typing.Awaitable[None]]

#: Per test id: the `x-stainless-retry-count` of each attempt, in arrival order ("" when absent).
ATTEMPTS: dict[str, list[str]] = {}
#: Per test id: set once its client disconnected before the response was complete.
DISCONNECTS: dict[str, asyncio.Event] = {}
#: Per test id: how many stream pieces (or answers, for `slow`) were sent before the disconnect.
SENT: dict[str, int] = {}

SLOW_SECONDS = 10.0
LONG_PIECES = 3000


def _disconnect_event(key: str) -> asyncio.Event:
    event = DISCONNECTS.get(key)
    if event is None:
        event = DISCONNECTS[key] = asyncio.Event()
    return event


async def _wait_disconnect(receive: Receive, key: str) -> None:
    """Returns when the client has gone away (the request body is already read), recording it."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            _disconnect_event(key).set()
            return


async def _respond(send: Send, status: int, body: bytes, headers: typing.Sequence[tuple[bytes, bytes]] = ()) -> None:
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


async def _json(
    send: Send, obj: typing.Any, status: int = 200, headers: typing.Sequence[tuple[bytes, bytes]] = ()
) -> None:
    await _respond(send, status, json.dumps(obj).encode(), [(b"x-request-id", b"req_fake"), *headers])


def _openai_error(kind: str, message: str) -> dict[str, typing.Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _anthropic_error(kind: str, message: str) -> dict[str, typing.Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _last_user_text(messages: list[dict[str, typing.Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return "".join(part.get("text", "") for part in content or () if isinstance(part, dict))
    return ""


# OpenAI: Chat Completions.


def _chat_completion(model: str, text: str) -> dict[str, typing.Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": len(text.split()), "total_tokens": 5 + len(text.split())},
    }


def _chat_chunk(model: str, delta: dict[str, typing.Any], finish_reason: str | None = None) -> bytes:
    chunk = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


# Anthropic: Messages.


def _message(model: str, text: str) -> dict[str, typing.Any]:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": "end_turn" if text else None,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": len(text.split())},
    }


def _event(name: str, data: dict[str, typing.Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + json.dumps(data).encode() + b"\n\n"


def _text_delta(piece: str) -> bytes:
    return _event(
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
    )


def _message_stream_head(model: str) -> list[bytes]:
    return [
        _event("message_start", {"type": "message_start", "message": _message(model, "")}),
        _event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        _event("ping", {"type": "ping"}),
    ]


def _message_stream_tail(pieces: int) -> list[bytes]:
    return [
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": pieces},
            },
        ),
        _event("message_stop", {"type": "message_stop"}),
    ]


def _pieces(text: str) -> list[str]:
    """The text cut into the pieces a model would stream: words with their following space."""
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]]


async def _stream(send: Send, receive: Receive, key: str, events: typing.Iterable[bytes], pace: float = 0.0) -> None:
    """Sends `events` as a text/event-stream; stops (recording it) if the client disconnects."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")],
        }
    )
    watcher = asyncio.ensure_future(_wait_disconnect(receive, key))
    SENT[key] = 0
    try:
        for event in events:
            if watcher.done():
                return
            await send({"type": "http.response.body", "body": event, "more_body": True})
            SENT[key] += 1
            if pace:
                await asyncio.sleep(pace)
        await send({"type": "http.response.body", "body": b""})
    finally:
        watcher.cancel()


async def _api(scope: dict[str, typing.Any], receive: Receive, send: Send, provider: str) -> None:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    key = headers.get("x-test-id", "")
    body = json.loads(await read_body(receive) or b"{}")
    model = str(body.get("model", "echo"))
    attempts = ATTEMPTS.setdefault(key, [])
    attempts.append(headers.get("x-stainless-retry-count", ""))
    error = _openai_error if provider == "openai" else _anthropic_error
    quick_retry = [(b"retry-after-ms", b"1"), (b"retry-after", b"0")]

    if model.startswith("rate-limit-") and len(attempts) <= int(model.rsplit("-", 1)[1]):
        await _json(send, error("rate_limit_error", "slow down"), 429, quick_retry)
        return
    if model == "error-500":
        await _json(send, error("api_error", "the fake server always fails"), 500, quick_retry)
        return
    if model == "slow":
        watcher = asyncio.ensure_future(_wait_disconnect(receive, key))
        done, _ = await asyncio.wait([watcher], timeout=SLOW_SECONDS)
        if done:
            return  # the client gave up: nothing to answer
        watcher.cancel()
        SENT[key] = 1

    text = "echo: " + _last_user_text(body.get("messages", []))
    long = model == "long"
    pieces = [f"piece{i} " for i in range(LONG_PIECES)] if long else _pieces(text)
    if provider == "openai":
        if not body.get("stream"):
            await _json(send, _chat_completion(model, text))
            return
        events = [_chat_chunk(model, {"role": "assistant", "content": ""})]
        events += [_chat_chunk(model, {"content": piece}) for piece in pieces]
        events += [_chat_chunk(model, {}, "stop"), b"data: [DONE]\n\n"]
    else:
        if not body.get("stream"):
            await _json(send, _message(model, text))
            return
        events = _message_stream_head(model) + [_text_delta(p) for p in pieces] + _message_stream_tail(len(pieces))
    await _stream(send, receive, key, events, pace=0.01 if long else 0.0)


async def app(scope: dict[str, typing.Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await serve_lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    path, method = scope["path"], scope["method"]
    query = dict(urllib.parse.parse_qsl(scope.get("query_string", b"").decode()))
    if method == "POST" and path == "/v1/chat/completions":
        await _api(scope, receive, send, "openai")
    elif method == "POST" and path == "/v1/messages":
        await _api(scope, receive, send, "anthropic")
    elif path == "/health":
        await _json(send, {"ok": True})
    elif path == "/attempts":
        retry_counts = ATTEMPTS.get(query["id"], [])
        await _json(send, {"count": len(retry_counts), "retry_counts": retry_counts})
    elif path == "/disconnected":
        # Waits (at most `wait` seconds) for the client of test `id` to disconnect.
        event = _disconnect_event(query["id"])
        try:
            await asyncio.wait_for(event.wait(), float(query.get("wait", "10")))
        except asyncio.TimeoutError:
            pass
        await _json(send, {"disconnected": event.is_set(), "sent": SENT.get(query["id"], 0)})
    else:
        await _json(send, {"error": {"message": f"no route {method} {path}", "type": "not_found"}}, 404)
