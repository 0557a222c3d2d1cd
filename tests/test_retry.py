"""Retries (`retries=` on a client, a request, `map`/`pool`, and `HTTPTransport(retries=)`), decided
and slept in the engine (src/http/retry.rs), against real servers.

The servers count the attempts: `/flaky` fails a key's first calls and records when each arrived,
the raw server's `/drop` closes connections without answering, and the refusing server below ends
every TLS handshake at once (a connection failure, counted as it is accepted).
"""

from __future__ import annotations

import json
import socket
import threading
import typing
import urllib.request

import pytest

import requestx
from tests.servers.listener import ThreadedServer

from .conftest import Runner, Server


def _get(server: Server, path: str) -> typing.Any:
    with urllib.request.urlopen(f"{server.url}{path}", timeout=10) as r:
        return json.loads(r.read())


def _flaky_calls(server: Server, key: str) -> list[float]:
    return typing.cast(list[float], _get(server, f"/flaky-stats?key={key}")["calls"])


class HandshakeRefuser(ThreadedServer):
    """Accepts TCP connections and closes them at once: every TLS handshake fails (a ConnectError)."""

    def __init__(self) -> None:
        self.accepted = 0
        self._lock = threading.Lock()
        super().__init__()
        self.url = f"https://127.0.0.1:{self.port}"

    def _handle(self, conn: socket.socket) -> None:
        with self._lock:
            self.accepted += 1  # before the close the client's error comes from
        conn.close()


@pytest.fixture
def refuser() -> typing.Iterator[HandshakeRefuser]:
    s = HandshakeRefuser()
    yield s
    s.close()


# --- the policy ------------------------------------------------------------------------------------


def test_retry_policy_validates_and_describes_itself() -> None:
    retry = requestx.Retry(4, backoff_factor=0.25, status_forcelist=[500])
    assert retry.total == 4
    assert retry.status_forcelist == frozenset({500})
    assert retry.allowed_methods is not None and "GET" in retry.allowed_methods
    assert "POST" not in retry.allowed_methods
    assert [retry.get_backoff_time(n) for n in (1, 2, 3)] == [0.0, 0.5, 1.0]
    assert "Retry(total=4" in repr(retry)
    with pytest.raises(ValueError):
        requestx.Retry(backoff_factor=-1)
    with pytest.raises(ValueError):
        requestx.Retry(status_forcelist=[42])
    with pytest.raises(ValueError):
        requestx.Retry(backoff_max=1e30)
    assert requestx.Retry(100_000, backoff_factor=0).get_backoff_time(5000) == 0.0


@pytest.mark.parametrize("retries", [0, None])
def test_no_retries_is_none(retries: int | None) -> None:
    with requestx.Client(retries=retries) as client:
        assert client.retries is None


def test_retries_option_takes_a_count_or_a_policy() -> None:
    policy = requestx.Retry(5, backoff_factor=0)
    with requestx.Client(retries=2) as client:
        assert client.retries is not None and client.retries.total == 2
        client.retries = policy
        assert client.retries is policy
        client.retries = 0
        assert client.retries is None


@pytest.mark.parametrize("bad", ["3", -1, True, 1.5])
def test_retries_option_rejects_anything_else(bad: typing.Any) -> None:
    with pytest.raises(TypeError):
        requestx.Client(retries=bad)


# --- retried statuses and failures -----------------------------------------------------------------


def test_retries_listed_statuses_with_backoff(server: Server) -> None:
    with requestx.Client(retries=requestx.Retry(3, backoff_factor=0.1)) as client:
        response = client.get(f"{server.url}/flaky?key=backoff&fail=2&status=503")
    assert response.status_code == 200
    assert response.retries == 2
    _, second, third = _flaky_calls(server, "backoff")
    assert third - second >= 0.18  # the second retry waits backoff_factor * 2 (the first none)


def test_retry_after_is_respected(server: Server, arun: Runner) -> None:
    key = f"after-{arun.name}"

    async def main() -> requestx.Response:
        async with requestx.AsyncClient() as client:
            return await client.get(f"{server.url}/flaky?key={key}&fail=1&status=429&retry_after=1", retries=2)

    response = arun(main)
    assert (response.status_code, response.retries) == (200, 1)
    first, second = _flaky_calls(server, key)
    assert second - first >= 0.95


