"""httpx's request model on the wire: what `request.headers` shows is what the server gets, bodies
are httpx's streams (and refuse the other face), multipart lengths and boundaries, the responses
an auth flow consumed in `history`, credentials in the URL, and QUERY. Against a real server."""

from __future__ import annotations

import io
import typing

import pytest

import requestx


def _echoed_headers(response: requestx.Response) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.json()["headers"]]


def test_the_headers_shown_are_the_headers_sent(server) -> None:
    with requestx.Client() as c:
        request = c.build_request("POST", server.url + "/echo", json={"a": 1})
        assert request.headers.raw[0][0] == b"Host"
        assert request.headers["content-length"] == "7" and request.headers["content-type"] == "application/json"
        sent = _echoed_headers(c.send(request))
    names = [k for k, _ in sent]
    assert names.count("host") == 1 and dict(sent)["host"] == request.headers["host"]
    assert dict(sent)["content-length"] == "7"
    with requestx.Client() as c:
        empty = c.post(server.url + "/echo")
    assert empty.request.headers["content-length"] == "0" and dict(_echoed_headers(empty))["content-length"] == "0"


def test_streamed_bodies_and_the_face_that_sends_them(server, arun) -> None:
    def chunks() -> typing.Iterator[bytes]:
        yield b"sync "
        yield b"body"

    async def achunks() -> typing.AsyncIterator[bytes]:
        yield b"async "
        yield b"body"

    with requestx.Client() as c:
        r = c.post(server.url + "/echo", content=chunks())
        assert r.json()["body"] == "sync body" and dict(_echoed_headers(r))["transfer-encoding"] == "chunked"
        with pytest.raises(RuntimeError, match="async request with a sync Client"):
            c.post(server.url + "/echo", content=achunks())

    async def main() -> None:
        async with requestx.AsyncClient() as c:
            r = await c.post(server.url + "/echo", content=achunks())
            assert r.json()["body"] == "async body"
            with pytest.raises(RuntimeError, match="sync request with an AsyncClient"):
                await c.post(server.url + "/echo", content=chunks())
            assert (await c.get(server.url + "/small")).status_code == 200  # still usable

    arun(main)


def test_multipart_has_a_length_and_the_boundary_given(server) -> None:
    headers = {"Content-Type": "multipart/form-data; boundary=+++"}
    with requestx.Client() as c:
        r = c.post(server.url + "/echo", headers=headers, data={"a": "1"}, files={"f": io.BytesIO(b"file")})
    body = r.json()["body"].encode("latin-1")
    assert body.startswith(b"--+++\r\n") and body.endswith(b"--+++--\r\n")
    assert int(dict(_echoed_headers(r))["content-length"]) == len(body)
    assert r.request.headers["content-type"] == "multipart/form-data; boundary=+++"


def test_the_responses_an_auth_flow_consumed_are_in_the_history(server, arun) -> None:
    # A DigestAuth reuses the challenge it saw (as httpx's): each client gets a fresh one.
    with requestx.Client(auth=requestx.DigestAuth("user", "pass")) as c:
        r = c.get(server.url + "/digest")
    assert r.json()["authenticated"] and [h.status_code for h in r.history] == [401]
    assert r.history[0].content == b"auth please"

    async def main() -> list[int]:
        async with requestx.AsyncClient(auth=requestx.DigestAuth("user", "pass")) as c:
            r = await c.get(server.url + "/digest")
        return [h.status_code for h in r.history]

    assert arun(main) == [401]


def test_credentials_in_the_url_become_basic_auth(server, tls_server, tls_certs, arun) -> None:
    url = server.url.replace("http://", "http://user:pa%20ss@") + "/echo"
    expected = requestx.BasicAuth("user", "pa ss")._header  # type: ignore[attr-defined]
    with requestx.Client(verify=tls_certs["ca"]) as c:
        for target in (url, tls_server.url.replace("https://", "https://user:pa%20ss@") + "/echo"):
            sent = _echoed_headers(c.get(target))
            assert [v for k, v in sent if k == "authorization"] == [expected]  # once, from the auth
            assert "user" not in dict(sent)["host"]

    async def main() -> str:
        async with requestx.AsyncClient() as c:
            return dict(_echoed_headers(await c.get(url)))["authorization"]

    assert arun(main) == expected


def test_query_method(server) -> None:
    with requestx.Client() as c:
        r = c.query(server.url + "/echo", content=b"what")
    assert (r.json()["method"], r.json()["body"]) == ("QUERY", "what")
