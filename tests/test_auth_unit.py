"""Auth flows stepped by hand (requestx/_auth.py), no server: `Auth`'s body reading, `BasicAuth`,
and `DigestAuth` against RFC 7616's and RFC 2069's worked examples, its qop handling, nonce counting
and challenge reuse, as httpx's. tests/test_auth.py runs them against a server."""

from __future__ import annotations

import asyncio
import hashlib
import re
import typing
from urllib.request import parse_http_list, parse_keqv_list

import pytest

import requestx
from requestx import DigestAuth, ProtocolError, Request, Response

URL = "https://www.example.com/dir/index.html"
RFC_7616_CNONCE = b"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def challenge(request: Request, header: str, **extra: str) -> Response:
    return Response(401, headers={"WWW-Authenticate": header, **extra}, request=request)


def fields(authorization: str) -> dict[str, str]:
    scheme, _, rest = authorization.partition(" ")
    assert scheme == "Digest"
    return parse_keqv_list(parse_http_list(rest))


def answer(auth: DigestAuth, header: str, url: str = URL, method: str = "GET") -> Request:
    """The request `auth` answers a 401 carrying `header` with (its flow checked on the way)."""
    flow = auth.sync_auth_flow(Request(method, url))
    first = next(flow)
    retried = flow.send(challenge(first, header))
    with pytest.raises(StopIteration):
        flow.send(Response(200, request=retried))
    return retried


def fixed_cnonce(auth: DigestAuth, monkeypatch: pytest.MonkeyPatch, cnonce: bytes = RFC_7616_CNONCE) -> list[tuple]:
    """Replaces `auth._get_client_nonce` (as httpx's tests do); returns the calls it gets."""
    calls: list[tuple] = []

    def get_client_nonce(nonce_count: int, nonce: bytes) -> bytes:
        calls.append((nonce_count, nonce))
        return cnonce

    monkeypatch.setattr(auth, "_get_client_nonce", get_client_nonce)
    return calls


# --- RFC test vectors ----------------------------------------------------------------------------

RFC_7616_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)


