"""Proxies through a real forward proxy (proxy.py) on 127.0.0.1: `proxy=`, CONNECT for HTTPS, and
HTTP_PROXY/HTTPS_PROXY/ALL_PROXY/NO_PROXY with `trust_env`."""

from __future__ import annotations

import socket
import uuid

import pytest

import requestx


def test_http_through_proxy(server, proxy_server, arun) -> None:
    key = uuid.uuid4().hex
    with requestx.Client(proxy=proxy_server.url) as c:
        # A unique path the proxy's access log will show (the app answers 404 for it).
        assert c.get(server.url + f"/via/{key}").status_code == 404
    assert proxy_server.saw(key)

    async def main() -> int:
        async with requestx.AsyncClient(proxy=proxy_server.url) as c:
            return (await c.get(server.url + "/small")).status_code

    assert arun(main) == 200


def test_https_through_proxy_tunnel(tls_server, tls_certs, proxy_server) -> None:
    with requestx.Client(proxy=proxy_server.url, verify=tls_certs["ca"]) as c:
        assert c.get(tls_server.url + "/small").status_code == 200
    assert proxy_server.saw(f"CONNECT 127.0.0.1:{tls_server.port}")


def test_proxy_that_is_down_is_an_error(server) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with requestx.Client(proxy=dead) as c, pytest.raises((requestx.ConnectError, requestx.ProxyError)):
        c.get(server.url + "/small")


def test_invalid_proxy_url() -> None:
    with pytest.raises(ValueError, match="Unknown scheme for proxy URL"):  # httpx's error
        requestx.Client(proxy="not a url")


def test_environment_proxies(server, proxy_server, monkeypatch) -> None:
    key = uuid.uuid4().hex
    monkeypatch.setenv("HTTP_PROXY", proxy_server.url)
    with requestx.Client() as c:
        assert c.get(server.url + f"/env/{key}").status_code == 404
    assert proxy_server.saw(key)
    skipped = uuid.uuid4().hex
    with requestx.Client(trust_env=False) as c:
        assert c.get(server.url + f"/env/{skipped}").status_code == 404
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with requestx.Client() as c:
        assert c.get(server.url + f"/env/{skipped}").status_code == 404
    assert not proxy_server.saw(skipped)
    monkeypatch.delenv("NO_PROXY")
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.setenv("ALL_PROXY", proxy_server.url)
    every = uuid.uuid4().hex
    with requestx.Client() as c:
        assert c.get(server.url + f"/all/{every}").status_code == 404
    assert proxy_server.saw(every)


