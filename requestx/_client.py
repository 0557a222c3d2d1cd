"""`Client` and `AsyncClient`: two thin faces over one Rust core (`ClientCore`).

Everything both share (settings, merging, redirects, auth, hooks) lives in `_BaseClient`; the
faces differ only in how they wait: a thread blocks in Rust with the GIL released, a coroutine
awaits the bridge. The common path (no redirect, no auth, no hooks) is one engine call.
"""

from __future__ import annotations

import contextlib
import time
import typing
import warnings

from . import _bridge, _sse
from ._auth import Auth, AuthTypes, BasicAuth, build_auth
from ._config import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_REDIRECTS,
    DEFAULT_TIMEOUT_CONFIG,
    USE_CLIENT_DEFAULT,
    Limits,
    Proxy,
    Timeout,
    TimeoutTypes,
    UseClientDefault,
)
from ._content import RequestContent, encode_request
from ._cookies import Cookies, CookieTypes
from ._engine import (
    Outgoing,
    VerifyTypes,
    make_core,
    outgoing,
    request_outgoing,
    request_timeouts,
    send_async,
    send_sync,
)
from ._exceptions import RequestError
from ._flow import Flow, adrive, attach_request, drive, request_flow
from ._headers import Headers, HeaderTypes
from ._models import NO_BODY, Request, RequestParts, Response, adopt_request, prepare_headers
from ._multipart import boundary_of
from ._pool import MapItem, Pool, Result, Run
from ._proxies import as_proxy, build_mounts, engine_proxy_url, transport_for_url
from ._redirects import redirect_headers
from ._requestx import Retry
from ._status_codes import REDIRECT_CODES
from ._transports import AsyncHTTPTransport, HTTPTransport, routed
from ._urls import URL, QueryParams, QueryParamTypes

__all__ = ["AsyncClient", "Client"]

__version__ = "0.1.0"
USER_AGENT = f"python-requestx/{__version__}"

EventHook = typing.Callable[..., typing.Any]


def _url_auth(url: URL) -> Auth | None:
    """Basic auth for credentials in the URL (`http://user:pass@host/`), as httpx applies them."""
    username, password = url.username, url.password
    return BasicAuth(username, password) if username or password else None


def _target(url: URL | str) -> str:
    """A URL as the engine takes it: a string goes as it is (the engine validates it), so the URL
    object is built only if `response.url` or `.request` is asked for."""
    return url if type(url) is str else str(URL(url))


