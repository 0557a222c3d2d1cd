"""Authentication: `Auth` (httpx's generator flow), `BasicAuth`, `DigestAuth`, `NetRCAuth`, `FunctionAuth`."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import typing
from urllib.request import parse_http_list

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


class _DigestChallenge(typing.NamedTuple):
    """The parts of a `WWW-Authenticate: Digest ...` challenge an answer uses."""

    realm: bytes
    nonce: bytes
    algorithm: str
    opaque: bytes | None
    qop: bytes | None


class DigestAuth(Auth):
    """HTTP Digest authentication (RFC 7616, RFC 2069 without qop) as httpx's: MD5, SHA, SHA-256,
    SHA-512 and their -sess variants, qop=auth (a challenge offering only auth-int is a
    NotImplementedError, any other qop a ProtocolError).

    Sends the request as is; on a 401 carrying a Digest challenge it answers once, carrying the
    cookies that 401 set. The challenge is kept, so later requests through the same object answer
    it up front (nc counting up) until a new 401 replaces it.
    """

    _ALGORITHM_TO_HASH_FUNCTION = _DIGEST_HASHES

    def __init__(self, username: str | bytes, password: str | bytes) -> None:
        self._username = username.encode("utf-8") if isinstance(username, str) else username
        self._password = password.encode("utf-8") if isinstance(password, str) else password
        self._last_challenge: _DigestChallenge | None = None
        self._nonce_count = 1

    def auth_flow(self, request: Request) -> typing.Generator[Request, Response, None]:
        if self._last_challenge is not None:
            request.headers["Authorization"] = self._build_auth_header(request, self._last_challenge)
        response = yield request
        if response.status_code != 401 or "www-authenticate" not in response.headers:
            return
        digest = [v for v in response.headers.get_list("www-authenticate") if v[:7].lower() == "digest "]
        if not digest:
            return  # another scheme's challenge: the 401 is the answer
        self._last_challenge = self._parse_challenge(request, response, digest[0])
        self._nonce_count = 1
        request.headers["Authorization"] = self._build_auth_header(request, self._last_challenge)
        cookies = response.cookies
        if cookies:
            cookies.set_cookie_header(request)  # the 401's cookies go with the answer (a session, say)
        yield request

    def _parse_challenge(self, request: Request, response: Response, auth_header: str) -> _DigestChallenge:
        """`Digest realm="x", nonce="y", qop="auth,auth-int", ...` (names case-insensitive, values
        quoted or bare); a challenge without realm or nonce is a ProtocolError."""
        fields: dict[str, str] = {}
        for item in parse_http_list(auth_header[7:]):
            name, eq, value = item.partition("=")
            if not eq:
                continue
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            fields[name.strip().lower()] = value
        if "realm" not in fields or "nonce" not in fields:
            raise ProtocolError("Malformed Digest WWW-Authenticate header", request=request)
        opaque, qop = fields.get("opaque"), fields.get("qop")
        return _DigestChallenge(
            realm=fields["realm"].encode(),
            nonce=fields["nonce"].encode(),
            algorithm=fields.get("algorithm", "MD5"),
            opaque=None if opaque is None else opaque.encode(),
            qop=None if qop is None else qop.encode(),
        )

    def _build_auth_header(self, request: Request, challenge: _DigestChallenge) -> str:
        hash_fn = self._ALGORITHM_TO_HASH_FUNCTION.get(challenge.algorithm.upper())
        if hash_fn is None:
            raise ProtocolError(f"Unsupported Digest algorithm {challenge.algorithm!r}", request=request)

        def h(*parts: bytes) -> bytes:
            return str(hash_fn(b":".join(parts)).hexdigest()).encode()

        qop = self._resolve_qop(challenge.qop, request)
        path = request.url.raw_path
        nc = b"%08x" % self._nonce_count
        cnonce = self._get_client_nonce(self._nonce_count, challenge.nonce)
        self._nonce_count += 1
        ha1 = h(self._username, challenge.realm, self._password)
        if challenge.algorithm.upper().endswith("-SESS"):
            ha1 = h(ha1, challenge.nonce, cnonce)
        ha2 = h(request.method.encode(), path)
        if qop is None:  # RFC 2069
            response = h(ha1, challenge.nonce, ha2)
        else:
            response = h(ha1, challenge.nonce, nc, cnonce, qop, ha2)
        parts = [
            f'username="{self._username.decode()}"',
            f'realm="{challenge.realm.decode()}"',
            f'nonce="{challenge.nonce.decode()}"',
            f'uri="{path.decode()}"',
            f'response="{response.decode()}"',
            f"algorithm={challenge.algorithm}",
        ]
        if challenge.opaque:
            parts.append(f'opaque="{challenge.opaque.decode()}"')
        if qop is not None:
            parts += ["qop=auth", f"nc={nc.decode()}", f'cnonce="{cnonce.decode()}"']
        return "Digest " + ", ".join(parts)

    def _get_client_nonce(self, nonce_count: int, nonce: bytes) -> bytes:
        """A fresh client nonce (cnonce): 16 hex digits, unpredictable."""
        return os.urandom(8).hex().encode()

    def _resolve_qop(self, qop: bytes | None, request: Request) -> bytes | None:
        """The qop to answer with: None (RFC 2069) if the challenge has none, else `auth`."""
        if qop is None:
            return None
        offered = [q.strip() for q in qop.split(b",")]
        if b"auth" in offered:
            return b"auth"
        if offered == [b"auth-int"]:
            raise NotImplementedError("Digest auth-int support is not yet implemented")
        raise ProtocolError(f'Unexpected qop value "{qop!r}" in digest auth', request=request)


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
