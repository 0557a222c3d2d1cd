"""The loop-agnostic bridge: one client across loops, threads and fork; the GIL released while
waiting; event loops kept responsive; hundreds of concurrent requests per runtime."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time

import pytest

import requestx


def test_concurrent_300(server, arun) -> None:
    async def main() -> None:
        async with requestx.AsyncClient(limits=requestx.Limits(max_connections=50), timeout=30) as c:

            def one(i: int):
                async def go() -> requestx.Response:
                    return await c.get(server.url + "/echo", params={"i": i})

                return go

            responses = await arun.gather([one(i) for i in range(300)])
            for i, r in enumerate(responses):
                assert r.status_code == 200
                assert r.json()["query"] == f"i={i}"

    arun(main)


def test_threads_share_one_sync_client(server) -> None:
    errors: list[BaseException] = []
    seen: list[str] = []
    with requestx.Client(limits=requestx.Limits(max_connections=8), timeout=30) as c:

        def worker(t: int) -> None:
            try:
                for i in range(40):
                    r = c.get(server.url + "/echo", params={"t": t, "i": i})
                    assert r.json()["query"] == f"t={t}&i={i}"
                    seen.append(r.json()["query"])
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert len(set(seen)) == 300 + 20


def test_gil_released_during_blocking_request(server) -> None:
    beats = 0
    stop = threading.Event()

    def heartbeat() -> None:
        nonlocal beats
        while not stop.is_set():
            beats += 1
            time.sleep(0.005)

    t = threading.Thread(target=heartbeat)
    t.start()
    try:
        with requestx.Client(timeout=30) as c:
            before = beats
            assert c.get(server.url + "/slow", params={"delay": 0.5}).text == "slow"
            during = beats - before
    finally:
        stop.set()
        t.join()
    assert during >= 20  # ~100 possible in 0.5 s; with the GIL held it would be 0 or 1


def test_event_loop_stays_responsive(server, arun) -> None:
    async def main() -> int:
        ticks = 0
        done = False

        async def ticker() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await arun.sleep(0.01)

        async def request() -> None:
            nonlocal done
            async with requestx.AsyncClient(timeout=30) as c:
                r = await c.get(server.url + "/slow", params={"delay": 0.5})
                assert r.text == "slow"
            done = True

        await arun.gather([ticker, request])
        return ticks

    assert arun(main) >= 15


def test_one_async_client_across_loops_and_runtimes(server) -> None:
    import trio

    client = requestx.AsyncClient(timeout=30)

    async def use() -> int:
        return (await client.get(server.url + "/small")).status_code

    assert asyncio.run(use()) == 200
    assert asyncio.run(use()) == 200  # httpx fails here: "Event loop is closed"
    assert trio.run(use) == 200
    import uvloop

    assert uvloop.run(use()) == 200

    results: list[int] = []
    errors: list[BaseException] = []

    def thread_loop() -> None:
        async def many() -> list[int]:
            return list(await asyncio.gather(*(use() for _ in range(20))))

        try:
            results.extend(asyncio.run(many()))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=thread_loop) for _ in range(4)]
    threads.append(threading.Thread(target=lambda: results.append(trio.run(use))))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results.count(200) == 81
    asyncio.run(client.aclose())


def test_sync_and_async_clients_together(server) -> None:
    sync = requestx.Client()

    async def main() -> list[int]:
        async with requestx.AsyncClient() as c:
            a = await c.get(server.url + "/small")
            b = await asyncio.to_thread(sync.get, server.url + "/small")
            return [a.status_code, b.status_code]

    assert asyncio.run(main()) == [200, 200]
    sync.close()


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_fork(server) -> None:
    parent_client = requestx.Client()
    assert parent_client.get(server.url + "/small").status_code == 200
    async_client = requestx.AsyncClient()
    assert asyncio.run(async_client.get(server.url + "/small")).status_code == 200
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            with requestx.Client() as fresh:
                assert fresh.get(server.url + "/small").status_code == 200
            assert parent_client.get(server.url + "/small").status_code == 200
            assert asyncio.run(async_client.get(server.url + "/small")).status_code == 200
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    # The parent is unaffected.
    assert parent_client.get(server.url + "/small").status_code == 200
    parent_client.close()


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_fork_inside_a_running_loop(server) -> None:
    """A child forked while a loop runs starts a loop of its own in the same thread (asyncio lets
    it: the parent's loop does not count as running there): its requests wait on that loop, not
    on the parent's, which still looks as if it ran in this thread."""
    client = requestx.AsyncClient(timeout=10)

    async def in_parent() -> int:
        assert (await client.get(server.url + "/small")).status_code == 200
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit code
            code = 1
            try:
                status = asyncio.run(client.get(server.url + "/small")).status_code
                code = 0 if status == 200 else 2
            finally:
                os._exit(code)
        return pid

    pid = asyncio.run(in_parent())
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    asyncio.run(client.aclose())


def test_a_loop_run_inside_another_waits_on_its_own_hub(server) -> None:
    """nest_asyncio lets one loop run inside a callback of another in the same thread: the outer
    loop then still shows this thread as its own (`_thread_id`), and the inner loop's requests must
    still wait on the inner loop (an outer-loop future would fail or hang there)."""

    class Reentrant(asyncio.SelectorEventLoop):
        def run_forever(self) -> None:  # replaced, as nest_asyncio replaces it
            super().run_forever()

    client = requestx.AsyncClient(timeout=10)

    async def outer() -> int:
        assert (await client.get(server.url + "/small")).status_code == 200  # the outer loop's waiter is the last one
        running = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(None)  # what nest_asyncio does to run the inner loop
        inner = asyncio.new_event_loop()
        try:
            return inner.run_until_complete(asyncio.wait_for(client.get(server.url + "/small"), 10)).status_code
        finally:
            inner.close()
            asyncio.events._set_running_loop(running)

    loop = Reentrant()
    try:
        assert loop.run_until_complete(outer()) == 200
        loop.run_until_complete(client.aclose())
    finally:
        loop.close()


def test_streaming_sync_and_async(server, arun) -> None:
    params = {"chunks": 50, "size": 100}
    with requestx.Client() as c, c.stream("GET", server.url + "/stream", params=params) as r:
        assert r.status_code == 200
        with pytest.raises(requestx.ResponseNotRead):
            _ = r.content
        lines = list(r.iter_lines())
        assert len(lines) == 50 and lines[1] == "1" * 100
        assert r.is_stream_consumed
        with pytest.raises(requestx.StreamConsumed):
            list(r.iter_bytes())

    async def main() -> None:
        async with requestx.AsyncClient() as ac, ac.stream("GET", server.url + "/stream", params=params) as r:
            total = 0
            async for chunk in r.aiter_bytes(chunk_size=64):
                assert len(chunk) <= 64
                total += len(chunk)
            assert total == 50 * 101
            assert r.num_bytes_downloaded == 50 * 101

    arun(main)


def test_stream_read_and_early_exit(server) -> None:
    with requestx.Client(limits=requestx.Limits(max_connections=1), timeout=requestx.Timeout(5, pool=2)) as c:
        with c.stream("GET", server.url + "/stream", params={"chunks": 5}) as r:
            assert r.read() == b"".join(b"%d" % i * 10 + b"\n" for i in range(5))
            assert r.text.startswith("0000000000\n")
        for _ in range(3):
            with c.stream("GET", server.url + "/stream", params={"chunks": 1000, "delay": 0.01}) as r:
                for _chunk in r.iter_bytes():
                    break
        assert c.get(server.url + "/small").status_code == 200


def test_loop_without_fd_readers_uses_a_notifier_thread(server) -> None:
    class NoReaderLoop(asyncio.SelectorEventLoop):
        def add_reader(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
            raise NotImplementedError

    async def main() -> list[int]:
        async with requestx.AsyncClient(timeout=30) as c:
            responses = await asyncio.gather(*(c.get(server.url + "/echo", params={"i": i}) for i in range(50)))
            return [r.status_code for r in responses]

    loop = NoReaderLoop()
    try:
        assert loop.run_until_complete(main()) == [200] * 50
    finally:
        loop.close()


def test_a_hold_left_behind_by_a_dead_loop_is_released(server, arun) -> None:
    """Submissions held for a loop turn that never came (the loop closed first) do not stall the
    next loop of the thread, nor a blocking call made meanwhile."""
    from requestx._requestx import hold_submissions, release_submissions

    def in_thread(fn) -> list[object]:
        out: list[object] = []
        t = threading.Thread(target=lambda: out.append(fn()))
        t.start()
        t.join(30)
        assert not t.is_alive()
        return out

    def blocking_while_held() -> int:
        hold_submissions()
        try:
            with requestx.Client(timeout=10) as c:
                return c.get(server.url + "/small").status_code  # a blocked thread is never held
        finally:
            release_submissions()

    assert in_thread(blocking_while_held) == [200]

    async def one() -> int:
        async with requestx.AsyncClient(timeout=10) as c:
            return (await c.get(server.url + "/small")).status_code

    def after_a_dead_hold() -> object:
        hold_submissions()  # as a loop that closed with its release still scheduled
        return arun(one)

    assert in_thread(after_a_dead_hold) == [200]


def test_held_submissions_all_go_out(server, arun) -> None:
    """Requests submitted in one turn while others are in flight are held and sent together:
    every one of them completes, with its own answer."""

    async def main() -> None:
        async with requestx.AsyncClient(limits=requestx.Limits(max_connections=16), timeout=30) as c:

            async def waves(i: int) -> list[str]:
                seen = []
                for j in range(20):
                    r = await c.get(server.url + "/echo", params={"k": f"{i}-{j}"})
                    seen.append(r.json()["query"])
                return seen

            results = await arun.gather([lambda i=i: waves(i) for i in range(16)])
            for i, seen in enumerate(results):
                assert seen == [f"k={i}-{j}" for j in range(20)]

    arun(main)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open fds through /proc")
@pytest.mark.parametrize("runner", ["asyncio", "uvloop", "trio"])
def test_a_loop_that_ends_leaves_no_hub_or_loop_behind(server, runner) -> None:
    # A job runner or pytest-asyncio runs a fresh loop per job: each used to keep its loop and the
    # hub's eventfd for good (the waiter, a weak dict's value, held its own loop).
    import gc

    if runner == "trio":
        trio = pytest.importorskip("trio")

        def run(fn):
            return trio.run(fn)
    else:
        loop_run = asyncio.run if runner == "asyncio" else pytest.importorskip("uvloop").run

        def run(fn):
            return loop_run(fn())

    client = requestx.AsyncClient()

    async def job() -> int:
        return (await client.get(server.url + "/echo")).status_code

    async def close() -> None:
        await client.aclose()

    def live_loops() -> int:
        gc.collect()
        return sum(isinstance(o, asyncio.AbstractEventLoop) for o in gc.get_objects())

    assert run(job) == 200  # the first run's one-off costs (the engine, the client's pool)
    loops = live_loops()
    fds = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        assert run(job) == 200
    assert live_loops() - loops <= 1
    assert len(os.listdir("/proc/self/fd")) - fds <= 2
    run(close)
