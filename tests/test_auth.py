"""Auth flows against a server that checks them independently: Digest (MD5, SHA-256, SHA-512, -sess),
netrc, Basic, and custom `Auth` generator flows, sync and async."""

from __future__ import annotations

import pytest

import requestx


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256", "SHA-512", "MD5-SESS", "SHA-256-SESS"])
def test_digest_auth_sync(server, algorithm: str) -> None:
    auth = requestx.DigestAuth("user", "pass")
    with requestx.Client(auth=auth) as c:
        r = c.get(server.url + "/digest", params={"algorithm": algorithm, "x": "1"})
        assert r.status_code == 200 and r.json() == {
            "authenticated": True,
            "uri": "/digest?algorithm=" + algorithm + "&x=1",
        }
        # The challenge is remembered: the next request answers it up front.
        assert c.get(server.url + "/digest", params={"algorithm": algorithm}).json()["authenticated"]


def test_digest_auth_wrong_password(server) -> None:
    with requestx.Client() as c:
        r = c.get(server.url + "/digest", auth=requestx.DigestAuth("user", "nope"))
    assert r.status_code == 403


def test_digest_auth_async(server, arun) -> None:
    async def main() -> bool:
        async with requestx.AsyncClient() as c:
            r = await c.get(
                server.url + "/digest", params={"algorithm": "SHA-256"}, auth=requestx.DigestAuth("user", "pass")
            )
            return bool(r.json()["authenticated"])

    assert arun(main)


def test_netrc_auth(server, tmp_path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password s3cret\n")
    netrc.chmod(0o600)
    with requestx.Client(auth=requestx.NetRCAuth(str(netrc))) as c:
        headers = dict(c.get(server.url + "/echo").json()["headers"])
    assert headers["authorization"] == requestx.BasicAuth("alice", "s3cret")._header


def test_custom_auth_flow_retries_once(server) -> None:
    class TokenAuth(requestx.Auth):
        def auth_flow(self, request):
            response = yield request
            if response.status_code == 404:
                request.headers["X-Token"] = "second-try"
                yield request

    with requestx.Client(auth=TokenAuth()) as c:
        r = c.get(server.url + "/missing")
    assert r.status_code == 404 and r.request.headers["x-token"] == "second-try"


def test_unknown_auth_type() -> None:
    with pytest.raises(TypeError):
        requestx.Client(auth=object())  # type: ignore[arg-type]


def test_async_auth_flow_may_await(server, arun) -> None:
    """A custom Auth overriding `async_auth_flow` (to await, e.g. fetching a token) drives the async
    client and `amap`; its sync `auth_flow` is not used there."""

    class AwaitingAuth(requestx.Auth):
        def auth_flow(self, request):
            raise AssertionError("the async client must use async_auth_flow")

        async def async_auth_flow(self, request):
            await arun.sleep(0)
            request.headers["X-Token"] = "awaited"
            response = yield request
            if response.status_code == 404:
                request.headers["X-Token"] = "second"
                yield request

    async def main() -> tuple[str, str, list[str]]:
        async with requestx.AsyncClient(auth=AwaitingAuth()) as c:
            first = dict((await c.get(server.url + "/echo")).json()["headers"])["x-token"]
            missing = await c.get(server.url + "/missing")
            mapped = [dict(r.json()["headers"])["x-token"] async for r in c.amap([server.url + "/echo"] * 3)]
            return first, missing.request.headers["x-token"], mapped

    assert arun(main) == ("awaited", "second", ["awaited"] * 3)


def test_sync_auth_flow_reads_the_response_body(server) -> None:
    class BodyAuth(requestx.Auth):
        requires_response_body = True

        def auth_flow(self, request):
            response = yield request
            assert response.content  # read for the flow by sync_auth_flow
            request.headers["X-Seen"] = str(len(response.content))
            yield request

    with requestx.Client(auth=BodyAuth()) as c:
        r = c.get(server.url + "/small")
    assert r.request.headers["x-seen"] == "100"
