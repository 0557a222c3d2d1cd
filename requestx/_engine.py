"""The engine as the client sees it: building a `ClientCore` from httpx-style settings, and sending
one request through it (bytes bodies in one call, streamed bodies chunk by chunk). Used by the
clients and by `HTTPTransport`/`AsyncHTTPTransport`."""

from __future__ import annotations

import contextlib
import os
import ssl
import typing

from . import _bridge
from ._config import Limits, Timeout, decompressed_cap
from ._models import Request
from ._requestx import BodySender, ClientCore, Retry

__all__ = [
    "STREAM_OR_RAW",
    "Outgoing",
    "VerifyTypes",
    "make_core",
    "outgoing",
    "request_outgoing",
    "request_timeouts",
    "send_async",
    "send_sync",
]

#: How the engine hands over a response body (`stream=` of the sends): False, the body read whole
#: with Content-Encoding undone; True, a stream of the body as sent; STREAM_OR_RAW, the body as sent,
#: whole when it is already in with the head, else a stream (for hosts that decode it themselves).
STREAM_OR_RAW = 2

VerifyTypes = typing.Union[bool, str, "os.PathLike[str]", ssl.SSLContext]
#: (connect, read, write, pool, total), in seconds.
Timeouts = tuple[
    typing.Optional[float],
    typing.Optional[float],
    typing.Optional[float],
    typing.Optional[float],
    typing.Optional[float],
]
#: A request as it crosses into the engine: (method, url, headers, body, timeouts, delivery, retry).
Outgoing = tuple[str, str, list[tuple[bytes, bytes]], typing.Any, Timeouts, int, typing.Optional[Retry]]


def _tls_args(verify: VerifyTypes, cert: typing.Any, trust_env: bool) -> dict[str, typing.Any]:
    """The engine's TLS settings for httpx's `verify=` and `cert=`."""
    args: dict[str, typing.Any] = {"verify": _verify_arg(verify, trust_env)}
    cert_dir = os.environ.get("SSL_CERT_DIR") if trust_env else None
    if verify is True and cert_dir and not os.environ.get("SSL_CERT_FILE"):
        args["ca_der"] = _certificates_in(cert_dir)
    elif verify is True and not trust_env and (os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR")):
        # The engine's system store (rustls-native-certs) reads these variables itself: with
        # trust_env=False it is handed OpenSSL's built-in store instead, so they are ignored.
        builtin = _builtin_store()
        if builtin:
            args["ca_der"] = builtin
    if isinstance(verify, ssl.SSLContext) and verify.verify_mode != ssl.CERT_NONE:
        # The CA certificates a context was given (load_verify_locations) are honoured; a context
        # with none loaded explicitly trusts the system store, as ours does then.
        ders = verify.get_ca_certs(binary_form=True)
        if ders:
            args["ca_der"] = [bytes(der) for der in ders]
        args["check_hostname"] = verify.check_hostname
    if cert is not None:
        if isinstance(cert, (str, os.PathLike)):
            args["cert"] = (os.fspath(cert), None)
        elif isinstance(cert, tuple) and len(cert) in (2, 3):
            if len(cert) == 3 and cert[2]:
                raise ValueError("cert= with a key password is not supported: decrypt the key first")
            args["cert"] = (os.fspath(cert[0]), os.fspath(cert[1]) if cert[1] else None)
        else:
            raise TypeError("cert= takes a PEM path, or (cert path, key path[, password])")
    return args


def _builtin_store() -> list[bytes] | None:
    """The CA certificates (DER) of OpenSSL's compiled-in store, read without the environment."""
    paths = ssl.get_default_verify_paths()
    if paths.openssl_cafile and os.path.isfile(paths.openssl_cafile):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cafile=paths.openssl_cafile)
        return [bytes(der) for der in context.get_ca_certs(binary_form=True)]
    if paths.openssl_capath and os.path.isdir(paths.openssl_capath):
        try:
            return _certificates_in(paths.openssl_capath)
        except ValueError:
            return None
    return None


def _certificates_in(directory: str) -> list[bytes]:
    """The CA certificates (DER) of every PEM file in `directory` (an OpenSSL-style capath)."""
    ders: dict[bytes, None] = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        for block in text.split("-----BEGIN CERTIFICATE-----")[1:]:
            body = block.split("-----END CERTIFICATE-----", 1)[0]
            pem = f"-----BEGIN CERTIFICATE-----{body}-----END CERTIFICATE-----\n"
            try:
                ders[ssl.PEM_cert_to_DER_cert(pem)] = None
            except ValueError:
                continue
    if not ders:
        raise ValueError(f"SSL_CERT_DIR {directory!r} holds no PEM certificate")
    return list(ders)


def _verify_arg(verify: VerifyTypes, trust_env: bool) -> str | None:
    """None: no verification; "": the system trust store; a path: that CA bundle only."""
    if isinstance(verify, ssl.SSLContext):
        return None if verify.verify_mode == ssl.CERT_NONE else ""
    if verify is True:
        if trust_env and os.environ.get("SSL_CERT_FILE"):
            return os.environ["SSL_CERT_FILE"]
        return ""
    if verify is False:
        return None
    if isinstance(verify, (str, os.PathLike)):
        return os.fspath(verify)
    raise TypeError(f"verify must be bool, a CA bundle path or an ssl.SSLContext, not {type(verify).__name__}")


