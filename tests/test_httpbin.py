"""The client against httpbin under gunicorn (a real WSGI server): the end-to-end checks HTTP client
suites (requests', httpx's) run against httpbin, sync and under every async runtime."""

from __future__ import annotations

import typing

import pytest

import requestx

from .conftest import Runner, Server


def test_query_headers_and_method_echo(httpbin_server: Server, arun: Runner) -> None:
    async def main() -> typing.Any:
        async with requestx.AsyncClient(base_url=httpbin_server.url, params={"client": "1"}) as client:
            return (await client.get("/get", params={"a": ["1", "2"]}, headers={"X-Test": "yes"})).json()

    body = arun(main)
    assert body["args"] == {"a": ["1", "2"], "client": "1"}
    assert body["headers"]["X-Test"] == "yes"
    assert body["headers"]["User-Agent"].startswith("python-requestx/")


def test_bodies_form_json_and_multipart(httpbin_server: Server, tmp_path: typing.Any) -> None:
    upload = tmp_path / "report.csv"
    upload.write_bytes(b"a,b\n1,2\n")
    with requestx.Client(base_url=httpbin_server.url) as client:
        form = client.post("/post", data={"name": "x y", "n": 3}).json()
        assert form["form"] == {"name": "x y", "n": "3"}
        assert form["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
        assert client.put("/put", json={"k": [1, None]}).json()["json"] == {"k": [1, None]}
        with open(upload, "rb") as f:
            multipart = client.post("/post", data={"field": "v"}, files={"file": f}).json()
        assert multipart["files"] == {"file": "a,b\n1,2\n"}
        assert multipart["form"] == {"field": "v"}
        streamed = client.patch("/patch", content=(part for part in [b"one ", b"two"])).json()
        assert streamed["data"] == "one two"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "brotli"])
def test_compressed_responses(httpbin_server: Server, encoding: str) -> None:
    with requestx.Client() as client:
        body = client.get(f"{httpbin_server.url}/{encoding}").json()
    assert body[{"gzip": "gzipped", "deflate": "deflated", "brotli": "brotli"}[encoding]] is True


def test_redirect_kinds_and_history(httpbin_server: Server, arun: Runner) -> None:
    async def main() -> list[typing.Any]:
        async with requestx.AsyncClient(follow_redirects=True) as client:
            return [
                await client.get(f"{httpbin_server.url}/{kind}/3")
                for kind in ("redirect", "relative-redirect", "absolute-redirect")
            ]

    for response in arun(main):
        assert response.status_code == 200
        assert len(response.history) == 3
        assert str(response.url) == f"{httpbin_server.url}/get"
    with requestx.Client() as client:
        first = client.get(f"{httpbin_server.url}/redirect/2")
    assert first.is_redirect and first.next_request is not None


def test_cookies_set_by_a_redirect_persist(httpbin_server: Server) -> None:
    with requestx.Client(base_url=httpbin_server.url, follow_redirects=True) as client:
        response = client.get("/cookies/set", params={"flavour": "oat", "n": "2"})
        assert response.json() == {"cookies": {"flavour": "oat", "n": "2"}}
        assert client.cookies["flavour"] == "oat"
        client.get("/cookies/delete", params={"flavour": ""})
        assert client.get("/cookies").json() == {"cookies": {"n": "2"}}


def test_basic_and_digest_auth(httpbin_server: Server) -> None:
    with requestx.Client(base_url=httpbin_server.url) as client:
        assert client.get("/basic-auth/user/pass", auth=("user", "pass")).json()["authenticated"] is True
        assert client.get("/basic-auth/user/pass", auth=("user", "nope")).status_code == 401
        digest = client.get("/digest-auth/auth/user/pass/SHA-256", auth=requestx.DigestAuth("user", "pass"))
        assert digest.status_code == 200 and digest.json()["authenticated"] is True
        md5 = client.get("/digest-auth/auth/user/pass", auth=requestx.DigestAuth("user", "pass"))
        assert md5.status_code == 200


def test_status_codes_and_raise_for_status(httpbin_server: Server) -> None:
    with requestx.Client() as client:
        response = client.get(f"{httpbin_server.url}/status/418")
    assert response.status_code == 418
    with pytest.raises(requestx.HTTPStatusError) as info:
        response.raise_for_status()
    assert info.value.response is response
    assert "418" in str(info.value)


def test_multi_value_response_headers(httpbin_server: Server) -> None:
    with requestx.Client() as client:
        response = client.get(f"{httpbin_server.url}/response-headers", params=[("X-Multi", "a"), ("X-Multi", "b")])
    assert response.headers.get_list("x-multi") == ["a", "b"]


def test_streamed_lines_and_bytes(httpbin_server: Server, arun: Runner) -> None:
    async def main() -> tuple[int, int]:
        async with requestx.AsyncClient() as client:
            async with client.stream("GET", f"{httpbin_server.url}/stream/25") as response:
                lines = [line async for line in response.aiter_lines() if line]
            async with client.stream("GET", f"{httpbin_server.url}/bytes/5000?seed=7") as response:
                size = sum([len(chunk) async for chunk in response.aiter_bytes()])
        return len(lines), size

    assert arun(main) == (25, 5000)


def test_a_slow_server_times_out(httpbin_server: Server) -> None:
    with requestx.Client(timeout=0.3) as client, pytest.raises(requestx.ReadTimeout):
        client.get(f"{httpbin_server.url}/delay/3")


def test_map_over_httpbin(httpbin_server: Server) -> None:
    with requestx.Client() as client:
        results = list(client.map([f"{httpbin_server.url}/anything/{i}" for i in range(20)], concurrency=4))
    assert [r.json()["url"] for r in results] == [f"{httpbin_server.url}/anything/{i}" for i in range(20)]