@pytest.mark.parametrize(
    ("no_proxy", "direct"),
    [
        ("127.0.0.1", True),
        ("127.0.0.0/8", True),  # a CIDR range
        ("localhost,127.0.0.1", True),
        ("example.com", False),
        (".example.com,10.0.0.0/8", False),
        ("*", True),
    ],
)
def test_no_proxy_rules_against_a_real_proxy(
    server, proxy_server, monkeypatch, arun, no_proxy: str, direct: bool
) -> None:
    """httpx's selection: HTTP_PROXY for http://, unless NO_PROXY names the host (a name, a
    domain, an IP, a CIDR range, or * for all), decided in Python for sync and async clients."""
    monkeypatch.setenv("HTTP_PROXY", proxy_server.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    key = uuid.uuid4().hex
    with requestx.Client() as c:
        assert c.get(server.url + f"/env/{key}").status_code == 404

    async def main() -> None:
        async with requestx.AsyncClient() as c:
            assert (await c.get(server.url + f"/env/{key}-async")).status_code == 404

    arun(main)
    assert _proxied(proxy_server, server, key) is not direct
    assert _proxied(proxy_server, server, key + "-async") is not direct


def _proxied(proxy_server, server, key: str) -> bool:
    """Whether the proxy logged `key`: a request sent through it afterwards, once logged, proves
    the log has caught up (no waiting out a timeout for what never comes)."""
    marker = uuid.uuid4().hex
    with requestx.Client(proxy=proxy_server.url, trust_env=False) as c:
        c.get(server.url + f"/env/{marker}")
    assert proxy_server.saw(marker)
    with open(proxy_server.log_path, encoding="utf-8", errors="replace") as log:
        return key in log.read()


def test_proxy_argument_wins_over_the_environment(server, proxy_server, monkeypatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    key = uuid.uuid4().hex
    with requestx.Client(proxy=requestx.Proxy(proxy_server.url)) as c:
        assert c.get(server.url + f"/env/{key}").status_code == 404
    assert proxy_server.saw(key)  # proxy= applies to every URL, NO_PROXY is not read (httpx)


def test_transport_for_url(server, proxy_server, monkeypatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy_server.url)
    monkeypatch.setenv("NO_PROXY", "localhost")
    with requestx.Client() as c:
        assert isinstance(c._transport_for_url(requestx.URL(server.url)), requestx.HTTPTransport)
        direct = c._transport_for_url(requestx.URL("http://localhost/"))
        assert direct is not c._transport_for_url(requestx.URL(server.url))


def test_proxy_credentials(server, tls_server, tls_certs, auth_proxy_server) -> None:
    with_creds = auth_proxy_server.url.replace("http://", "http://user:pass@")
    with requestx.Client(proxy=with_creds, verify=tls_certs["ca"]) as c:
        assert c.get(server.url + "/small").status_code == 200
        assert c.get(tls_server.url + "/small").status_code == 200  # CONNECT with credentials too
    with requestx.Client(proxy=auth_proxy_server.url) as c:
        assert c.get(server.url + "/small").status_code == 407  # the proxy's answer


# --- SOCKS5 (a real SOCKS server on loopback: tests/servers/socks.py) -------------------------------


def test_socks5_proxy(server, socks_server, arun) -> None:
    with requestx.Client(proxy=socks_server.url()) as c:
        assert c.get(server.url + "/small").status_code == 200
    assert ("127.0.0.1", server.port) in socks_server.targets

    async def main() -> int:
        async with requestx.AsyncClient(proxy=socks_server.url()) as c:
            return (await c.get(server.url + "/small")).status_code

    assert arun(main) == 200


def test_socks5h_leaves_name_resolution_to_the_proxy(server, socks_server) -> None:
    local = server.url.replace("127.0.0.1", "localhost")
    with requestx.Client(proxy=socks_server.url("socks5h")) as c:
        assert c.get(local + "/small").status_code == 200
    assert ("localhost", server.port) in socks_server.targets


def test_socks5_with_credentials(server, auth_socks_server) -> None:
    with requestx.Client(proxy=auth_socks_server.url(auth=("user", "pass"))) as c:
        assert c.get(server.url + "/small").status_code == 200
    with requestx.Client(proxy=auth_socks_server.url(auth=("user", "wrong"))) as c:
        with pytest.raises((requestx.ConnectError, requestx.ProxyError)):
            c.get(server.url + "/small")


def test_socks5_for_https_and_per_scheme_mounts(server, tls_server, tls_certs, socks_server) -> None:
    mounts = {"https://": requestx.HTTPTransport(proxy=socks_server.url(), verify=tls_certs["ca"])}
    with requestx.Client(mounts=mounts) as c:
        assert c.get(tls_server.url + "/small").status_code == 200
        assert ("127.0.0.1", tls_server.port) in socks_server.targets
        tunnels = len(socks_server.targets)
        assert c.get(server.url + "/small").status_code == 200
        assert len(socks_server.targets) == tunnels  # http:// went direct


def test_socks_proxy_from_the_environment(server, socks_server, monkeypatch) -> None:
    monkeypatch.setenv("ALL_PROXY", socks_server.url())
    before = len(socks_server.targets)
    with requestx.Client() as c:
        assert c.get(server.url + "/small?env").status_code == 200
    assert len(socks_server.targets) == before + 1
