"""`create_ssl_context`: an `ssl.SSLContext` for verifying servers as httpx 0.28 builds one.

requestx has no Python dependencies, so unlike httpx there is no certifi bundle: `verify=True`
trusts what OpenSSL trusts on this machine (the system store), or `SSL_CERT_FILE` /
`SSL_CERT_DIR` when `trust_env` allows. The context is an ordinary one: users load more CAs or a
client certificate into it and pass it as `verify=`.
"""

from __future__ import annotations

import os
import ssl
import typing

__all__ = ["CertTypes", "create_ssl_context"]

_Path = typing.Union[str, "os.PathLike[str]"]
#: A client certificate: a PEM file (certificate and key together), or (certificate, key), or
#: (certificate, key, password) for an encrypted key. The key may be None: it is in the first file.
CertTypes = typing.Union[
    _Path,
    tuple[_Path, typing.Optional[_Path]],
    tuple[_Path, typing.Optional[_Path], typing.Union[str, bytes, None]],
]
VerifyTypes = typing.Union[ssl.SSLContext, _Path, bool]


def create_ssl_context(
    verify: VerifyTypes = True,
    cert: CertTypes | None = None,
    trust_env: bool = True,
) -> ssl.SSLContext:
    """A client `ssl.SSLContext`.

    `verify`: True, the system CAs (or `SSL_CERT_FILE`, else `SSL_CERT_DIR`, when `trust_env`);
    a path, the CA bundle file or OpenSSL hashed directory there; False, no verification at all;
    an `ssl.SSLContext`, that context itself. `cert` is loaded into the context as the client
    certificate. `SSLKEYLOGFILE` (TLS secrets for Wireshark) is honoured when `trust_env`.
    """
    if isinstance(verify, ssl.SSLContext):
        # Used as given (keylog included): it is the caller's, already set up as they wanted.
        context = verify
    else:
        if verify is True:
            context = _system_context(trust_env)
        elif verify is False:
            context = _unverified_context()
        elif isinstance(verify, (str, os.PathLike)):
            context = _context_trusting(os.fspath(verify))
        else:
            raise TypeError(f"verify must be a bool, a CA path or an ssl.SSLContext, not {type(verify).__name__}")
        _set_keylog(context, trust_env)
    if cert:
        _load_cert(context, cert)
    return context


def _system_context(trust_env: bool) -> ssl.SSLContext:
    """Verifying against the system CAs, or the environment's when it is trusted."""
    cafile = os.environ.get("SSL_CERT_FILE")
    capath = os.environ.get("SSL_CERT_DIR")
    if trust_env:
        if cafile:
            return ssl.create_default_context(cafile=cafile)
        if capath:
            return ssl.create_default_context(capath=capath)
        return ssl.create_default_context()
    if not (cafile or capath):
        return ssl.create_default_context()
    # OpenSSL itself reads SSL_CERT_FILE/SSL_CERT_DIR when loading its default paths, so with
    # trust_env=False the built-in locations are named explicitly to keep the environment out.
    paths = ssl.get_default_verify_paths()
    builtin_file = paths.openssl_cafile if os.path.isfile(paths.openssl_cafile) else None
    builtin_dir = paths.openssl_capath if os.path.isdir(paths.openssl_capath) else None
    if builtin_file or builtin_dir:
        return ssl.create_default_context(cafile=builtin_file, capath=builtin_dir)
    # No built-in location on disk (e.g. Windows, whose store is not a path): OpenSSL's defaults.
    return ssl.create_default_context()


def _context_trusting(path: str) -> ssl.SSLContext:
    """Verifying against the CAs at `path` only: a PEM bundle, or an OpenSSL hashed directory."""
    if os.path.isdir(path):
        return ssl.create_default_context(capath=path)
    # A missing file raises FileNotFoundError here, not at the first request.
    return ssl.create_default_context(cafile=path)


def _unverified_context() -> ssl.SSLContext:
    """No certificate or host name checks (`verify=False`), and so no CAs loaded."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # must be off before verify_mode can be CERT_NONE
    context.verify_mode = ssl.CERT_NONE
    return context


def _set_keylog(context: ssl.SSLContext, trust_env: bool) -> None:
    """`SSLKEYLOGFILE` only when the environment is trusted. `ssl.create_default_context` reads it
    unconditionally, so with trust_env=False it is cleared again; `verify=False` contexts get it
    too, since debugging an unverified connection is a common reason to capture its secrets."""
    keylog = os.environ.get("SSLKEYLOGFILE") if trust_env else None
    context.keylog_filename = keylog or None  # type: ignore[assignment]


def _load_cert(context: ssl.SSLContext, cert: CertTypes) -> None:
    if isinstance(cert, (str, os.PathLike)):
        context.load_cert_chain(cert)
    elif isinstance(cert, tuple) and len(cert) in (2, 3):
        context.load_cert_chain(*cert)
    else:
        raise TypeError("cert must be a PEM path, or (cert path, key path[, password])")
