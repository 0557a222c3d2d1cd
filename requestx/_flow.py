"""The one request flow: cookies → request hooks → auth → send → response hooks → redirects.

It is written once, as a sans-IO generator (`request_flow`) that never waits itself. It yields
commands and is resumed with their results:

* `(SEND, request)`: "send this request and resume me with its `Response`" (or throw its error in);
* `(fn, arg)`: "await `fn(arg)` and resume me with the result": a hook, a step of the auth flow,
  reading or closing a response (an async flow only: a sync flow makes those calls itself).

`Client` drives it by blocking (`drive`), `AsyncClient` by awaiting (`adrive`), and the worker
pool by queueing each SEND for the engine into its batch and resuming the flow when the batch
hands the response back (`drive` and `adrive` return `QUEUED` then). The plain request (no hooks,
auth, cookies or redirect) never enters it: the faces keep a fused path for it (see `Client._send_plain`).
"""

from __future__ import annotations

import time
import typing

from ._auth import Auth
from ._exceptions import RequestError, TooManyRedirects
from ._models import Request, RequestParts, Response
from ._redirects import build_redirect_request
from ._status_codes import REDIRECT_CODES
from ._transports import checked_response

if typing.TYPE_CHECKING:
    from ._client import _BaseClient

__all__ = ["QUEUED", "SEND", "Flow", "adrive", "attach_request", "drive", "request_flow"]


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: The command "send this request".
SEND: typing.Any = _Marker("SEND")
#: What an engine send returns when it only queued the request (the pool resumes the flow later).
QUEUED: typing.Any = _Marker("QUEUED")

Command = tuple[typing.Any, typing.Any]
Flow = typing.Generator[Command, typing.Any, Response]
#: Sends a request to the engine (`stream` as `send(stream=)`): its Response (a sync face), an
#: awaitable of it (an async face), or QUEUED when the response comes back later (the pool).
EngineSend = typing.Callable[[Request, bool], typing.Any]


def attach_request(exc: BaseException, request: Request | RequestParts) -> None:
    """Gives a request error the request it concerns, unless it already has one (a transport may
    have set it). The parts of a request not built yet are built only here, on failure."""
    if isinstance(exc, RequestError) and exc._request is None:
        exc._request = request if isinstance(request, Request) else Request._from_parts(request)


def _awaits_nothing(auth: Auth) -> bool:
    """Whether `auth`'s async flow is the base one over `auth_flow` with no body to read, so its
    sync flow is the same flow without an await per step (Basic, Digest, netrc, a function).
    NOTE: stepping those in place took an async request with BasicAuth and two hooks from ~2.5%
    below the old per-face code to level with it (two commands and a thrown StopAsyncIteration
    fewer)."""
    cls = type(auth)
    return (
        cls.async_auth_flow is Auth.async_auth_flow
        and cls.sync_auth_flow is Auth.sync_auth_flow
        and not auth.requires_request_body
        and not auth.requires_response_body
    )


def request_flow(
    client: _BaseClient,
    request: Request,
    auth: Auth | None,
    follow: bool,
    is_async: bool,
    sent: Response | None = None,
) -> Flow:
    """The hops of one `send`: each request of the auth flow (if any), then each redirect (if
    followed), as commands; returns the final response. `sent` is the response of a first hop
    the fused path already sent (its cookies stored; a plain client has no hooks)."""
    # NOTE: a sync flow makes its calls itself and yields only SEND; yielding every hook and auth
    # step to the driver too cost a map() with auth and two hooks ~5% of its rate.
    sync = not is_async
    advance: typing.Any = None
    if auth is not None:
        # An auth whose async flow awaits nothing is stepped in place in an async flow too.
        in_place = sync or _awaits_nothing(auth)
        advance = auth.sync_auth_flow(request).send if in_place else auth.async_auth_flow(request).asend
        request = advance(None) if in_place else (yield (advance, None))
    history: list[Response] = []
    response = sent
    while True:
        if response is None:
            client._apply_cookies(request)
            for hook in client._request_hooks:
                hook(request) if sync else (yield (hook, request))
            try:
                response = yield (SEND, request)
            except RequestError as exc:
                attach_request(exc, request)
                raise
            client._store_cookies(response)
            for hook in client._response_hooks:
                hook(response) if sync else (yield (hook, response))
        if advance is not None:
            try:
                next_request = advance(response) if in_place else (yield (advance, response))
            except (StopIteration, StopAsyncIteration):
                advance = None  # the auth flow is done with: this response goes on
            except BaseException:
                response.close() if sync else (yield (Response.aclose, response))  # as httpx
                raise
            else:
                # As httpx: a response the auth flow consumed is read and kept in the history.
                response.read() if sync else (yield (Response.aread, response))
                response.history = list(history)
                history.append(response)
                request, response = next_request, None
                continue
        if response.status_code not in REDIRECT_CODES or "location" not in response.headers:
            if history:
                response.history = history
            return response
        response.history = list(history)
        next_request = build_redirect_request(request, response)
        if not follow:
            response.next_request = next_request
            return response
        if len(history) >= client.max_redirects:
            raise TooManyRedirects("Exceeded maximum allowed redirects.", request=request)
        response.read() if sync else (yield (Response.aread, response))
        history.append(response)
        request, response = next_request, None


def _from_transport(client: _BaseClient, response: typing.Any, request: Request, started: float) -> Response:
    """A transport's response as the client returns it."""
    response = checked_response(response)
    response.request = request
    if client.default_encoding != "utf-8":
        response.default_encoding = client.default_encoding
    response._elapsed = time.perf_counter() - started
    return typing.cast(Response, response)


def drive(
    flow: Flow, client: _BaseClient, engine_send: EngineSend, stream: bool, response: Response | None = None
) -> typing.Any:
    """Runs a sync flow from a thread, resumed first with `response` (None to start it): its final
    Response, or QUEUED when `engine_send` queued a request (resume it with the response later)."""
    value: typing.Any = response
    error: BaseException | None = None
    while True:
        try:
            _, request = flow.send(value) if error is None else flow.throw(error)
        except StopIteration as stop:
            return stop.value
        error = None
        try:
            transport = client._transport_for(request.url)
            if transport is None:
                value = engine_send(request, stream)
                if value is QUEUED:
                    return QUEUED
            else:
                started = time.perf_counter()
                value = _from_transport(client, transport.handle_request(request), request, started)
                if not stream:
                    value.read()
        except BaseException as exc:  # thrown in: the flow gives the error its request
            error = exc


async def adrive(
    flow: Flow, client: _BaseClient, engine_send: EngineSend, stream: bool, response: Response | None = None
) -> typing.Any:
    """`drive` for asyncio, uvloop, trio and anyio: every call the flow asks for is awaited."""
    value: typing.Any = response
    error: BaseException | None = None
    while True:
        try:
            fn, arg = flow.send(value) if error is None else flow.throw(error)
        except StopIteration as stop:
            return stop.value
        error = None
        try:
            if fn is not SEND:
                value = await fn(arg)
                continue
            transport = client._transport_for(arg.url)
            if transport is None:
                value = engine_send(arg, stream)
                if value is QUEUED:
                    return QUEUED
                value = await value
                continue
            started = time.perf_counter()
            value = _from_transport(client, await transport.handle_async_request(arg), arg, started)
            if not stream:
                await value.aread()
        except BaseException as exc:
            error = exc
