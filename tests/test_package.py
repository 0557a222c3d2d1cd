"""The public surface: `__all__` complete and sorted, types re-exported under `requestx`."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import httpx  # the `sdk` extra, which every test session installs (noxfile.py: `.[test,sdk]`)

import requestx


def test_all_sorted_and_complete() -> None:
    public = {name for name in dir(requestx) if not name.startswith("_")} | {"__version__"}
    # Functions named as httpx's modules, and `requestx.testing` and `requestx.distributed` once
    # some test imported them.
    modules = {
        *("delete", "get", "head", "options", "patch", "post", "put", "query", "request", "stream"),
        *("testing", "distributed"),
    }
    assert len(set(requestx.__all__)) == len(requestx.__all__)
    assert requestx.__all__ == sorted(requestx.__all__, key=str.casefold)  # httpx's order
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
    missing = {n for n in httpx.__all__ if not hasattr(requestx, n)}
    # Not provided (yet): httpx's Proxy object, its SSL-context helper and its command line.
    assert missing <= {"Proxy", "create_ssl_context", "main"}


def test_httpx_classes_are_classes_here_too() -> None:
    classes = [n for n in httpx.__all__ if isinstance(getattr(httpx, n), type) and hasattr(requestx, n)]
    assert len(classes) > 40
    assert [n for n in classes if not isinstance(getattr(requestx, n), type)] == []


def test_exception_hierarchy_matches_httpx() -> None:
    """`except requestx.TimeoutException` catches what `except httpx.TimeoutException` would."""
    names = [
        n for n in httpx.__all__ if isinstance(getattr(httpx, n), type) and issubclass(getattr(httpx, n), Exception)
    ]
    assert len(names) > 20
    differ = [
        (a, b)
        for a in names
        for b in names
        if issubclass(getattr(httpx, a), getattr(httpx, b)) != issubclass(getattr(requestx, a), getattr(requestx, b))
    ]
    assert differ == []


def test_a_source_tree_without_the_engine_says_so(tmp_path: pathlib.Path) -> None:
    # The package's Python files without the compiled engine, as a checkout before its first build.
    source = pathlib.Path(requestx.__file__).parent
    tree = tmp_path / "requestx"
    tree.mkdir()
    for path in source.glob("*.py"):
        shutil.copy(path, tree / path.name)
    result = subprocess.run(
        [sys.executable, "-c", "import requestx"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: requestx's compiled engine (requestx._requestx) is not in ")
    assert "maturin develop --release" in last
    assert "ModuleNotFoundError" not in result.stderr
