"""The public surface: `__all__` complete and sorted, types re-exported under `requestx`."""

from __future__ import annotations

import requestx


def test_all_sorted_and_complete() -> None:
    public = {name for name in dir(requestx) if not name.startswith("_")} | {"__version__"}
    # Functions named as httpx's modules, and `requestx.testing` once some test imported it.
    modules = {"delete", "get", "head", "options", "patch", "post", "put", "request", "stream", "testing"}
    assert requestx.__all__ == sorted(set(requestx.__all__))
    assert public - set(requestx.__all__) <= modules
    for name in requestx.__all__:
        assert hasattr(requestx, name)


def test_public_classes_live_in_requestx() -> None:
    for cls in (
        requestx.Client,
        requestx.AsyncClient,
        requestx.Response,
        requestx.Request,
        requestx.Headers,
        requestx.URL,
        requestx.Timeout,
        requestx.ReadTimeout,
    ):
        assert cls.__module__ == "requestx"


def test_httpx_drop_in_names() -> None:
    import importlib.util

    if importlib.util.find_spec("httpx") is None:
        return
    import httpx

    missing = {n for n in httpx.__all__ if not hasattr(requestx, n)}
    # Still to come (issue 3): cookies, transports, digest/netrc auth, multipart.
    expected_later = {
        "Proxy",
        "create_ssl_context",
        "main",
    }
    assert missing <= expected_later
