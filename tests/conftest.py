"""Fixtures: real servers on 127.0.0.1 (uvicorn for HTTP/1.1, a raw socket server for malformed
responses), started and stopped per session, and the async runtimes every async test runs under."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import typing
import urllib.request

import pytest

from tests.servers.h2_oneshot import H2OneShotServer
from tests.servers.raw import RawServer
from tests.servers.socks import SocksServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNTIMES = ["asyncio", "uvloop", "trio", "anyio-asyncio", "anyio-trio"]


def pytest_configure(config: pytest.Config) -> None:
    """A shell starts a background job with SIGINT ignored, and Python then leaves it ignored, so the
    tests that interrupt a call with Ctrl-C would wait out their timeouts instead. With a handler
    installed here, the CLI processes those tests start get the default disposition back at exec."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """Stops a server process: politely, then by force after 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Server:
    """A server process bound to a socket this process opened (so no port race)."""

    def __init__(
        self,
        argv: list[str],
        scheme: str = "http",
        ca: str | None = None,
        probe: bool = True,
        probe_path: str = "/small",
    ) -> None:
        self.sock = _listening_socket()
        self.port = self.sock.getsockname()[1]
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        argv = [a.replace("{fd}", str(self.sock.fileno())) for a in argv]
        self.proc = subprocess.Popen(argv, cwd=ROOT, pass_fds=(self.sock.fileno(),))
        deadline = time.monotonic() + 20
        context = None
        if ca is not None:
            import ssl

            context = ssl.create_default_context(cafile=ca)
        while True:
            try:
                if probe:
                    with urllib.request.urlopen(self.url + probe_path, timeout=2, context=context) as r:
                        r.read()
                else:  # a server that wants a client certificate: a TCP connect says it is up
                    socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"server {argv} did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        _terminate(self.proc)
        self.sock.close()


def uvicorn(app: str = "tests.servers.app:app") -> list[str]:
    """uvicorn serving `app` on the socket the fixture passes as {fd}."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--fd",
        "{fd}",
        "--log-level",
        "warning",
        "--no-access-log",
        "--timeout-keep-alive",
        "30",
    ]


@pytest.fixture(scope="session")
def server() -> typing.Iterator[Server]:
    s = Server(uvicorn())
    yield s
    s.stop()


def hypercorn(*extra: str, app: str = "tests.servers.app:app") -> list[str]:
    """hypercorn serving `app` on the socket the fixture passes as {fd}."""
    return [
        sys.executable,
        "-m",
        "hypercorn",
        app,
        "--bind",
        "fd://{fd}",
        "--log-level",
        "warning",
        *extra,
    ]


@pytest.fixture(scope="session")
def httpbin_server() -> typing.Iterator[Server]:
    """httpbin (the Flask app) under gunicorn, a real WSGI server."""
    s = Server(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            "fd://{fd}",
            "--workers",
            "2",
            "--log-level",
            "warning",
            "httpbin:app",
        ],
        probe_path="/get",
    )
    yield s
    s.stop()


@pytest.fixture(scope="session")
def h2_server() -> typing.Iterator[Server]:
    """hypercorn: HTTP/2 with prior knowledge over cleartext (and HTTP/1.1)."""
    s = Server(hypercorn())
    yield s
    s.stop()


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A throwaway CA (trustme) and a certificate for 127.0.0.1 and localhost signed by it."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    d = tmp_path_factory.mktemp("tls")
    paths = {
        "ca": str(d / "ca.pem"),
        "ca_key": str(d / "ca.key"),
        "cert": str(d / "cert.pem"),
        "key": str(d / "key.pem"),
    }
    ca.cert_pem.write_to_path(paths["ca"])
    ca.private_key_pem.write_to_path(paths["ca_key"])
    cert.cert_chain_pems[0].write_to_path(paths["cert"])
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(paths["cert"], append=True)
    cert.private_key_pem.write_to_path(paths["key"])
    return paths


@pytest.fixture(scope="session")
def tls_server(tls_certs: dict[str, str]) -> typing.Iterator[Server]:
    """hypercorn over TLS, offering h2 and http/1.1 by ALPN."""
    s = Server(
        hypercorn("--certfile", tls_certs["cert"], "--keyfile", tls_certs["key"]),
        scheme="https",
        ca=tls_certs["ca"],
    )
    yield s
    s.stop()


@pytest.fixture(scope="session")
def client_cert(tls_certs: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A client certificate (and key) signed by the test CA, for mutual TLS."""
    import trustme

    ca = trustme.CA.from_pem(open(tls_certs["ca"], "rb").read(), open(tls_certs["ca_key"], "rb").read())
    cert = ca.issue_cert("client@tests.example")
    d = tmp_path_factory.mktemp("client")
    paths = {"cert": str(d / "cert.pem"), "key": str(d / "key.pem"), "both": str(d / "both.pem")}
    cert.cert_chain_pems[0].write_to_path(paths["cert"])
    cert.private_key_pem.write_to_path(paths["key"])
    cert.private_key_and_cert_chain_pem.write_to_path(paths["both"])
    return paths