@pytest.mark.parametrize(
    ("algorithm", "response"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc_7616_section_3_9_1(monkeypatch: pytest.MonkeyPatch, algorithm: str, response: str) -> None:
    auth = DigestAuth("Mufasa", "Circle of Life")
    calls = fixed_cnonce(auth, monkeypatch)
    header = answer(auth, RFC_7616_CHALLENGE.format(algorithm=algorithm)).headers["Authorization"]
    assert header == (
        'Digest username="Mufasa", realm="http-auth@example.org", '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", uri="/dir/index.html", '
        f'response="{response}", algorithm={algorithm}, opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", '
        'qop=auth, nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"'
    )
    assert calls == [(1, b"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v")]  # httpx's signature


def test_rfc_2069_section_2_4_with_its_erratum() -> None:
    """No qop: RFC 2069's response (erratum 749's value), no qop, nc or cnonce sent."""
    auth = DigestAuth("Mufasa", "CircleOfLife")
    header = answer(
        auth,
        'Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    ).headers["Authorization"]
    sent = fields(header)
    assert sent["response"] == "1949323746fe6a43ef61f9606e7febea"
    assert sent["uri"] == "/dir/index.html" and sent["algorithm"] == "MD5"
    assert not {"qop", "nc", "cnonce"} & sent.keys()


@pytest.mark.parametrize("algorithm", ["MD5-SESS", "SHA-SESS", "SHA-256-sess", "SHA-512-SESS", "SHA", "SHA-512"])
def test_every_algorithm_answers_as_rfc_7616_computes(monkeypatch: pytest.MonkeyPatch, algorithm: str) -> None:
    auth = DigestAuth("user", "pass")
    fixed_cnonce(auth, monkeypatch, b"0a4f113b")
    retried = answer(auth, f'Digest realm="r", nonce="n0", qop="auth", algorithm={algorithm}', url="https://h/p?q=1")
    sent = fields(retried.headers["Authorization"])
    name = algorithm.upper().removesuffix("-SESS")
    fn = {"MD5": hashlib.md5, "SHA": hashlib.sha1, "SHA-256": hashlib.sha256, "SHA-512": hashlib.sha512}[name]

    def h(text: str) -> str:
        return fn(text.encode()).hexdigest()

    ha1 = h("user:r:pass")
    if algorithm.upper().endswith("-SESS"):
        ha1 = h(f"{ha1}:n0:0a4f113b")
    assert sent["uri"] == "/p?q=1" and sent["algorithm"] == algorithm
    assert sent["response"] == h(f"{ha1}:n0:00000001:0a4f113b:auth:{h('GET:/p?q=1')}")


# --- the flow ------------------------------------------------------------------------------------


def test_a_200_or_another_scheme_ends_the_flow() -> None:
    for response in (
        Response(200, headers={"WWW-Authenticate": 'Digest realm="r", nonce="n"'}),
        Response(401),
        Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'}),
    ):
        flow = DigestAuth("user", "pass").sync_auth_flow(Request("GET", URL))
        assert "Authorization" not in next(flow).headers
        with pytest.raises(StopIteration):
            flow.send(response)


def test_the_digest_challenge_among_several_is_answered() -> None:
    request = Request("GET", URL)
    flow = DigestAuth("user", "pass").sync_auth_flow(request)
    next(flow)
    response = Response(
        401,
        headers=[("WWW-Authenticate", 'Basic realm="r"'), ("WWW-Authenticate", 'digest realm="r", nonce="n"')],
        request=request,
    )
    assert flow.send(response).headers["Authorization"].startswith("Digest ")


def test_the_cnonce_is_fresh_hex() -> None:
    auth = DigestAuth("user", "pass")
    first = auth._get_client_nonce(1, b"n")
    assert re.fullmatch(rb"[0-9a-f]{16}", first) and first != auth._get_client_nonce(1, b"n")
    assert len(fields(answer(auth, 'Digest realm="r", nonce="n", qop="auth"').headers["Authorization"])["cnonce"]) == 16


def test_the_challenge_is_reused_with_nc_counting_up_and_reset_by_a_new_401() -> None:
    auth = DigestAuth("user", "pass")
    first = fields(answer(auth, 'Digest realm="r", nonce="one", qop="auth"').headers["Authorization"])
    flow = auth.sync_auth_flow(Request("GET", URL))
    second = fields(next(flow).headers["Authorization"])  # answered up front
    with pytest.raises(StopIteration):
        flow.send(Response(200))
    assert (first["nc"], second["nc"], second["nonce"]) == ("00000001", "00000002", "one")
    again = fields(answer(auth, 'Digest realm="r", nonce="two", qop="auth"').headers["Authorization"])
    assert (again["nonce"], again["nc"]) == ("two", "00000001")


def test_the_cookies_the_401_set_go_with_the_answer() -> None:
    request = Request("GET", URL)
    flow = DigestAuth("user", "pass").sync_auth_flow(request)
    next(flow)
    retried = flow.send(challenge(request, 'Digest realm="r", nonce="n"', **{"Set-Cookie": "session=abc; Path=/"}))
    assert retried.headers["Cookie"] == "session=abc"


@pytest.mark.parametrize("qop", ["auth", "auth, auth-int", "auth,auth-int", "unknown,auth", "auth-int, auth"])
def test_a_qop_offering_auth_is_answered_with_auth(qop: str) -> None:
    sent = fields(answer(DigestAuth("u", "p"), f'Digest realm="r", nonce="n", qop="{qop}"').headers["Authorization"])
    assert (sent["qop"], sent["nc"]) == ("auth", "00000001")


@pytest.mark.parametrize(
    ("qop", "error"),
    [("auth-int", NotImplementedError), ("not-auth", ProtocolError), ("", ProtocolError)],
)
def test_a_qop_without_auth_is_refused_as_httpx_refuses_it(qop: str, error: type[Exception]) -> None:
    request = Request("GET", URL)
    flow = DigestAuth("u", "p").sync_auth_flow(request)
    next(flow)
    with pytest.raises(error):
        flow.send(challenge(request, f'Digest realm="r", nonce="n", qop="{qop}"'))


@pytest.mark.parametrize(
    "header",
    [
        'Digest realm="httpx@example.org", qop="auth"',  # no nonce
        'Digest realm="httpx@example.org", qop="auth,au',  # a list cut short
        'Digest nonce="n", qop="auth"',  # no realm
        'Digest realm="r", nonce="n", algorithm=SHA-512-256',  # an algorithm httpx does not know either
    ],
)
def test_a_malformed_or_unsupported_challenge_is_a_protocol_error(header: str) -> None:
    request = Request("GET", URL)
    flow = DigestAuth("u", "p").sync_auth_flow(request)
    next(flow)
    with pytest.raises(ProtocolError) as info:
        flow.send(challenge(request, header))
    assert info.value.request is request


def test_challenge_values_may_be_bare_quoted_or_hold_commas() -> None:
    sent = fields(
        answer(DigestAuth("u", "p"), 'Digest Realm="a, b", NONCE=n1, qop="auth,auth-int", opaque="o"').headers[
            "Authorization"
        ]
    )
    assert (sent["realm"], sent["nonce"], sent["opaque"]) == ("a, b", "n1", "o")


# --- Auth's body reading -------------------------------------------------------------------------


class _Echo(requestx.Auth):
    """Answers with what it could read: the request body, then the first response's body."""

    def auth_flow(self, request: Request) -> typing.Generator[Request, Response, None]:
        request.headers["X-Body"] = request.content.decode()
        response = yield request
        request.headers["X-Body"] = response.text
        yield request


class _NeedsBodies(_Echo):
    requires_request_body = True
    requires_response_body = True


def _streamed_request() -> Request:
    return Request("POST", URL, content=iter([b"request ", b"body"]))


def _streamed_response() -> Response:
    return Response(200, stream=iter([b"response ", b"body"]))


def test_requires_bodies_reads_them_before_the_flow_sees_them() -> None:
    flow = _NeedsBodies().sync_auth_flow(_streamed_request())
    assert next(flow).headers["X-Body"] == "request body"
    assert flow.send(_streamed_response()).headers["X-Body"] == "response body"


async def _chunks(*chunks: bytes) -> typing.AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def test_requires_bodies_reads_them_in_the_async_flow_too() -> None:
    async def run() -> tuple[str, str]:
        flow = _NeedsBodies().async_auth_flow(Request("POST", URL, content=_chunks(b"request ", b"body")))
        first = (await flow.__anext__()).headers["X-Body"]
        second = (await flow.asend(Response(200, stream=_chunks(b"response ", b"body")))).headers["X-Body"]
        return first, second

    assert asyncio.run(run()) == ("request body", "response body")


def test_without_requires_body_a_streamed_request_is_not_read() -> None:
    flow = _Echo().sync_auth_flow(_streamed_request())
    with pytest.raises(requestx.RequestNotRead):
        next(flow)


def test_basic_auth_and_the_base_auth() -> None:
    request = Request("GET", URL)
    flow = requestx.BasicAuth("user", "pass").sync_auth_flow(request)
    assert next(flow).headers["Authorization"] == "Basic dXNlcjpwYXNz"
    with pytest.raises(StopIteration):
        flow.send(Response(200))
    plain = requestx.Auth().sync_auth_flow(request)
    assert next(plain) is request
