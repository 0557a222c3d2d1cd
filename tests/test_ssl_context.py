"""`create_ssl_context` (httpx 0.28's), checked by inspecting the context and by real TLS handshakes
in memory (`ssl.MemoryBIO`, no socket): which CAs it trusts, host name checks, client
certificates, SSL_CERT_FILE / SSL_CERT_DIR / SSLKEYLOGFILE and `trust_env`."""

from __future__ import annotations

import os
import pathlib
import shutil
import ssl
import subprocess
import typing

import pytest
import trustme
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    load_pem_private_key,
)

from requestx._ssl import create_ssl_context


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server for "localhost" whose certificate no system store trusts (trustme's own CA)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def client_cert(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A client certificate from `ca`: as one PEM, as certificate + key, and with an encrypted key."""
    leaf = ca.issue_cert("client@example.com")
    directory = tmp_path_factory.mktemp("client")
    paths = {name: str(directory / f"{name}.pem") for name in ("combined", "cert", "key", "encrypted_key")}
    leaf.private_key_and_cert_chain_pem.write_to_path(paths["combined"])
    leaf.cert_chain_pems[0].write_to_path(paths["cert"])
    leaf.private_key_pem.write_to_path(paths["key"])
    key = load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, BestAvailableEncryption(b"password"))
    pathlib.Path(paths["encrypted_key"]).write_bytes(encrypted)
    return paths


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "SSLKEYLOGFILE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def handshake(client: ssl.SSLContext, server: ssl.SSLContext, hostname: str = "localhost") -> ssl.SSLObject:
    """A full TLS handshake between the two contexts, through memory buffers."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_side = client.wrap_bio(to_client, to_server, server_hostname=hostname)
    server_side = server.wrap_bio(to_server, to_client, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, side in (("client", client_side), ("server", server_side)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        if all(done.values()):
            # TLS 1.3 sends the server's verdict on a client certificate after its handshake.
            server_side.write(b"ok")
            assert client_side.read(2) == b"ok"
            return client_side
    raise AssertionError("the handshake did not finish")


# --- verify=True: the system store, or the environment's -------------------------------------


def test_default_context_verifies(clean_env: pytest.MonkeyPatch) -> None:
    context = create_ssl_context()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.keylog_filename is None


def test_default_context_loads_the_system_cas(clean_env: pytest.MonkeyPatch) -> None:
    paths = ssl.get_default_verify_paths()
    if not (paths.cafile and os.path.isfile(paths.cafile)):
        pytest.skip("no system CA bundle file here")
    assert create_ssl_context().cert_store_stats()["x509_ca"] > 0


def test_default_context_rejects_an_unknown_ca(clean_env: pytest.MonkeyPatch, server_context: ssl.SSLContext) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(create_ssl_context(), server_context)


def test_ssl_cert_file(clean_env: pytest.MonkeyPatch, ca_file: str, server_context: ssl.SSLContext) -> None:
    clean_env.setenv("SSL_CERT_FILE", ca_file)
    context = create_ssl_context()
    assert len(context.get_ca_certs()) == 1  # that bundle only, not the system's as well
    handshake(context, server_context)
    # Not when the environment is not trusted.
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(create_ssl_context(trust_env=False), server_context)


def test_ssl_cert_file_wins_over_ssl_cert_dir(
    clean_env: pytest.MonkeyPatch, ca_file: str, tmp_path: pathlib.Path, server_context: ssl.SSLContext
) -> None:
    clean_env.setenv("SSL_CERT_FILE", ca_file)
    clean_env.setenv("SSL_CERT_DIR", str(tmp_path))  # empty: would trust nothing
    handshake(create_ssl_context(), server_context)


def test_missing_ssl_cert_file_raises(clean_env: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    clean_env.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(OSError):
        create_ssl_context()
    create_ssl_context(trust_env=False)


def hashed_ca_dir(ca: trustme.CA, directory: pathlib.Path) -> str:
    """An OpenSSL CA directory (files named by subject hash), via `openssl rehash`."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to hash a CA directory")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    subprocess.run(["openssl", "rehash", str(directory)], check=True, capture_output=True)
    return str(directory)


def test_ssl_cert_dir(
    clean_env: pytest.MonkeyPatch, ca: trustme.CA, tmp_path: pathlib.Path, server_context: ssl.SSLContext
) -> None:
    clean_env.setenv("SSL_CERT_DIR", hashed_ca_dir(ca, tmp_path))
    handshake(create_ssl_context(), server_context)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(create_ssl_context(trust_env=False), server_context)


# --- verify=<path>, verify=False, verify=<context> -------------------------------------------


@pytest.mark.parametrize("as_path", [False, True])
def test_verify_ca_file(
    clean_env: pytest.MonkeyPatch, ca_file: str, server_context: ssl.SSLContext, as_path: bool
) -> None:
    context = create_ssl_context(verify=pathlib.Path(ca_file) if as_path else ca_file)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    handshake(context, server_context)


