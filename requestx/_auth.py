"""Authentication: `Auth` (httpx's generator flow), `BasicAuth`, `FunctionAuth`."""

from __future__ import annotations

import base64
import typing

from ._models import Request, Response

__all__ = ["Auth", "BasicAuth", "FunctionAuth", "build_auth"]


class Auth:
    """Base class. `auth_flow` yields requests and receives their responses, as in httpx."""

    requires_request_body = False
    requires_response_body = False

    def auth_flow(self, request: Request) -> typing.Generator[Request, Response, None]:
        yield request


class FunctionAuth(Auth):
    """Wraps `func(request) -> request`."""

    def __init__(self, func: typing.Callable[[Request], Request]) -> None:
        self._func = func

    def auth_flow(self, request: Request) -> typing.Generator[Request, Response, None]:
        yield self._func(request)


class BasicAuth(Auth):
    """HTTP Basic authentication (RFC 7617), credentials encoded as UTF-8."""

    def __init__(self, username: str | bytes, password: str | bytes) -> None:
        def raw(value: str | bytes) -> bytes:
            return value.encode("utf-8") if isinstance(value, str) else value

        token = base64.b64encode(raw(username) + b":" + raw(password)).decode("ascii")
        self._header = f"Basic {token}"

    def auth_flow(self, request: Request) -> typing.Generator[Request, Response, None]:
        request.headers["Authorization"] = self._header
        yield request


AuthTypes = typing.Union[
    typing.Tuple[typing.Union[str, bytes], typing.Union[str, bytes]],
    typing.Callable[[Request], Request],
    Auth,
]


def build_auth(auth: AuthTypes | None) -> Auth | None:
    if auth is None:
        return None
    if isinstance(auth, Auth):
        return auth
    if isinstance(auth, tuple):
        if len(auth) != 2:
            raise TypeError("auth tuple must be (username, password)")
        return BasicAuth(auth[0], auth[1])
    if callable(auth):
        return FunctionAuth(auth)
    raise TypeError(f'Invalid "auth" argument: {auth!r}')
