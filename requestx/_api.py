"""Top-level `requestx.get(...)` and friends: one short-lived `Client` per call, as in httpx."""

from __future__ import annotations

import typing

from ._client import Client
from ._config import DEFAULT_TIMEOUT_CONFIG
from ._models import Response
from ._urls import URL

__all__ = ["delete", "get", "head", "options", "patch", "post", "put", "query", "request", "stream"]

_CLIENT_KWARGS = ("auth", "proxy", "timeout", "verify", "cert", "trust_env", "http1", "http2", "retries")


def _split(kwargs: dict[str, typing.Any]) -> dict[str, typing.Any]:
    client_kwargs = {k: kwargs.pop(k) for k in _CLIENT_KWARGS if k in kwargs}
    client_kwargs.setdefault("timeout", DEFAULT_TIMEOUT_CONFIG)
    if "follow_redirects" in kwargs:
        client_kwargs["follow_redirects"] = kwargs.pop("follow_redirects")
    return client_kwargs


def request(method: str, url: URL | str, **kwargs: typing.Any) -> Response:
    """Sends one request with a fresh client. Takes the arguments of `Client.request` and the
    client settings `auth, proxy, timeout, verify, cert, trust_env, retries, follow_redirects`."""
    with Client(**_split(kwargs)) as client:
        return client.request(method, url, **kwargs)


class stream:
    """`with requestx.stream("GET", url) as response: ...`"""

    def __init__(self, method: str, url: URL | str, **kwargs: typing.Any) -> None:
        self._client = Client(**_split(kwargs))
        self._cm = self._client.stream(method, url, **kwargs)

    def __enter__(self) -> Response:
        return self._cm.__enter__()

    def __exit__(self, *args: typing.Any) -> None:
        try:
            self._cm.__exit__(*args)
        finally:
            self._client.close()


def get(url: URL | str, **kwargs: typing.Any) -> Response:
    return request("GET", url, **kwargs)


def options(url: URL | str, **kwargs: typing.Any) -> Response:
    return request("OPTIONS", url, **kwargs)


def head(url: URL | str, **kwargs: typing.Any) -> Response:
    return request("HEAD", url, **kwargs)


def post(url: URL | str, **kwargs: typing.Any) -> Response:
    return request("POST", url, **kwargs)


def put(url: URL | str, **kwargs: typing.Any) -> Response:
    return request("PUT", url, **kwargs)


def patch(url: URL | str, **kwargs: typing.Any) -> Response:
    return request("PATCH", url, **kwargs)


def delete(url: URL | str, **kwargs: typing.Any) -> Response:
    return request("DELETE", url, **kwargs)


def query(url: URL | str, **kwargs: typing.Any) -> Response:
    """A QUERY request (a safe, idempotent request with a body), as httpx2 has it."""
    return request("QUERY", url, **kwargs)