class _BaseClient:
    #: The face's transport over the engine (proxy mounts, `_transport_for_url`).
    _engine_transport: type[HTTPTransport] | type[AsyncHTTPTransport]

    def __init__(
        self,
        *,
        auth: AuthTypes | None = None,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        cookies: typing.Any = None,
        verify: VerifyTypes = True,
        cert: typing.Any = None,
        http1: bool = True,
        http2: bool = False,
        proxy: str | URL | None = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT_CONFIG,
        follow_redirects: bool = False,
        limits: Limits = DEFAULT_LIMITS,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        event_hooks: typing.Mapping[str, list[EventHook]] | None = None,
        base_url: URL | str = "",
        transport: typing.Any = None,
        mounts: typing.Mapping[str, typing.Any] | None = None,
        trust_env: bool = True,
        default_encoding: str | typing.Callable[[bytes], str] = "utf-8",
        retries: int | Retry | None = None,
    ) -> None:
        self._cookies = Cookies(cookies)
        self._retry = self._retry_arg(retries)
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be a requestx.Limits, not {type(limits).__name__}")
        self._timeout = timeout if isinstance(timeout, Timeout) else Timeout(timeout)
        self._timeout_dict = self._timeout.as_dict()
        self.follow_redirects = follow_redirects
        self.max_redirects = max_redirects
        self._auth = build_auth(auth)
        self._params = QueryParams(params)
        self._base_url = self._enforce_trailing_slash(URL(base_url)) if base_url else None
        self._headers = Headers(
            {
                "Accept": "*/*",
                "Accept-Encoding": "gzip, deflate, br, zstd",
                "Connection": "keep-alive",
                "User-Agent": USER_AGENT,
            }
        )
        if headers is not None:
            self._headers.update(headers)
        hooks = dict(event_hooks or {})
        self._request_hooks: list[EventHook] = list(hooks.get("request", []))
        self._response_hooks: list[EventHook] = list(hooks.get("response", []))
        self.default_encoding = default_encoding
        self.trust_env = trust_env
        self._limits = limits
        #: `limits` when they bound decoding otherwise than the defaults (streamed bodies read them).
        self._decode_limits = (
            limits if limits.max_decompressed_size is not None or limits.max_decompression_ratio is not None else None
        )
        self._closed = False
        self._opened = False
        self._plain = False
        #: What the engine was built with, for `requestx.testing` (the same settings on httpx's transport).
        self._transport_options = {
            "verify": verify,
            "cert": cert,
            "trust_env": trust_env,
            "http1": http1,
            "http2": http2,
            "limits": limits,
            "proxy": proxy,
        }
        # An explicit proxy goes to the engine (the fast path stays); the environment's proxies
        # and NO_PROXY are decided here as httpx decides them (`_proxies`), never by the engine.
        self._core = make_core(
            **{**self._transport_options, "proxy": None if proxy is None else engine_proxy_url(as_proxy(proxy))},
            connect_timeout=self._timeout.connect,
            proxy_env=False,
        )
        self._set_routes(transport, mounts, proxy, trust_env)
        self._refresh_plain()

    def _refresh_plain(self) -> None:
        """Whether `get(url)` with no arguments can skip merging, auth and hooks entirely."""
        self._plain = not (
            self._closed
            or self._base_url is not None
            or self._params
            or self._auth is not None
            or self._request_hooks
            or self._response_hooks
            or self._routes
        )

    @staticmethod
    def _retry_arg(retries: int | Retry | None) -> Retry | None:
        """`retries=`: a `Retry`, a number of retries under the default policy, or None/0 for none."""
        if retries is None or isinstance(retries, Retry):
            return retries
        if isinstance(retries, int) and not isinstance(retries, bool) and retries >= 0:
            return Retry(retries) if retries else None
        raise TypeError(f"retries must be a requestx.Retry or a non-negative int, not {retries!r}")

    @property
    def retries(self) -> Retry | None:
        return self._retry

    @retries.setter
    def retries(self, retries: int | Retry | None) -> None:
        self._retry = self._retry_arg(retries)

    @staticmethod
    def _enforce_trailing_slash(url: URL) -> URL:
        return url if str(url).endswith("/") else URL(str(url) + "/")

    # --- settings as httpx exposes them -----------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def timeout(self) -> Timeout:
        return self._timeout

    @timeout.setter
    def timeout(self, timeout: TimeoutTypes) -> None:
        self._timeout = timeout if isinstance(timeout, Timeout) else Timeout(timeout)
        self._timeout_dict = self._timeout.as_dict()

    @property
    def headers(self) -> Headers:
        return self._headers

    @headers.setter
    def headers(self, headers: HeaderTypes) -> None:
        self._headers = Headers(headers)

    @property
    def cookies(self) -> Cookies:
        """The client's cookie jar: sent where they apply, updated from every response."""
        return self._cookies

    @cookies.setter
    def cookies(self, cookies: CookieTypes) -> None:
        self._cookies = Cookies(cookies)

    def _apply_cookies(self, request: Request) -> None:
        if self._cookies.jar._cookies and "cookie" not in request.headers:  # type: ignore[attr-defined]
            self._cookies.set_cookie_header(request)

    def _store_cookies(self, response: Response) -> None:
        raw = response._raw_headers
        if raw is not None and raw.get("set-cookie") is None:
            return
        if raw is None and "set-cookie" not in response.headers:
            return
        self._cookies.extract_cookies(response)

    @property
    def params(self) -> QueryParams:
        return self._params

    @params.setter
    def params(self, params: QueryParamTypes) -> None:
        self._params = QueryParams(params)
        self._refresh_plain()

    @property
    def base_url(self) -> URL:
        return self._base_url if self._base_url is not None else URL("")

    @base_url.setter
    def base_url(self, url: URL | str) -> None:
        self._base_url = self._enforce_trailing_slash(URL(url)) if url else None
        self._refresh_plain()

    @property
    def auth(self) -> Auth | None:
        return self._auth

    @auth.setter
    def auth(self, auth: AuthTypes | None) -> None:
        self._auth = build_auth(auth)
        self._refresh_plain()

    @property
    def event_hooks(self) -> dict[str, list[EventHook]]:
        return {"request": self._request_hooks, "response": self._response_hooks}

    @event_hooks.setter
    def event_hooks(self, hooks: typing.Mapping[str, list[EventHook]]) -> None:
        self._request_hooks = list(hooks.get("request", []))
        self._response_hooks = list(hooks.get("response", []))
        self._refresh_plain()

    # --- building requests ------------------------------------------------------------------------

    def _merge_url(self, url: URL | str) -> URL:
        merged = url if isinstance(url, URL) else URL(url)
        base = self._base_url
        if base is not None and merged.is_relative_url:
            merged = URL(str(base) + str(merged).lstrip("/"))
        return merged

    def build_request(
        self,
        method: str,
        url: URL | str,
        *,
        content: RequestContent | None = None,
        data: typing.Any = None,
        files: typing.Any = None,
        json: typing.Any = None,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        cookies: typing.Any = None,
        timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
        extensions: dict[str, typing.Any] | None = None,
    ) -> Request:

        merged_url = self._merge_url(url)
        if params is not None or self._params:
            # httpx 0.28 and httpx2: the merged params replace the URL's own query.
            merged_url = merged_url.copy_with(params=self._params.merge(params))
        merged_headers = Headers._from_raw(self._headers._list)
        if headers is not None:
            merged_headers.update(headers)
        method = method.upper() if isinstance(method, str) else method.decode("ascii").upper()
        boundary = boundary_of(merged_headers.get("content-type")) if files else None
        body_headers, stream = encode_request(content, data, files, json, boundary)
        prepare_headers(method, merged_headers, body_headers)
        if isinstance(timeout, UseClientDefault):
            timeout_dict = self._timeout_dict
        else:
            timeout_dict = (timeout if isinstance(timeout, Timeout) else Timeout(timeout)).as_dict()
        ext = {"timeout": timeout_dict} if extensions is None else {"timeout": timeout_dict, **extensions}
        request = Request._build(method, merged_url, merged_headers, stream, ext)
        if cookies is not None:
            # Per-request cookies join the client's for this request only.
            merged_cookies = Cookies(self._cookies)
            merged_cookies.update(cookies)
            merged_cookies.set_cookie_header(request)
        return request

    def _build_with_retries(self, method: str, url: URL | str, kwargs: dict[str, typing.Any]) -> Request:
        """`build_request(**kwargs)` where kwargs may also hold a per-call `retries`."""
        if "retries" in kwargs:
            retry = self._retry_arg(kwargs.pop("retries"))
            kwargs["extensions"] = {**(kwargs.get("extensions") or {}), "retries": retry}
        return self.build_request(method, url, **kwargs)

    def _outgoing(self, request: Request, stream: bool, retry: Retry | None) -> Outgoing:
        """`request` as it crosses into the engine: the client's timeout where the request has
        none of its own, and `retry` unless its `retries` extension says otherwise."""
        timeouts = request_timeouts(request, self._timeout, self._timeout_dict)
        return request_outgoing(request, timeouts, stream, request.extensions.get("retries", retry))

    def _redirect_headers(self, request: Request, url: URL, method: str) -> Headers:
        """The headers of the request that follows a redirect (httpx's name for it)."""
        return redirect_headers(request, url, method)

    def _set_routes(
        self, transport: typing.Any, mounts: typing.Mapping[str, typing.Any] | None, proxy: typing.Any, trust_env: bool
    ) -> None:
        """The mounts (most specific first) and the default transport (None: the engine), as httpx
        builds them: a proxy of the environment per pattern unless `proxy=` or `transport=` is
        given, then the user's `mounts`. httpx's and httpx2's transports are wrapped (`routed`)."""
        options = self._transport_options

        def proxy_transport(chosen: Proxy) -> typing.Any:
            return self._engine_transport(**{**options, "proxy": engine_proxy_url(chosen)})

        user_mounts = None if mounts is None else {k: None if v is None else routed(v) for k, v in mounts.items()}
        self._mounts = build_mounts(
            None,
            user_mounts,
            trust_env=trust_env and proxy is None,
            proxy_transport=proxy_transport,
            transport=transport,
        )
        self._default_transport = routed(transport)
        self._routes = bool(self._mounts) or transport is not None

    def _transport_for(self, url: URL) -> typing.Any:
        """The transport that serves `url`: a mounted or given one, or None for the engine."""
        if not self._routes:
            return None
        return transport_for_url(self._mounts, url, self._default_transport)

    def _transport_for_url(self, url: URL) -> typing.Any:
        """httpx's name: the transport object for `url`; the engine's is an `HTTPTransport`
        (`AsyncHTTPTransport`) over the client's own pool."""
        transport = self._transport_for(URL(url))
        if transport is None:
            transport = self._engine_transport._over(self._core, self._retry)
        return transport

    def _close_transports(self) -> list[typing.Any]:
        transports = [transport for transport in self._mounts.values() if transport is not None]
        if self._default_transport is not None:
            transports.append(self._default_transport)
        return transports

    def _open(self) -> None:
        """Entering `with client:` (once, as httpx allows)."""
        if self._closed:
            raise RuntimeError("Cannot reopen a client instance, once it has been closed.")
        if self._opened:
            raise RuntimeError("Cannot open a client instance more than once.")
        self._opened = True

    def _shut(self) -> None:
        self._closed = True
        self._plain = False
        self._core.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")

    def _request_for(
        self,
        method: str,
        url: URL | str,
        content: RequestContent | None,
        data: typing.Any,
        files: typing.Any,
        json: typing.Any,
        params: QueryParamTypes | None,
        headers: HeaderTypes | None,
        cookies: typing.Any,
        timeout: TimeoutTypes | UseClientDefault,
        extensions: dict[str, typing.Any] | None,
    ) -> Request:
        """The request of a `request()` call: the plain one when every argument is left to the client."""
        if cookies is not None:
            warnings.warn(
                "Setting per-request cookies=<...> is being deprecated, because the expected behaviour "
                "on cookie persistence is ambiguous. Set cookies directly on the client instance instead.",
                DeprecationWarning,
                stacklevel=4,
            )
        if (
            content is None
            and data is None
            and json is None
            and params is None
            and headers is None
            and timeout is USE_CLIENT_DEFAULT
            and extensions is None
            and files is None
            and cookies is None
        ):
            request = self._plain_request(method, url)
            if request is not None:
                return request
        return self.build_request(
            method,
            url,
            content=content,
            data=data,
            files=files,
            json=json,
            params=params,
            headers=headers,
            cookies=cookies,
            timeout=timeout,
            extensions=extensions,
        )

    def _plain_request(self, method: str, url: URL | str) -> Request | None:
        """The request of `client.get(url)` with every argument left to the client, or None when
        the client's own settings (base_url, params) need the general `build_request`."""
        if self._base_url is not None or self._params or method.upper() in ("POST", "PUT", "PATCH"):
            return None  # (those three get httpx's `Content-Length: 0` from build_request)
        return Request._build(
            method.upper(),
            url if type(url) is URL else URL(url),
            Headers._from_raw(self._headers._list),
            NO_BODY,
            {"timeout": self._timeout_dict},
        )

    def _follow(self, follow_redirects: bool | UseClientDefault) -> bool:
        return self.follow_redirects if isinstance(follow_redirects, UseClientDefault) else follow_redirects

    def _plain_response(self, raw: typing.Any, parts: RequestParts, started: float) -> Response:
        """The response of a plain request (see `Client._send_plain`), its cookies stored."""
        response = Response._from_engine(raw, parts, self.default_encoding, started)
        if raw[2].get("set-cookie") is not None:
            self._cookies.extract_cookies(response)
        return response

    def _engine_response(self, raw: typing.Any, request: Request, started: float) -> Response:
        """The response of an engine send of the request flow, with the limits its body decodes under."""
        response = Response._from_engine(raw, request, self.default_encoding, started)
        if self._decode_limits is not None:
            response._limits = self._decode_limits
        return response

    def _redirect_flow(self, response: Response, is_async: bool, follow: bool) -> Flow:
        """The flow that goes on from a plain request's redirect (the fused paths', the pool's)."""
        return request_flow(self, response.request, None, follow, is_async, sent=response)

    def _flow(
        self,
        request: Request,
        auth: AuthTypes | UseClientDefault | None,
        follow_redirects: bool | UseClientDefault,
        is_async: bool,
    ) -> Flow:
        """The flow of one `send`: the client's settings for what the call left to it."""
        self._check_open()
        if type(request) is not Request:
            request = adopt_request(request)  # an httpx or httpx2 Request
        auth_obj = self._auth if isinstance(auth, UseClientDefault) else build_auth(auth)
        if auth_obj is None and "@" in str(request.url):
            auth_obj = _url_auth(request.url)
        return request_flow(self, request, auth_obj, self._follow(follow_redirects), is_async)