def request_timeouts(
    request: Request, default: Timeout, default_dict: dict[str, float | None] | None = None
) -> Timeouts:
    """The engine's (connect, read, write, pool, total) for `request`: its `timeout` extension,
    else `default`. `default_dict` is the client's own extension dict, recognised by identity."""
    t = request.extensions.get("timeout")
    if t is None or t is default_dict:
        return default._tuple
    return (t.get("connect"), t.get("read"), t.get("write"), t.get("pool"), t.get("total"))


def make_core(
    verify: VerifyTypes,
    cert: typing.Any,
    trust_env: bool,
    http1: bool,
    http2: bool,
    limits: Limits,
    proxy: typing.Any,
    connect_timeout: float | None,
    proxy_env: bool | None = None,
) -> ClientCore:
    """One engine client (one connection pool) for these settings. `proxy_env`: whether the
    engine reads proxies from the environment itself (default: `trust_env`); a client decides
    them in Python instead (`_proxies`)."""
    return ClientCore(
        http1=http1,
        http2=http2,
        **_tls_args(verify, cert, trust_env),
        max_connections=limits.max_connections,
        max_keepalive=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        **_decode_limits(limits),
        connect_timeout=connect_timeout,
        proxy=None if proxy is None else str(proxy),
        trust_env=trust_env if proxy_env is None else proxy_env,
    )


def _decode_limits(limits: typing.Any) -> dict[str, typing.Any]:
    """The engine's bounds for a response head and a body it decodes whole (`Limits`'s additions;
    an httpx/httpx2 `Limits` has none of them: the defaults apply)."""
    return {
        "max_headers": getattr(limits, "max_headers", 1000),
        "max_decompressed_size": decompressed_cap(limits, whole=True),
        "max_decompression_ratio": getattr(limits, "max_decompression_ratio", None),
    }


def outgoing(
    method: str,
    url: str,
    headers: list[tuple[bytes, bytes]],
    body: typing.Any,
    timeouts: Timeouts,
    delivery: int,
    retry: Retry | None,
) -> Outgoing:
    """A request in the one shape it crosses into the engine (`src/http/request.rs: Outgoing`):
    `body` is bytes, None, or an iterable of chunks (`send_sync`) / async iterable (`send_async`)
    that is fed while the request is in flight; `delivery` is `send(stream=)` or STREAM_OR_RAW."""
    return (method, url, headers, body, timeouts, delivery, retry)


def request_outgoing(request: Request, timeouts: Timeouts, delivery: int, retry: Retry | None) -> Outgoing:
    """`outgoing` for requestx's own `Request`."""
    # NOTE: the tuple itself rather than a call of `outgoing`: this is every non-plain request's path.
    return (request.method, str(request.url), request._wire_headers(), request._body(), timeouts, delivery, retry)


def _streamed(out: Outgoing) -> tuple[Outgoing, BodySender]:
    """`out` with its body of chunks replaced by the sender they are fed through (a streamed body
    is never retried: it cannot be sent twice)."""
    sender = BodySender(out[4][2])
    return (out[0], out[1], out[2], sender, out[4], out[5], None), sender


@contextlib.contextmanager
def _feeding(op: typing.Any, sender: BodySender) -> typing.Iterator[None]:
    """While a streamed body is fed: if the user's iterator raises (or Ctrl-C), the request is
    aborted and the exception goes through."""
    try:
        yield
    except BaseException:
        op.cancel()
        sender.abort()
        raise


def send_sync(core: ClientCore, out: Outgoing) -> typing.Any:
    """Sends one request from this thread: a body of bytes in one call, or an iterable of chunks
    fed one by one while the request is in flight. Every face that sends from a thread comes here:
    the client, `HTTPTransport` and `HttpxTransport`."""
    body = out[3]
    if body is None or isinstance(body, bytes):
        return core.send(out)
    if not hasattr(body, "__iter__"):
        raise RuntimeError("Attempted to send an async request with a sync Client instance.")
    out, sender = _streamed(out)
    op = core.submit(None, out)
    with _feeding(op, sender):
        for chunk in body:
            if chunk and not (sender.send_nowait(chunk) or sender.send(chunk)):
                break  # the request stopped reading its body: its outcome says why
        else:
            sender.close()
    return op.wait()


async def send_async(core: ClientCore, out: Outgoing) -> typing.Any:
    """Sends one request from this task (asyncio, uvloop, trio), as `send_sync` does from a thread."""
    body = out[3]
    if body is None or isinstance(body, bytes):
        return await _bridge.wait(core.submit, out)
    if not hasattr(body, "__aiter__"):
        raise RuntimeError("Attempted to send a sync request with an AsyncClient instance.")
    out, sender = _streamed(out)
    op = core.submit(_bridge.current_hub(), out)
    with _feeding(op, sender):
        async for chunk in body:
            if chunk and not (sender.send_nowait(chunk) or await _bridge.wait(sender.wait_send, chunk)):
                break
        else:
            sender.close()
    return await _bridge.wait_op(op)
