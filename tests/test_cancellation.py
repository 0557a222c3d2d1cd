"""Cancellation reaches the socket: the server sees the request go away, and the client lives on."""

from __future__ import annotations

import signal
import threading
import urllib.request
import uuid

import pytest

import requestx


def server_saw_disconnect(server, key: str) -> bool:
    with urllib.request.urlopen(f"{server.url}/disconnected?id={key}&wait=5", timeout=10) as r:
        return b'"disconnected": true' in r.read()


def test_cancel_aborts_request(server, arun) -> None:
    key = uuid.uuid4().hex

    async def main() -> None:
        limits = requestx.Limits(max_connections=1)
        async with requestx.AsyncClient(limits=limits, timeout=30) as c:
            cancelled = await arun.cancel_after(0.3, lambda: c.get(server.url + "/hang", params={"id": key}))
            assert cancelled
            # The pool slot came back: with max_connections=1 this would otherwise time out.
            r = await c.get(server.url + "/small", timeout=requestx.Timeout(5, pool=2))
            assert r.status_code == 200

    arun(main)
    assert server_saw_disconnect(server, key)


def test_asyncio_task_cancel(server) -> None:
    import asyncio

    key = uuid.uuid4().hex

    async def main() -> None:
        async with requestx.AsyncClient(timeout=30) as c:
            task = asyncio.ensure_future(c.get(server.url + "/hang", params={"id": key}))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (await c.get(server.url + "/small")).status_code == 200

    asyncio.run(main())
    assert server_saw_disconnect(server, key)


def test_close_aborts_in_flight(server, arun) -> None:
    key = uuid.uuid4().hex

    async def main() -> None:
        c = requestx.AsyncClient(timeout=30)
        errors: list[BaseException] = []

        async def request() -> None:
            try:
                await c.get(server.url + "/hang", params={"id": key})
            except requestx.ReadError as exc:
                errors.append(exc)

        async def closer() -> None:
            await arun.sleep(0.3)
            await c.aclose()

        await arun.gather([request, closer])
        assert len(errors) == 1 and "closed" in str(errors[0])

    arun(main)
    assert server_saw_disconnect(server, key)


def test_sync_close_from_other_thread_aborts(server) -> None:
    key = uuid.uuid4().hex
    c = requestx.Client(timeout=30)
    timer = threading.Timer(0.3, c.close)
    timer.start()
    with pytest.raises(requestx.ReadError):
        c.get(server.url + "/hang", params={"id": key})
    timer.join()
    assert server_saw_disconnect(server, key)


def _interrupt_main_after(seconds: float, signum: int = signal.SIGINT) -> threading.Timer:
    main = threading.main_thread().ident
    assert main is not None
    timer = threading.Timer(seconds, signal.pthread_kill, args=(main, signum))
    timer.start()
    return timer


def test_ctrl_c_interrupts_blocking_call(server) -> None:
    key = uuid.uuid4().hex
    with requestx.Client(timeout=30) as c:
        timer = _interrupt_main_after(0.3)
        with pytest.raises(KeyboardInterrupt):
            c.get(server.url + "/hang", params={"id": key})
        timer.join()
        assert c.get(server.url + "/small").status_code == 200
    assert server_saw_disconnect(server, key)


def test_signal_handler_exception_interrupts_blocking_call(server) -> None:
    class Stop(Exception):
        pass

    def handler(signum: int, frame: object) -> None:
        raise Stop()

    key = uuid.uuid4().hex
    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        with requestx.Client(timeout=30) as c:
            timer = _interrupt_main_after(0.3, signal.SIGUSR1)
            with pytest.raises(Stop):
                c.get(server.url + "/hang", params={"id": key})
            timer.join()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert server_saw_disconnect(server, key)


def test_ctrl_c_interrupts_streaming_read(server) -> None:
    with (
        requestx.Client(timeout=30) as c,
        c.stream("GET", server.url + "/stream", params={"chunks": 100, "delay": 1}) as r,
    ):
        timer = _interrupt_main_after(0.5)
        with pytest.raises(KeyboardInterrupt):
            for _ in r.iter_bytes():
                pass
        timer.join()


def test_garbage_collected_stream_aborts(server) -> None:
    import gc

    limits = requestx.Limits(max_connections=1)
    with requestx.Client(limits=limits, timeout=requestx.Timeout(5, pool=2)) as c:
        for _ in range(3):
            r = c.send(
                c.build_request("GET", server.url + "/stream", params={"chunks": 100, "delay": 0.5}), stream=True
            )
            assert r.status_code == 200
            del r
            gc.collect()
        assert c.get(server.url + "/small").status_code == 200


def test_cancel_many_then_reuse(server, arun) -> None:
    async def main() -> None:
        async with requestx.AsyncClient(limits=requestx.Limits(max_connections=4), timeout=30) as c:
            for _ in range(5):
                await arun.cancel_after(0.05, lambda: c.get(server.url + "/slow", params={"delay": 2}))
            results = await arun.gather([lambda: c.get(server.url + "/small") for _ in range(8)])
            assert all(r.status_code == 200 for r in results)

    arun(main)
