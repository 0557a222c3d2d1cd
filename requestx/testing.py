"""respx and pytest-httpx for requestx's clients: one line opts in.

respx (`respx.mock`, `respx.get(url).mock(...)`) and pytest-httpx (the `httpx_mock` fixture) mock
httpx by patching its transports (`httpx.HTTPTransport.handle_request` and the async one) or
httpcore's connection pools beneath them. requestx's engine is neither, so they would not see its
requests. The opt-in:

    # conftest.py (pytest)
    pytest_plugins = ["requestx.testing"]

    # anywhere else
    requestx.testing.install()

From then on, whenever httpx's transports or httpcore's pools are patched (a `respx.mock` block or
decorator is active, a test uses `httpx_mock`, or a `unittest.mock` patch of them), every request a
requestx client would send through its engine goes through httpx's `HTTPTransport` (or
`AsyncHTTPTransport`) instead, made with the client's settings: the mock answers it, and a request
the mock passes through goes out through httpx. When nothing is patched the engine serves as
always, so installing it is harmless for the rest of a test suite. `uninstall()` undoes it.

The hook is on requestx's classes, so clients built before it (module-level ones) are covered too;
requests given `transport=`/`mounts=` transports keep going to those.
"""

from __future__ import annotations

import os
import ssl
import sys
import typing

from ._client import AsyncClient, Client, _BaseClient
from ._transports import ForeignTransport

if typing.TYPE_CHECKING:
    from ._models import Response
    from ._urls import URL

__all__ = ["install", "installed", "uninstall"]

_originals: dict[str, typing.Any] = {}


def _patched(function: typing.Any, library: str) -> bool:
    """Whether `function` (a class attribute of `library`) was replaced by someone else's."""
    module = getattr(function, "__module__", None) or ""
    return module.partition(".")[0] != library


def httpx_is_mocked() -> bool:
    """Whether httpx's transports or httpcore's pools are patched right now (respx, pytest-httpx)."""
    httpx = sys.modules.get("httpx")
    if httpx is None:
        return False
    if _patched(httpx.HTTPTransport.handle_request, "httpx") or _patched(
        httpx.AsyncHTTPTransport.handle_async_request, "httpx"
    ):
        return True
    httpcore = sys.modules.get("httpcore")
    if httpcore is None:
        return False
    return _patched(httpcore.ConnectionPool.handle_request, "httpcore") or _patched(
        httpcore.AsyncConnectionPool.handle_async_request, "httpcore"
    )


def _ssl_context(verify: typing.Any, cert: typing.Any) -> typing.Any:
    """httpx's `verify=` for the client's verify and cert (httpx 0.28 wants a context for either)."""
    if cert is None and (isinstance(verify, (bool, ssl.SSLContext))):
        return verify
    if isinstance(verify, ssl.SSLContext):
        context = verify
    elif verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif verify is True:
        context = ssl.create_default_context()
    else:
        path = os.fspath(verify)
        if os.path.isdir(path):
            context = ssl.create_default_context(capath=path)
        else:
            context = ssl.create_default_context(cafile=path)
    if cert is not None:
        if isinstance(cert, (str, os.PathLike)):
            context.load_cert_chain(cert)
        else:
            context.load_cert_chain(*cert[:2])
    return context


def _httpx_transport(client: _BaseClient) -> ForeignTransport:
    """The client's httpx transport (made once, with the client's engine settings)."""
    transport: ForeignTransport | None = client.__dict__.get("_httpx_transport")
    if transport is None:
        import httpx

        options = client._transport_options
        limits = options["limits"]
        http2 = bool(options["http2"])
        if http2:
            try:
                import h2  # noqa: F401
            except ImportError:
                http2 = False
        kwargs: dict[str, typing.Any] = {
            "verify": _ssl_context(options["verify"], options["cert"]),
            "trust_env": options["trust_env"],
            "http1": options["http1"],
            "http2": http2,
            "limits": httpx.Limits(
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
            ),
            "proxy": None if options["proxy"] is None else str(options["proxy"]),
        }
        cls = httpx.AsyncHTTPTransport if isinstance(client, AsyncClient) else httpx.HTTPTransport
        transport = ForeignTransport(cls(**kwargs), httpx)
        client.__dict__["_httpx_transport"] = transport
    return transport


def _transport_for(self: _BaseClient, url: URL) -> typing.Any:
    transport = _originals["_transport_for"](self, url)
    if transport is None and httpx_is_mocked():
        return _httpx_transport(self)
    return transport


def _close_transports(self: _BaseClient) -> list[typing.Any]:
    transports: list[typing.Any] = _originals["_close_transports"](self)
    made = self.__dict__.pop("_httpx_transport", None)
    return transports if made is None else [*transports, made]


def _send_plain(self: Client, method: str, url: URL | str) -> Response:
    if httpx_is_mocked():
        return self.request(method, url)  # the general path, which asks `_transport_for`
    return typing.cast("Response", _originals["Client._send_plain"](self, method, url))


async def _asend_plain(self: AsyncClient, method: str, url: URL | str) -> Response:
    if httpx_is_mocked():
        return await self.request(method, url)
    return typing.cast("Response", await _originals["AsyncClient._send_plain"](self, method, url))


def installed() -> bool:
    return bool(_originals)


def install() -> None:
    """Lets respx and pytest-httpx mock requestx's clients (idempotent; see the module's doc)."""
    if _originals:
        return
    _originals["_transport_for"] = _BaseClient._transport_for
    _originals["_close_transports"] = _BaseClient._close_transports
    _originals["Client._send_plain"] = Client._send_plain
    _originals["AsyncClient._send_plain"] = AsyncClient._send_plain
    _BaseClient._transport_for = _transport_for  # type: ignore[method-assign]
    _BaseClient._close_transports = _close_transports  # type: ignore[method-assign]
    Client._send_plain = _send_plain  # type: ignore[method-assign]
    AsyncClient._send_plain = _asend_plain  # type: ignore[method-assign]


def uninstall() -> None:
    """Undoes `install()`: every request goes to the engine again."""
    if not _originals:
        return
    _BaseClient._transport_for = _originals.pop("_transport_for")  # type: ignore[method-assign]
    _BaseClient._close_transports = _originals.pop("_close_transports")  # type: ignore[method-assign]
    Client._send_plain = _originals.pop("Client._send_plain")  # type: ignore[method-assign]
    AsyncClient._send_plain = _originals.pop("AsyncClient._send_plain")  # type: ignore[method-assign]


# --- the pytest plugin: `pytest_plugins = ["requestx.testing"]` -------------------------------------


def pytest_configure(config: typing.Any) -> None:
    install()


def pytest_unconfigure(config: typing.Any) -> None:
    uninstall()