class Client(_BaseClient):
    """A synchronous HTTP client with a connection pool, safe to share between threads.

    Blocking calls release the GIL and stay interruptible by Ctrl-C (the request is aborted).
    """

    sse = _sse.client_sse
    _engine_transport = HTTPTransport

    def _send_plain(self, method: str, url: URL | str) -> Response:
        """`client.get(url)` with everything left to the client: one engine call and nothing else.
        NOTE: fusing the five Python frames of the general path into this one took the Python
        share of a request from ~2.0 to ~1.3 µs (threads_8 is CPU-bound on one core)."""
        parts = (method, url, self._headers._list, {"timeout": self._timeout_dict})
        if self._cookies.jar._cookies or "@" in str(url):  # type: ignore[attr-defined]
            return self.send(Request._from_parts(parts))  # cookies or credentials: the general path
        started = time.perf_counter()
        try:
            raw = self._core.send(
                outgoing(method, _target(url), parts[2], None, self._timeout._tuple, False, self._retry)
            )
        except RequestError as exc:
            attach_request(exc, parts)
            raise
        response = self._plain_response(raw, parts, started)
        if response.status_code in REDIRECT_CODES:
            final: Response = drive(
                self._redirect_flow(response, False, self.follow_redirects), self, self._engine_send, False
            )
            return final
        return response

    def _engine_send(self, request: Request, stream: bool) -> Response:
        started = time.perf_counter()
        raw = send_sync(self._core, self._outgoing(request, stream, self._retry))
        return self._engine_response(raw, request, started)

    def send(
        self,
        request: Request,
        *,
        stream: bool = False,
        auth: AuthTypes | UseClientDefault | None = USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> Response:
        flow = self._flow(request, auth, follow_redirects, False)
        response: Response = drive(flow, self, self._engine_send, stream)  # no typing.cast: a call per request
        return response

    def request(
        self,
        method: str,
        url: URL | str,
        *,
        content: RequestContent | None = None,
        data: typing.Any = None,
        files: typing.Any = None,
        json: typing.Any = None,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        cookies: typing.Any = None,
        auth: AuthTypes | UseClientDefault | None = USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = USE_CLIENT_DEFAULT,
        timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
        extensions: dict[str, typing.Any] | None = None,
        retries: int | Retry | UseClientDefault | None = USE_CLIENT_DEFAULT,
    ) -> Response:
        if not isinstance(retries, UseClientDefault):
            extensions = {**(extensions or {}), "retries": self._retry_arg(retries)}
        request = self._request_for(
            method, url, content, data, files, json, params, headers, cookies, timeout, extensions
        )
        return self.send(request, auth=auth, follow_redirects=follow_redirects)

    @contextlib.contextmanager
    def stream(self, method: str, url: URL | str, **kwargs: typing.Any) -> typing.Iterator[Response]:
        """`with client.stream("GET", url) as r: for chunk in r.iter_bytes(): ...`"""
        auth = kwargs.pop("auth", USE_CLIENT_DEFAULT)
        follow_redirects = kwargs.pop("follow_redirects", USE_CLIENT_DEFAULT)
        request = self._build_with_retries(method, url, kwargs)
        response = self.send(request, stream=True, auth=auth, follow_redirects=follow_redirects)
        try:
            yield response
        finally:
            response.close()

    def get(self, url: URL | str, **kwargs: typing.Any) -> Response:
        if not kwargs and self._plain:
            return self._send_plain("GET", url)
        return self.request("GET", url, **kwargs)

    def options(self, url: URL | str, **kwargs: typing.Any) -> Response:
        return self.request("OPTIONS", url, **kwargs)

    def head(self, url: URL | str, **kwargs: typing.Any) -> Response:
        return self.request("HEAD", url, **kwargs)

    def post(self, url: URL | str, **kwargs: typing.Any) -> Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: URL | str, **kwargs: typing.Any) -> Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: URL | str, **kwargs: typing.Any) -> Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: URL | str, **kwargs: typing.Any) -> Response:
        return self.request("DELETE", url, **kwargs)

    def query(self, url: URL | str, **kwargs: typing.Any) -> Response:
        """A QUERY request (a safe, idempotent request with a body), as httpx2 has it."""
        return self.request("QUERY", url, **kwargs)

    def map(
        self,
        requests: typing.Iterable[MapItem],
        *,
        concurrency: int = 64,
        ordered: bool = True,
        per_host: int | None = None,
        rate: float | None = None,
        retries: int | Retry | UseClientDefault | None = USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> typing.Iterator[Result]:
        """Sends every request (a `Request`, or a URL meaning GET) with at most `concurrency` in
        flight, run by the engine across its threads; yields per input its `Response` or the
        exception it raised (never raising mid-way), in input order or (`ordered=False`) as they
        complete. `requests` may be a lazy generator: it is pulled only as capacity frees.
        `per_host` caps the requests in flight to one host, `rate` spaces the starts to one host
        (requests per second). Leaving the loop early cancels what is still running."""
        run = Run(
            self,
            concurrency,
            per_host=per_host,
            rate=rate,
            retries=retries,
            follow_redirects=follow_redirects,
            is_async=False,
        )
        return run.iterate(requests, ordered)

    def pool(
        self,
        workers: int = 64,
        *,
        per_host: int | None = None,
        rate: float | None = None,
        retries: int | Retry | UseClientDefault | None = USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = USE_CLIENT_DEFAULT,
        cancel_pending: bool = False,
    ) -> Pool:
        """`with client.pool(workers=64) as pool: future = pool.submit("GET", url)`: requests run by
        the engine with at most `workers` in flight, each result a `concurrent.futures.Future`."""
        return Pool(
            self,
            workers,
            per_host=per_host,
            rate=rate,
            retries=retries,
            follow_redirects=follow_redirects,
            cancel_pending=cancel_pending,
        )

    def close(self) -> None:
        """Closes the pool and aborts requests still in flight; closes mounted transports."""
        self._shut()
        for transport in self._close_transports():
            if hasattr(transport, "close"):
                transport.close()

    def __enter__(self) -> Client:
        self._open()
        for transport in self._close_transports():
            if hasattr(transport, "__enter__"):
                transport.__enter__()
        return self

    def __exit__(self, *args: object) -> None:
        self._shut()
        for transport in self._close_transports():
            if hasattr(transport, "__exit__"):
                transport.__exit__(*args)
            elif hasattr(transport, "close"):
                transport.close()


class AsyncClient(_BaseClient):
    """An asynchronous HTTP client for asyncio, uvloop, trio and anyio, usable from any number of
    event loops and threads at once (its connection pool lives in Rust)."""

    sse = _sse.async_client_sse
    _engine_transport = AsyncHTTPTransport

    async def _send_plain(self, method: str, url: URL | str) -> Response:
        """`await client.get(url)` with everything left to the client (see `Client._send_plain`)."""
        parts = (method, url, self._headers._list, {"timeout": self._timeout_dict})
        if self._cookies.jar._cookies or "@" in str(url):  # type: ignore[attr-defined]
            return await self.send(Request._from_parts(parts))  # cookies or credentials: the general path
        started = time.perf_counter()
        try:
            out = outgoing(method, _target(url), parts[2], None, self._timeout._tuple, False, self._retry)
            raw = await _bridge.wait(self._core.submit, out)
        except RequestError as exc:
            attach_request(exc, parts)
            raise
        response = self._plain_response(raw, parts, started)
        if response.status_code not in REDIRECT_CODES:
            return response
        final: Response = await adrive(
            self._redirect_flow(response, True, self.follow_redirects), self, self._engine_send, False
        )
        return final

    async def _engine_send(self, request: Request, stream: bool) -> Response:
        started = time.perf_counter()
        raw = await send_async(self._core, self._outgoing(request, stream, self._retry))
        return self._engine_response(raw, request, started)

    async def send(
        self,
        request: Request,
        *,
        stream: bool = False,
        auth: AuthTypes | UseClientDefault | None = USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> Response:
        flow = self._flow(request, auth, follow_redirects, True)
        response: Response = await adrive(flow, self, self._engine_send, stream)
        return response

    async def request(
        self,
        method: str,
        url: URL | str,
        *,
        content: RequestContent | None = None,
        data: typing.Any = None,
        files: typing.Any = None,
        json: typing.Any = None,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        cookies: typing.Any = None,
        auth: AuthTypes | UseClientDefault | None = USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = USE_CLIENT_DEFAULT,
        timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
        extensions: dict[str, typing.Any] | None = None,
        retries: int | Retry | UseClientDefault | None = USE_CLIENT_DEFAULT,
    ) -> Response:
        if not isinstance(retries, UseClientDefault):
            extensions = {**(extensions or {}), "retries": self._retry_arg(retries)}
        request = self._request_for(
            method, url, content, data, files, json, params, headers, cookies, timeout, extensions
        )
        return await self.send(request, auth=auth, follow_redirects=follow_redirects)

    @contextlib.asynccontextmanager
    async def stream(self, method: str, url: URL | str, **kwargs: typing.Any) -> typing.AsyncIterator[Response]:
        """`async with client.stream("GET", url) as r: async for chunk in r.aiter_bytes(): ...`"""
        auth = kwargs.pop("auth", USE_CLIENT_DEFAULT)
        follow_redirects = kwargs.pop("follow_redirects", USE_CLIENT_DEFAULT)
        request = self._build_with_retries(method, url, kwargs)
        response = await self.send(request, stream=True, auth=auth, follow_redirects=follow_redirects)
        try:
            yield response
        finally:
            await response.aclose()

    async def get(self, url: URL | str, **kwargs: typing.Any) -> Response:
        if not kwargs and self._plain:
            return await self._send_plain("GET", url)
        return await self.request("GET", url, **kwargs)

    async def options(self, url: URL | str, **kwargs: typing.Any) -> Response:
        return await self.request("OPTIONS", url, **kwargs)

    async def head(self, url: URL | str, **kwargs: typing.Any) -> Response:
        return await self.request("HEAD", url, **kwargs)

    async def post(self, url: URL | str, **kwargs: typing.Any) -> Response:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: URL | str, **kwargs: typing.Any) -> Response:
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: URL | str, **kwargs: typing.Any) -> Response:
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: URL | str, **kwargs: typing.Any) -> Response:
        return await self.request("DELETE", url, **kwargs)

    async def query(self, url: URL | str, **kwargs: typing.Any) -> Response:
        """A QUERY request (a safe, idempotent request with a body), as httpx2 has it."""
        return await self.request("QUERY", url, **kwargs)

    def amap(
        self,
        requests: typing.Iterable[MapItem] | typing.AsyncIterable[MapItem],
        *,
        concurrency: int = 64,
        ordered: bool = True,
        per_host: int | None = None,
        rate: float | None = None,
        retries: int | Retry | UseClientDefault | None = USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> typing.AsyncIterator[Result]:
        """`async for result in client.amap(urls, concurrency=64)`: `Client.map` for asyncio, uvloop,
        trio and anyio; `requests` may also be an async iterable. Close it early with
        `contextlib.aclosing(...)` to cancel what is still running at once."""
        run = Run(
            self,
            concurrency,
            per_host=per_host,
            rate=rate,
            retries=retries,
            follow_redirects=follow_redirects,
            is_async=True,
        )
        return run.aiterate(requests, ordered)

    async def aclose(self) -> None:
        """Closes the pool and aborts requests still in flight (from any loop or thread)."""
        self._shut()
        for transport in self._close_transports():
            if hasattr(transport, "aclose"):
                await transport.aclose()

    async def __aenter__(self) -> AsyncClient:
        self._open()
        for transport in self._close_transports():
            if hasattr(transport, "__aenter__"):
                await transport.__aenter__()
        return self

    async def __aexit__(self, *args: object) -> None:
        self._shut()
        for transport in self._close_transports():
            if hasattr(transport, "__aexit__"):
                await transport.__aexit__(*args)
            elif hasattr(transport, "aclose"):
                await transport.aclose()
