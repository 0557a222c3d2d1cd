"""The worker pool (`Client.map`, `AsyncClient.amap`, `Client.pool`), against real servers (its retries:
test_retry.py).

Bounds are checked on the server's side: it counts the requests in flight per group, records when
each started and when a client went away. Each async test runs under asyncio, uvloop, trio and anyio.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import json
import resource
import typing
import urllib.request

import pytest

import requestx
from requestx._demo_server import DemoServer

from .conftest import Runner, Server


def _get(server: Server, path: str) -> typing.Any:
    with urllib.request.urlopen(f"{server.url}{path}", timeout=10) as r:
        return json.loads(r.read())


def _disconnected(server: Server, key: str) -> bool:
    return bool(_get(server, f"/disconnected?id={key}&wait=5")["disconnected"])


def _started(server: Server, key: str) -> bool:
    return bool(_get(server, f"/started?id={key}&wait=5")["started"])


def _track(server: Server, group: str, n: int, delay: float = 0.01, host: str = "127.0.0.1") -> list[str]:
    base = server.url.replace("127.0.0.1", host)
    return [f"{base}/track?group={group}&i={i}&delay={delay}" for i in range(n)]


# --- map: results ---------------------------------------------------------------------------------


def test_map_yields_in_order_with_exceptions_in_place(server: Server) -> None:
    urls: list[typing.Any] = [f"{server.url}/track?group=order&i={i}" for i in range(20)]
    urls[5] = "not a url"
    urls[9] = "http://127.0.0.1:1/refused"
    with requestx.Client() as client:
        results = list(client.map(urls, concurrency=4))
    assert len(results) == 20
    assert isinstance(results[5], requestx.UnsupportedProtocol)
    assert isinstance(results[9], requestx.ConnectError)
    assert str(results[9].request.url) == "http://127.0.0.1:1/refused"
    for i, r in enumerate(results):
        if i not in (5, 9):
            assert isinstance(r, requestx.Response)
            assert r.json() == {"i": str(i)}
            assert str(r.request.url) == urls[i]


def test_map_unordered_yields_as_they_complete(server: Server) -> None:
    urls = [f"{server.url}/slow?delay=0.5"] + [f"{server.url}/small"] * 10
    with requestx.Client() as client:
        unordered = list(client.map(urls, concurrency=4, ordered=False))
        ordered = list(client.map(urls, concurrency=4))
    assert [isinstance(r, requestx.Response) for r in unordered] == [True] * 11
    assert unordered[-1].text == "slow"  # the slow one came last...
    assert ordered[0].text == "slow"  # ...unless the input order was asked for


def test_map_takes_requests_with_bodies_and_per_request_settings(server: Server) -> None:
    with requestx.Client() as client:
        requests = [
            client.build_request("POST", f"{server.url}/echo", json={"n": i}, headers={"X-N": str(i)}) for i in range(6)
        ]
        results = list(client.map(requests, concurrency=3))
    for i, r in enumerate(results):
        assert isinstance(r, requestx.Response)
        body = r.json()
        assert body["method"] == "POST"
        assert json.loads(body["body"]) == {"n": i}
        assert ["x-n", str(i)] in body["headers"]


def test_map_rejects_bad_arguments(server: Server) -> None:
    with requestx.Client() as client:
        with pytest.raises(ValueError):
            client.map([], concurrency=0)
        with pytest.raises(ValueError):
            client.map([], rate=0)
        with pytest.raises(ValueError):
            client.map([], per_host=0)
        with pytest.raises(ValueError):
            client.map([], per_host=-1)
        with pytest.raises(ValueError):  # beyond what a semaphore holds: an error, not a panic
            client.map([], concurrency=2**62)
        with pytest.raises(ValueError):
            client.map([], rate=1e-300)
        with pytest.raises(TypeError):
            client.map([], retries="3")  # type: ignore[arg-type]
        (result,) = list(client.map([42]))  # type: ignore[list-item]
        assert isinstance(result, TypeError)
    with pytest.raises(RuntimeError):
        client.map([f"{server.url}/small"])


# --- map: bounds the server observes --------------------------------------------------------------


def test_map_never_exceeds_concurrency(server: Server) -> None:
    with requestx.Client() as client:
        results = list(client.map(_track(server, "bound-sync", 120), concurrency=8))
    assert all(isinstance(r, requestx.Response) and r.status_code == 200 for r in results)
    assert _get(server, "/track-stats?group=bound-sync")["max"] == 8


def test_amap_never_exceeds_concurrency(server: Server, arun: Runner) -> None:
    group = f"bound-{arun.name}"

    async def main() -> list[typing.Any]:
        async with requestx.AsyncClient() as client:
            return [r async for r in client.amap(_track(server, group, 90), concurrency=5)]

    results = arun(main)
    assert [r.json()["i"] for r in results] == [str(i) for i in range(90)]
    assert _get(server, f"/track-stats?group={group}")["max"] == 5


def test_amap_takes_an_async_iterable(server: Server, arun: Runner) -> None:
    async def urls() -> typing.AsyncIterator[str]:
        for i in range(12):
            yield f"{server.url}/track?group=aiter&i={i}"

    async def main() -> list[typing.Any]:
        async with requestx.AsyncClient() as client:
            return [r async for r in client.amap(urls(), concurrency=3, ordered=False)]

    assert sorted(int(r.json()["i"]) for r in arun(main)) == list(range(12))


def test_per_host_limit(server: Server) -> None:
    pairs = zip(_track(server, "host-a", 30), _track(server, "host-b", 30, host="localhost"), strict=True)
    urls = [u for pair in pairs for u in pair]
    with requestx.Client() as client:
        results = list(client.map(urls, concurrency=10, per_host=2))
    assert all(isinstance(r, requestx.Response) for r in results)
    assert _get(server, "/track-stats?group=host-a")["max"] == 2
    assert _get(server, "/track-stats?group=host-b")["max"] == 2


def test_per_host_rate(server: Server, arun: Runner) -> None:
    group = f"rate-{arun.name}"

    async def main() -> list[typing.Any]:
        async with requestx.AsyncClient() as client:
            return [r async for r in client.amap(_track(server, group, 8, delay=0), concurrency=8, rate=20)]

    assert all(isinstance(r, requestx.Response) for r in arun(main))
    starts = _get(server, f"/track-stats?group={group}")["starts"]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(gaps) == 7
    assert min(gaps) >= 0.045  # 1/20 s apart, as the server saw them (a few ms of slack)


def test_map_from_many_threads_at_once(server: Server) -> None:
    with requestx.Client() as client:

        def crawl(t: int) -> list[str]:
            urls = [f"{server.url}/track?group=threads&i={t}-{i}" for i in range(40)]
            return [r.json()["i"] for r in client.map(urls, concurrency=4)]

        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            results = list(ex.map(crawl, range(4)))
    assert results == [[f"{t}-{i}" for i in range(40)] for t in range(4)]


@pytest.fixture(scope="module")
def demo_server() -> typing.Iterator[DemoServer]:
    s = DemoServer()
    yield s
    s.close()


def test_map_pulls_a_huge_generator_lazily_with_flat_memory(demo_server: DemoServer) -> None:
    count, concurrency = 200_000, 64
    pulled = 0

    def urls() -> typing.Iterator[str]:
        nonlocal pulled
        for i in range(count):
            pulled += 1
            yield f"{demo_server.url}/item/{i}"

    limits = requestx.Limits(max_connections=None, max_keepalive_connections=concurrency)
    with requestx.Client(limits=limits) as client:
        seen = ahead = 0
        rss_start = 0
        for r in client.map(urls(), concurrency=concurrency):
            assert isinstance(r, requestx.Response) and r.status_code == 200
            seen += 1
            ahead = max(ahead, pulled - seen)
            if seen == 5_000:
                rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert seen == count
    # Pulled only as capacity frees: at most 4 * concurrency queued or running, plus one batch of
    # finished results being handed out.
    assert ahead <= 8 * concurrency
    growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_start) / 1024
    assert growth_mib < 32, growth_mib


# --- leaving early cancels ------------------------------------------------------------------------


def test_breaking_out_of_map_cancels_what_runs(server: Server) -> None:
    urls = [f"{server.url}/small", f"{server.url}/hang?id=map-break-1", f"{server.url}/hang?id=map-break-2"]
    with requestx.Client() as client:
        for result in client.map(urls, concurrency=3, ordered=False):
            assert isinstance(result, requestx.Response)
            # Both hanging requests are at the server before the loop is left (else one may be
            # cancelled before it was sent, and the server never sees it go).
            assert _started(server, "map-break-1") and _started(server, "map-break-2")
            break
    assert _disconnected(server, "map-break-1")
    assert _disconnected(server, "map-break-2")


def test_an_exception_in_the_consumer_cancels_what_runs(server: Server) -> None:
    urls = [f"{server.url}/small", f"{server.url}/hang?id=map-raise"]
    with requestx.Client() as client, pytest.raises(ZeroDivisionError):
        with contextlib.closing(client.map(urls, concurrency=2)) as results:  # type: ignore[type-var]
            for _ in results:
                assert _started(server, "map-raise")
                1 / 0  # noqa: B018
    assert _disconnected(server, "map-raise")


def test_cancelling_amap_cancels_what_runs(server: Server, arun: Runner) -> None:
    key = f"amap-cancel-{arun.name}"

    async def consume() -> None:
        async with requestx.AsyncClient() as client:
            async for _ in client.amap([f"{server.url}/hang?id={key}"] * 1):
                pass

    async def arrived() -> None:
        assert await arun.to_thread(lambda: _started(server, key))

    assert arun(lambda: arun.cancel_when(arrived, consume))
    assert _disconnected(server, key)


# --- pool.submit futures --------------------------------------------------------------------------


def test_pool_submit_returns_futures(server: Server) -> None:
    with requestx.Client() as client, client.pool(workers=6) as pool:
        futures = {pool.submit("GET", f"{server.url}/track?group=futures&i={i}"): i for i in range(40)}
        futures[pool.submit("POST", f"{server.url}/echo", content=b"hello")] = -1
        seen = set()
        for future in concurrent.futures.as_completed(futures, timeout=30):
            response = future.result()
            if futures[future] == -1:
                assert response.json()["body"] == "hello"
            else:
                seen.add(response.json()["i"])
    assert seen == {str(i) for i in range(40)}
    assert _get(server, "/track-stats?group=futures")["max"] <= 6


def test_pool_future_of_a_failed_request_holds_its_exception(server: Server) -> None:
    with requestx.Client() as client, client.pool(workers=2) as pool:
        future = pool.submit("GET", "http://127.0.0.1:1/refused")
        with pytest.raises(requestx.ConnectError):
            future.result(timeout=10)


def test_pool_exit_waits_for_outstanding_work(server: Server) -> None:
    with requestx.Client() as client:
        with client.pool(workers=4) as pool:
            futures = [pool.submit("GET", f"{server.url}/slow?delay=0.2") for _ in range(6)]
        assert all(f.done() and f.result().text == "slow" for f in futures)


def test_pool_exit_can_cancel_pending_work(server: Server) -> None:
    with requestx.Client() as client:
        with client.pool(workers=2, cancel_pending=True) as pool:
            futures = [pool.submit("GET", f"{server.url}/hang?id=pool-cancel-{i}") for i in range(2)]
            assert _started(server, "pool-cancel-0") and _started(server, "pool-cancel-1")
        assert all(f.cancelled() for f in futures)
    assert _disconnected(server, "pool-cancel-0")
    assert _disconnected(server, "pool-cancel-1")


def test_cancelling_a_future_aborts_its_request(server: Server) -> None:
    with requestx.Client() as client, client.pool(workers=2) as pool:
        future = pool.submit("GET", f"{server.url}/hang?id=future-cancel")
        assert _started(server, "future-cancel")
        assert future.cancel()
        assert _disconnected(server, "future-cancel")


def test_pool_map_and_an_interrupted_block(server: Server) -> None:
    with requestx.Client() as client:
        with client.pool(workers=3) as pool:
            results = list(pool.map([f"{server.url}/track?group=poolmap&i={i}" for i in range(10)]))
        assert [r.json()["i"] for r in results] == [str(i) for i in range(10)]
        with pytest.raises(KeyError), client.pool(workers=2) as pool:
            pool.submit("GET", f"{server.url}/hang?id=pool-raise")
            assert _started(server, "pool-raise")
            raise KeyError("boom")
    assert _disconnected(server, "pool-raise")


# --- what stays in Python: cookies, hooks, redirects, auth, transports -----------------------------


def test_map_follows_redirects_stores_cookies_and_runs_hooks(server: Server) -> None:
    seen: list[str] = []
    hooks = {"request": [lambda r: seen.append(f"req {r.url.path}")], "response": [lambda r: seen.append("resp")]}
    with requestx.Client(follow_redirects=True, event_hooks=hooks) as client:
        first = next(iter(client.map([f"{server.url}/set-cookie?name=a&value=1"])))
        assert isinstance(first, requestx.Response)
        redirected, cookies = client.map([f"{server.url}/redirect/2", f"{server.url}/cookies"], concurrency=1)
    assert isinstance(redirected, requestx.Response) and isinstance(cookies, requestx.Response)
    assert redirected.json()["path"] == "/echo"
    assert [r.status_code for r in redirected.history] == [302, 302, 302]
    assert cookies.json() == {"cookie": "a=1"}
    assert seen.count("resp") == 1 + 4 + 1
    assert "req /redirect/1" in seen


def test_map_with_auth_and_a_mock_transport(server: Server) -> None:
    def handler(request: requestx.Request) -> requestx.Response:
        return requestx.Response(200, json={"auth": request.headers.get("authorization")})

    mounts = {"http://mocked": requestx.MockTransport(handler)}
    with requestx.Client(auth=("user", "pass"), mounts=mounts) as client:
        real, mocked = client.map([f"{server.url}/echo", "http://mocked/x"])
    assert isinstance(real, requestx.Response) and isinstance(mocked, requestx.Response)
    assert ["authorization", "Basic dXNlcjpwYXNz"] in real.json()["headers"]
    assert mocked.json() == {"auth": "Basic dXNlcjpwYXNz"}


def test_amap_awaits_async_hooks(server: Server, arun: Runner) -> None:
    async def main() -> tuple[list[typing.Any], list[int]]:
        statuses: list[int] = []

        async def hook(response: requestx.Response) -> None:
            await arun.sleep(0)
            statuses.append(response.status_code)

        async with requestx.AsyncClient(event_hooks={"response": [hook]}) as client:
            results = [r async for r in client.amap([f"{server.url}/small", f"{server.url}/status/404"])]
        return results, statuses

    results, statuses = arun(main)
    assert [r.status_code for r in results] == [200, 404]
    assert sorted(statuses) == [200, 404]


def test_map_reports_a_transport_that_returns_no_response(server: Server) -> None:
    class Broken(requestx.BaseTransport):
        def handle_request(self, request: requestx.Request) -> requestx.Response:
            return "not a response"  # type: ignore[return-value]

    with requestx.Client(mounts={"http://broken": Broken()}) as client:
        broken, fine = client.map(["http://broken/x", f"{server.url}/small"])
    assert isinstance(broken, TypeError) and "must return a requestx.Response" in str(broken)
    assert isinstance(fine, requestx.Response) and fine.status_code == 200


def test_pool_submit_from_many_threads(server: Server) -> None:
    with requestx.Client() as client, client.pool(workers=8) as pool:

        def submit_all(t: int) -> list[concurrent.futures.Future[requestx.Response]]:
            return [pool.submit("GET", f"{server.url}/track?group=pool-threads&i={t}-{i}") for i in range(50)]

        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            per_thread = list(ex.map(submit_all, range(4)))
        for t, futures in enumerate(per_thread):
            assert [f.result(timeout=30).json()["i"] for f in futures] == [f"{t}-{i}" for i in range(50)]