def test_exhausted_retries_return_the_last_response(server: Server) -> None:
    retry = requestx.Retry(2, backoff_factor=0)
    with requestx.Client() as client:
        response = client.get(f"{server.url}/flaky?key=exhausted&fail=9&status=502", retries=retry)
    assert (response.status_code, response.retries) == (502, 2)
    assert len(_flaky_calls(server, "exhausted")) == 3


def test_non_idempotent_methods_are_not_retried_after_sending(server: Server, raw_server: typing.Any) -> None:
    with requestx.Client(retries=requestx.Retry(3, backoff_factor=0)) as client:
        assert client.post(f"{server.url}/flaky?key=post&fail=1&status=503").status_code == 503
        assert len(_flaky_calls(server, "post")) == 1
        with pytest.raises((requestx.RemoteProtocolError, requestx.ReadError)):
            client.post(f"{raw_server.url}/drop/post/1")
        assert raw_server.drops["post"] == 1
        response = client.get(f"{raw_server.url}/drop/get/2")
    assert (response.status_code, response.retries) == (200, 2)
    assert raw_server.drops["get"] == 3


def test_map_retries(server: Server) -> None:
    urls = [f"{server.url}/flaky?key=map-{i}&fail=1&status=503" for i in range(5)]
    with requestx.Client() as client:
        results = list(client.map(urls, retries=requestx.Retry(2, backoff_factor=0)))
    assert [(r.status_code, r.retries) for r in results] == [(200, 1)] * 5


def test_threads_and_retries_share_the_client(server: Server) -> None:
    errors: list[BaseException] = []
    with requestx.Client(retries=requestx.Retry(2, backoff_factor=0)) as client:

        def worker(t: int) -> None:
            try:
                r = client.get(f"{server.url}/flaky?key=thread-{t}&fail=1&status=503")
                assert (r.status_code, r.retries) == (200, 1)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert not errors


def test_a_request_s_own_retries_win_in_map_and_pool(server: Server) -> None:
    none, once = requestx.Retry(0), requestx.Retry(2, backoff_factor=0)
    with requestx.Client(retries=once) as client:
        own = client.build_request("GET", f"{server.url}/flaky?key=own-none&fail=1&status=503")
        own.extensions["retries"] = none
        mapped_own, mapped_default = client.map([own, f"{server.url}/flaky?key=own-default&fail=1&status=503"])
        with client.pool(workers=2) as pool:
            future = pool.submit("GET", f"{server.url}/flaky?key=own-pool&fail=1&status=503", retries=none)
            submitted = future.result(timeout=10)
    assert isinstance(mapped_own, requestx.Response) and isinstance(mapped_default, requestx.Response)
    assert (mapped_own.status_code, mapped_own.retries) == (503, 0)
    assert (mapped_default.status_code, mapped_default.retries) == (200, 1)
    assert (submitted.status_code, submitted.retries) == (503, 0)


# --- HTTPTransport(retries=): connection failures only, as httpx's ---------------------------------


def test_transport_retries_only_failed_connections(server: Server) -> None:
    transport = requestx.HTTPTransport(retries=2)
    with requestx.Client(transport=transport) as client:
        assert client.get(f"{server.url}/flaky?key=transport&fail=1&status=503").status_code == 503
    assert len(_flaky_calls(server, "transport")) == 1


@pytest.mark.parametrize(("retries", "attempts"), [(0, 1), (2, 3)])
def test_transport_retries_failed_connections(refuser: HandshakeRefuser, retries: int, attempts: int) -> None:
    transport = requestx.HTTPTransport(retries=retries)
    with requestx.Client(transport=transport) as client, pytest.raises(requestx.ConnectError):
        client.get(refuser.url)
    assert refuser.accepted == attempts


def test_transport_does_not_retry_a_dropped_response(raw_server: typing.Any) -> None:
    with requestx.Client(transport=requestx.HTTPTransport(retries=2)) as client:
        with pytest.raises((requestx.RemoteProtocolError, requestx.ReadError)):
            client.get(f"{raw_server.url}/drop/transport-get/1")
    assert raw_server.drops["transport-get"] == 1


def test_client_retries_failed_connections_too(refuser: HandshakeRefuser) -> None:
    with requestx.Client(retries=requestx.Retry(2, backoff_factor=0)) as client, pytest.raises(requestx.ConnectError):
        client.get(refuser.url)
    assert refuser.accepted == 3