def test_verify_ca_directory(
    clean_env: pytest.MonkeyPatch, ca: trustme.CA, tmp_path: pathlib.Path, server_context: ssl.SSLContext
) -> None:
    handshake(create_ssl_context(verify=hashed_ca_dir(ca, tmp_path)), server_context)


def test_verify_checks_the_host_name(
    clean_env: pytest.MonkeyPatch, ca_file: str, server_context: ssl.SSLContext
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match=r"[Hh]ostname mismatch"):
        handshake(create_ssl_context(verify=ca_file), server_context, hostname="other.example")


def test_verify_missing_path_raises(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError):
        create_ssl_context(verify=str(tmp_path / "missing.pem"))


def test_verify_false_checks_nothing(clean_env: pytest.MonkeyPatch, server_context: ssl.SSLContext) -> None:
    context = create_ssl_context(verify=False)
    assert context.verify_mode == ssl.CERT_NONE
    assert context.check_hostname is False
    assert context.cert_store_stats()["x509_ca"] == 0
    handshake(context, server_context, hostname="other.example")


def test_verify_context_is_used_as_given(clean_env: pytest.MonkeyPatch, client_cert: dict[str, str]) -> None:
    mine = ssl.create_default_context()
    clean_env.setenv("SSLKEYLOGFILE", "ignored")
    assert create_ssl_context(verify=mine) is mine
    assert mine.keylog_filename is None
    assert create_ssl_context(verify=mine, cert=client_cert["combined"]) is mine


@pytest.mark.parametrize("verify", [1, None, b"/etc/ssl/ca.pem"])
def test_verify_of_another_type_raises(verify: typing.Any) -> None:
    with pytest.raises(TypeError):
        create_ssl_context(verify=verify)


# --- cert=: the client certificate -----------------------------------------------------------


@pytest.fixture(scope="module")
def mutual_server(ca: trustme.CA) -> ssl.SSLContext:
    """A server that requires a client certificate from `ca`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


@pytest.mark.parametrize(
    "cert",
    [
        lambda p: p["combined"],
        lambda p: pathlib.Path(p["combined"]),
        lambda p: (p["cert"], p["key"]),
        lambda p: (p["combined"], None),
        lambda p: (p["cert"], p["encrypted_key"], "password"),
        lambda p: (p["cert"], p["encrypted_key"], b"password"),
    ],
    ids=["combined", "pathlike", "cert+key", "cert+None", "encrypted-str", "encrypted-bytes"],
)
def test_client_certificate(
    clean_env: pytest.MonkeyPatch,
    ca_file: str,
    client_cert: dict[str, str],
    mutual_server: ssl.SSLContext,
    cert: typing.Callable[[dict[str, str]], typing.Any],
) -> None:
    context = create_ssl_context(verify=ca_file, cert=cert(client_cert))
    handshake(context, mutual_server)


def test_no_client_certificate_is_refused(
    clean_env: pytest.MonkeyPatch, ca_file: str, mutual_server: ssl.SSLContext
) -> None:
    with pytest.raises(ssl.SSLError):
        handshake(create_ssl_context(verify=ca_file), mutual_server)


def test_client_certificate_with_wrong_password(client_cert: dict[str, str]) -> None:
    with pytest.raises(ssl.SSLError):
        create_ssl_context(cert=(client_cert["cert"], client_cert["encrypted_key"], "password1"))


def test_client_certificate_without_its_key(client_cert: dict[str, str]) -> None:
    with pytest.raises(ssl.SSLError):
        create_ssl_context(cert=client_cert["cert"])


@pytest.mark.parametrize("cert", [("a",), ("a", "b", "c", "d"), ["a", "b"], 3])
def test_client_certificate_of_another_shape(cert: typing.Any) -> None:
    with pytest.raises(TypeError):
        create_ssl_context(cert=cert)


def test_context_verify_false_with_client_certificate(client_cert: dict[str, str]) -> None:
    context = create_ssl_context(verify=False, cert=client_cert["combined"])
    assert context.verify_mode == ssl.CERT_NONE


# --- SSLKEYLOGFILE ----------------------------------------------------------------------------


@pytest.mark.parametrize("verify", [True, False])
def test_keylog_file(
    clean_env: pytest.MonkeyPatch, tmp_path: pathlib.Path, server_context: ssl.SSLContext, verify: bool
) -> None:
    keylog = tmp_path / "keys.log"
    clean_env.setenv("SSLKEYLOGFILE", str(keylog))
    context = create_ssl_context(verify=verify)
    assert context.keylog_filename == str(keylog)
    if not verify:
        handshake(context, server_context)
        assert "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in keylog.read_text() or "CLIENT_RANDOM" in keylog.read_text()


def test_keylog_file_needs_trust_env(clean_env: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    clean_env.setenv("SSLKEYLOGFILE", str(tmp_path / "keys.log"))
    assert create_ssl_context(trust_env=False).keylog_filename is None
    assert create_ssl_context(verify=False, trust_env=False).keylog_filename is None


def test_empty_keylog_variable_is_none(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SSLKEYLOGFILE", "")
    assert create_ssl_context().keylog_filename is None
