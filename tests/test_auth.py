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