@pytest.fixture(scope="session")
def mtls_server(tls_certs: dict[str, str]) -> typing.Iterator[Server]:
    """hypercorn over TLS that requires a client certificate signed by the test CA."""
    s = Server(
        hypercorn(
            "--certfile",
            tls_certs["cert"],
            "--keyfile",
            tls_certs["key"],
            "--ca-certs",
            tls_certs["ca"],
            "--verify-mode",
            "CERT_REQUIRED",
        ),
        scheme="https",
        ca=None,
        probe=False,
    )
    yield s
    s.stop()


class ProxyServer:
    """proxy.py (a real forward proxy, HTTP and CONNECT) on 127.0.0.1, its access log in a file."""

    def __init__(self, log_path: str, *extra: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "proxy",
                "--hostname",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--num-workers",
                "1",
                "--num-acceptors",
                "1",
                *extra,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("proxy.py did not start") from None
                time.sleep(0.1)

    def saw(self, fragment: str) -> bool:
        """Whether the proxy logged a request containing `fragment` (waits up to 5 s for the log)."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                if fragment in f.read():
                    return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        _terminate(self.proc)
        self._log.close()


@pytest.fixture(scope="session")
def proxy_server(tmp_path_factory: pytest.TempPathFactory) -> typing.Iterator[ProxyServer]:
    p = ProxyServer(str(tmp_path_factory.mktemp("proxy") / "access.log"))
    yield p
    p.stop()


@pytest.fixture(scope="session")
def auth_proxy_server(tmp_path_factory: pytest.TempPathFactory) -> typing.Iterator[ProxyServer]:
    """proxy.py requiring Basic proxy credentials user:pass."""
    p = ProxyServer(str(tmp_path_factory.mktemp("authproxy") / "access.log"), "--basic-auth", "user:pass")
    yield p
    p.stop()


@pytest.fixture(scope="session")
def socks_server() -> typing.Iterator[SocksServer]:
    s = SocksServer()
    yield s
    s.close()


@pytest.fixture(scope="session")
def auth_socks_server() -> typing.Iterator[SocksServer]:
    """A SOCKS5 proxy requiring username/password user:pass."""
    s = SocksServer(credentials=("user", "pass"))
    yield s
    s.close()


@pytest.fixture(scope="session")
def raw_server() -> typing.Iterator[RawServer]:
    s = RawServer()
    yield s
    s.close()


@pytest.fixture(scope="session")
def h2_oneshot_server() -> typing.Iterator[H2OneShotServer]:
    """HTTP/2 (prior knowledge) answering one request per connection, then GOAWAY and close."""
    s = H2OneShotServer()
    yield s
    s.close()


def _run(runtime: str, fn: typing.Callable[..., typing.Awaitable[typing.Any]], *args: typing.Any) -> typing.Any:
    if runtime == "asyncio":
        return asyncio.run(fn(*args))
    if runtime == "uvloop":
        import uvloop

        return uvloop.run(fn(*args))
    if runtime == "trio":
        import trio

        return trio.run(fn, *args)
    import anyio

    return anyio.run(fn, *args, backend=runtime.split("-", 1)[1])


class Runner:
    """Runs a coroutine function under one runtime, with that runtime's own cancellation tools."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, fn: typing.Callable[..., typing.Awaitable[typing.Any]], *args: typing.Any) -> typing.Any:
        return _run(self.name, fn, *args)

    async def sleep(self, seconds: float) -> None:
        if self.name == "trio":
            import trio

            await trio.sleep(seconds)
        elif self.name.startswith("anyio"):
            import anyio

            await anyio.sleep(seconds)
        else:
            await asyncio.sleep(seconds)

    async def to_thread(self, fn: typing.Callable[[], typing.Any]) -> typing.Any:
        """Runs the blocking fn() (e.g. a request to a server's barrier endpoint) in a worker thread."""
        if self.name == "trio":
            import trio

            return await trio.to_thread.run_sync(fn)
        if self.name.startswith("anyio"):
            import anyio

            return await anyio.to_thread.run_sync(fn)
        return await asyncio.to_thread(fn)

    async def cancel_when(
        self,
        ready: typing.Callable[[], typing.Awaitable[typing.Any]],
        fn: typing.Callable[[], typing.Awaitable[typing.Any]],
    ) -> bool:
        """Runs fn() and cancels it with the runtime's idiom once `await ready()` returned (say, once
        the server saw the request): no timing assumed. True if fn was cancelled, False if it finished."""
        if self.name == "asyncio" or self.name == "uvloop":
            task = asyncio.ensure_future(fn())
            try:
                await ready()
            except BaseException:
                task.cancel()
                await asyncio.wait([task])
                raise
            if task.done():
                await task
                return False
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                return True
            return False
        if self.name == "trio":
            import trio

            cancel_scope, task_group = trio.CancelScope, trio.open_nursery
        else:
            import anyio

            cancel_scope, task_group = anyio.CancelScope, anyio.create_task_group
        finished = False
        with cancel_scope() as scope:
            async with task_group() as group:

                async def cancel_once_ready() -> None:
                    await ready()
                    scope.cancel()

                group.start_soon(cancel_once_ready)
                await fn()
                finished = True
                group.cancel_scope.cancel()
        return scope.cancelled_caught and not finished

    async def cancel_after(self, seconds: float, fn: typing.Callable[[], typing.Awaitable[typing.Any]]) -> bool:
        """Runs fn() and cancels it after `seconds` with the runtime's idiom; True if it was cancelled."""
        if self.name == "trio":
            import trio

            with trio.move_on_after(seconds) as scope:
                await fn()
            return scope.cancelled_caught
        if self.name.startswith("anyio"):
            import anyio

            with anyio.move_on_after(seconds) as scope:
                await fn()
            return scope.cancelled_caught
        try:
            await asyncio.wait_for(fn(), seconds)
        except asyncio.TimeoutError:
            return True
        return False

    async def gather(self, fns: list[typing.Callable[[], typing.Awaitable[typing.Any]]]) -> list[typing.Any]:
        results: list[typing.Any] = [None] * len(fns)

        async def one(i: int) -> None:
            results[i] = await fns[i]()

        if self.name == "trio":
            import trio

            async with trio.open_nursery() as nursery:
                for i in range(len(fns)):
                    nursery.start_soon(one, i)
        elif self.name.startswith("anyio"):
            import anyio

            async with anyio.create_task_group() as tg:
                for i in range(len(fns)):
                    tg.start_soon(one, i)
        else:
            await asyncio.gather(*(one(i) for i in range(len(fns))))
        return results


@pytest.fixture(params=RUNTIMES)
def arun(request: pytest.FixtureRequest) -> Runner:
    return Runner(request.param)
