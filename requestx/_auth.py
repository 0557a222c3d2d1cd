"""Authentication: `Auth` (httpx's generator flow), `BasicAuth`, `FunctionAuth`."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
import typing

from ._exceptions import ProtocolError
from ._models import Request, Response

__all__ = ["Auth", "BasicAuth", "DigestAuth", "FunctionAuth", "NetRCAuth", "build_auth"]


class Auth:
    """Base class. `auth_flow` yields requests and receives their responses, as in httpx."""

    requires_request_body = False
    requires_response_body = False

    def auth_flow(self, request: Request) -> typing.Generator[Request, Response, None]:
        yield request

    def sync_auth_flow(self, request: Request) -> typing.Generator[Request, Response, None]:
        """`auth_flow` as a sync client drives it (bodies read when the flow says it needs them)."""
        if self.requires_request_body:
            request.read()
        flow = self.auth_flow(request)
        request = next(flow)
        while True:
            response = yield request
            if self.requires_response_body:
                response.read()
            try:
                request = flow.send(response)
            except StopIteration:
                return

    async def async_auth_flow(self, request: Request) -> typing.AsyncGenerator[Request, Response]:
        """`auth_flow` as an async client drives it. Override it for a flow that awaits (fetching a
        token, say): the async client and `amap` use this one."""
        if self.requires_request_body:
            await request.aread()
        flow = self.auth_flow(request)
        request = next(flow)
        while True:
            response = yield request
            if self.requires_response_body:
                await response.aread()
            try:
                request = flow.send(response)
            except StopIteration:
                return


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


class NetRCAuth(Auth):
    """Basic credentials for the request's host from a netrc file (default: ~/.netrc)."""

    def __init__(self, file: str | None = None) -> None:
        import netrc

        self._netrc = netrc.netrc(file)

    def auth_flow(self, request: Request) -> typing.Generator[Request, Response, None]:
        found = self._netrc.authenticators(request.url.host)
        if found is not None and found[2] is not None:
            request.headers["Authorization"] = BasicAuth(found[0], found[2])._header
        yield request


_DIGEST_HASHES: dict[str, typing.Callable[[bytes], typing.Any]] = {
    "MD5": hashlib.md5,
    "MD5-SESS": hashlib.md5,
    "SHA": hashlib.sha1,
    "SHA-SESS": hashlib.sha1,
    "SHA-256": hashlib.sha256,
    "SHA-256-SESS": hashlib.sha256,
    "SHA-512": hashlib.sha512,
    "SHA-512-SESS": hashlib.sha512,
}


class DigestAuth(Auth):
    """HTTP Digest authentication (RFC 7616): MD5, SHA-256, SHA-512 (and -sess), qop=auth.

    Sends the request, and on a 401 carrying a Digest challenge answers it once; the challenge is
    kept, so later requests through the same auth object answer it up front.
    """

    def __init__(self, username: str | bytes, password: str | bytes) -> None:
        self._username = username.encode("utf-8") if isinstance(username, str) else username
        self._password = password.encode("utf-8") if isinstance(password, str) else password
        self._challenge: dict[str, str] | None = None
        self._nonce_count = 1

    def auth_flow(self, request: Request) -> typing.Generator[Request, Response, None]:
        if self._challenge is not None:
            request.headers["Authorization"] = self._header(request, self._challenge)
        response = yield request
        if response.status_code != 401 or "www-authenticate" not in response.headers:
            return
        for value in response.headers.get_list("www-authenticate"):
            scheme, _, params = value.partition(" ")
            if scheme.lower() == "digest":
                self._challenge = _parse_challenge(params)
                self._nonce_count = 1
                request.headers["Authorization"] = self._header(request, self._challenge)
                yield request
                return

    def _header(self, request: Request, challenge: dict[str, str]) -> str:
        algorithm = challenge.get("algorithm", "MD5").upper()
        if algorithm not in _DIGEST_HASHES or "nonce" not in challenge or "realm" not in challenge:
            raise ProtocolError(f"Unsupported or malformed Digest challenge (algorithm {algorithm})", request=request)
        hash_fn = _DIGEST_HASHES[algorithm]

        def digest(data: bytes) -> bytes:
            return str(hash_fn(data).hexdigest()).encode()

        nonce = challenge["nonce"].encode()
        realm = challenge["realm"].encode()
        path = request.url.raw_path
        cnonce = hashlib.sha1(os.urandom(8) + str(time.time()).encode()).hexdigest()[:16].encode()
        nc = b"%08x" % self._nonce_count
        self._nonce_count += 1
        a1 = digest(b":".join((self._username, realm, self._password)))
        if algorithm.endswith("-SESS"):
            a1 = digest(b":".join((a1, nonce, cnonce)))
        a2 = digest(request.method.encode() + b":" + path)
        qops = [q.strip() for q in challenge.get("qop", "").split(",") if q.strip()]
        if not qops:
            response = digest(b":".join((a1, nonce, a2)))
            qop = None
        elif "auth" in qops:
            qop = b"auth"
            response = digest(b":".join((a1, nonce, nc, cnonce, qop, a2)))
        else:
            raise ProtocolError('Digest auth with qop other than "auth" is not supported', request=request)
        fields = {
            "username": self._username.decode(),
            "realm": realm.decode(),
            "nonce": nonce.decode(),
            "uri": path.decode(),
            "response": response.decode(),
            "algorithm": challenge.get("algorithm", "MD5"),
        }
        if "opaque" in challenge:
            fields["opaque"] = challenge["opaque"]
        header = ", ".join(f'{k}="{v}"' for k, v in fields.items())
        if qop is not None:
            header += f', qop=auth, nc={nc.decode()}, cnonce="{cnonce.decode()}"'
        return "Digest " + header


_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))')


def _parse_challenge(params: str) -> dict[str, str]:
    """`realm="x", nonce="y", qop="auth"` → {"realm": "x", ...} (quoted or bare values)."""
    return {m[0].lower(): m[1] or m[2] for m in _CHALLENGE_PARAM.findall(params)}


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
