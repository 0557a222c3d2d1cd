"""HTTP/2: prior knowledge over cleartext, ALPN over TLS (trustme certificates), and cancellation
seen by the server as a reset stream while the connection lives on."""

from __future__ import annotations

import os
import urllib.request
import uuid

import pytest

import requestx


def test_h2c_prior_knowledge(h2_server, arun) -> None:
    async def main() -> None:
        async with requestx.AsyncClient(http1=False, http2=True) as c:
            r = await c.get(h2_server.url + "/echo")
            assert r.http_version == "HTTP/2"
            assert r.json()["http_version"] == "2"
            results = await arun.gather([lambda: c.get(h2_server.url + "/small") for _ in range(50)])
            assert all(x.status_code == 200 and x.http_version == "HTTP/2" for x in results)

    arun(main)


def test_http1_by_default(h2_server) -> None:
    with requestx.Client() as c:
        assert c.get(h2_server.url + "/echo").json()["http_version"] == "1.1"


def test_h2_cancel_resets_the_stream(h2_server, arun) -> None:
    key = uuid.uuid4().hex

    async def main() -> None:
        async with requestx.AsyncClient(http1=False, http2=True, timeout=30) as c:
            assert (await c.get(h2_server.url + "/small")).status_code == 200
            assert await arun.cancel_after(0.3, lambda: c.get(h2_server.url + "/hang", params={"id": key}))
            r = await c.get(h2_server.url + "/small")
            assert r.status_code == 200 and r.http_version == "HTTP/2"

    arun(main)
    with urllib.request.urlopen(f"{h2_server.url}/disconnected?id={key}&wait=5", timeout=10) as r:
        assert b'"disconnected": true' in r.read()


def test_tls_alpn_h2_with_ca_bundle(tls_server, tls_certs) -> None:
    with requestx.Client(http2=True, verify=tls_certs["ca"]) as c:
        r = c.get(tls_server.url + "/echo")
        assert r.http_version == "HTTP/2"
    with requestx.Client(verify=tls_certs["ca"]) as c:
        assert c.get(tls_server.url + "/echo").http_version == "HTTP/1.1"


def test_tls_verification_failure_is_connect_error(tls_server) -> None:
    with requestx.Client(verify=True, trust_env=False) as c, pytest.raises(requestx.ConnectError) as info:
        c.get(tls_server.url + "/small")
    assert "certificate" in str(info.value).lower()
    with requestx.Client(verify=False) as c:
        assert c.get(tls_server.url + "/small").status_code == 200


def test_unreadable_ca_bundle(tmp_path) -> None:
    with pytest.raises(OSError):
        requestx.Client(verify=str(tmp_path / "missing.pem"))
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ValueError):
        requestx.Client(verify=str(bad))


def test_client_certificate_mutual_tls(mtls_server, tls_certs, client_cert) -> None:
    with requestx.Client(verify=tls_certs["ca"], cert=(client_cert["cert"], client_cert["key"])) as c:
        assert c.get(mtls_server.url + "/small").status_code == 200
    with requestx.Client(verify=tls_certs["ca"], cert=client_cert["both"]) as c:
        assert c.get(mtls_server.url + "/small").status_code == 200
    with requestx.Client(verify=tls_certs["ca"]) as c, pytest.raises(requestx.TransportError):
        c.get(mtls_server.url + "/small")  # no client certificate: the server refuses the handshake


def test_bad_client_certificate_arguments(tmp_path, client_cert) -> None:
    with pytest.raises(OSError):
        requestx.Client(cert=str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError):
        requestx.Client(cert=(client_cert["cert"], client_cert["key"], "password"))
    with pytest.raises(TypeError):
        requestx.Client(cert=123)  # type: ignore[arg-type]


def test_ssl_context_ca_material_is_honoured(tls_server, tls_certs) -> None:
    import ssl

    context = ssl.create_default_context(cafile=tls_certs["ca"])
    with requestx.Client(verify=context) as c:
        assert c.get(tls_server.url + "/small").status_code == 200
    with (
        requestx.Client(verify=ssl.create_default_context(), trust_env=False) as c,
        pytest.raises(requestx.ConnectError),
    ):
        c.get(tls_server.url + "/small")  # a context without the test CA trusts the system store only


def test_ssl_cert_file_is_ignored_without_trust_env(tls_server, tls_certs, monkeypatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", tls_certs["ca"])
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with requestx.Client() as c:
        assert c.get(tls_server.url + "/small").status_code == 200  # trust_env: the variable names the CA
    with requestx.Client(trust_env=False) as c, pytest.raises(requestx.ConnectError):
        c.get(tls_server.url + "/small")  # as httpx: the built-in store only, which lacks it
    monkeypatch.setenv("SSL_CERT_DIR", os.path.dirname(tls_certs["ca"]))
    with requestx.Client(trust_env=False) as c, pytest.raises(requestx.ConnectError):
        c.get(tls_server.url + "/small")


def test_ssl_cert_dir_from_the_environment(tls_server, tls_certs, tmp_path, monkeypatch) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "ca.pem").write_bytes(open(tls_certs["ca"], "rb").read())
    (certs / "README").write_text("not a certificate")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with requestx.Client() as c, pytest.raises(requestx.ConnectError):
        c.get(tls_server.url + "/small")  # the throwaway CA is in no trust store...
    monkeypatch.setenv("SSL_CERT_DIR", str(certs))
    with requestx.Client() as c:
        assert c.get(tls_server.url + "/small").status_code == 200  # ...until SSL_CERT_DIR names it
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError):
        requestx.Client()


def test_check_hostname_off_checks_the_chain_but_not_the_name(tls_certs, tmp_path) -> None:
    import ssl

    import trustme

    from tests.conftest import Server, hypercorn

    ca = trustme.CA.from_pem(open(tls_certs["ca"], "rb").read(), open(tls_certs["ca_key"], "rb").read())
    leaf = ca.issue_cert("other.example")  # not the name the client connects to (127.0.0.1)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    # Probed by a TCP connect: a handshake checking the name would fail, as it should.
    server = Server(hypercorn("--certfile", str(cert), "--keyfile", str(key)), scheme="https", probe=False)
    try:
        context = ssl.create_default_context(cafile=tls_certs["ca"])
        with requestx.Client(verify=context) as c, pytest.raises(requestx.ConnectError, match=r"(?i)certificate"):
            c.get(server.url + "/small")  # the chain is trusted, the name is not
        context.check_hostname = False
        for http2 in (False, True):
            with requestx.Client(verify=context, http2=http2) as c:
                assert c.get(server.url + "/small").status_code == 200
        system = ssl.create_default_context()  # the system's store: no chain to the throwaway CA
        system.check_hostname = False
        with (
            requestx.Client(verify=system, trust_env=False) as c,
            pytest.raises(requestx.ConnectError, match=r"(?i)certificate"),
        ):
            c.get(server.url + "/small")
    finally:
        server.stop()
