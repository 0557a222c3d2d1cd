"""Cancellation reaches the socket: the server sees the request go away, and the client lives on.

Nothing here waits for a while and hopes: a request is cancelled (closed, interrupted) once the server
reports it arrived (`/started`), and the server reports when it saw the client go (`/disconnected`).
"""

from __future__ import annotations

import signal
import threading
import typing
import urllib.request
import uuid

import pytest

import requestx


def server_saw_disconnect(server, key: str) -> bool:
    with urllib.request.urlopen(f"{server.url}/disconnected?id={key}&wait=5", timeout=10) as r:
        return b'"disconnected": true' in r.read()


def server_saw_request(server, key: str) -> bool:
    """Waits (bounded) until `/hang?id=key` has reached the server's handler."""
    with urllib.request.urlopen(f"{server.url}/started?id={key}&wait=5", timeout=10) as r:
        return b'"started": true' in r.read()


async def arrived(server, key: str, arun) -> None:
    """`server_saw_request` from async code (in a worker thread), asserting that it did."""
    assert await arun.to_thread(lambda: server_saw_request(server, key))


def test_cancel_aborts_request(server, arun) -> None:
    key = uuid.uuid4().hex

    async def main() -> None:
        limits = requestx.Limits(max_connections=1)
        async with requestx.AsyncClient(limits=limits, timeout=30) as c:
            assert await arun.cancel_when(
                lambda: arrived(server, key, arun), lambda: c.get(server.url + "/hang", params={"id": key})
            )
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
            assert await asyncio.to_thread(server_saw_request, server, key)
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
            await arrived(server, key, arun)
            await c.aclose()

        await arun.gather([request, closer])
        assert len(errors) == 1 and "closed" in str(errors[0])

    arun(main)
    assert server_saw_disconnect(server, key)


def _in_thread_once(ready: typing.Callable[[], bool], action: typing.Callable[[], None]) -> threading.Thread:
    """Starts a thread that runs `action()` once `ready()` returned True (and never if not)."""

    def run() -> None:
        if ready():
            action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _interrupt_main_once(ready: typing.Callable[[], bool], signum: int = signal.SIGINT) -> threading.Thread:
    main = threading.main_thread().ident
    assert main is not None
    return _in_thread_once(ready, lambda: signal.pthread_kill(main, signum))


def test_sync_close_from_other_thread_aborts(server) -> None:
    key = uuid.uuid4().hex
    c = requestx.Client(timeout=30)
    closer = _in_thread_once(lambda: server_saw_request(server, key), c.close)
    with pytest.raises(requestx.ReadError):
        c.get(server.url + "/hang", params={"id": key})
    closer.join()
    assert server_saw_disconnect(server, key)


def test_ctrl_c_interrupts_blocking_call(server) -> None:
    key = uuid.uuid4().hex
    with requestx.Client(timeout=30) as c:
        interrupter = _interrupt_main_once(lambda: server_saw_request(server, key))
        with pytest.raises(KeyboardInterrupt):
            c.get(server.url + "/hang", params={"id": key})
        interrupter.join()
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
            interrupter = _interrupt_main_once(lambda: server_saw_request(server, key), signal.SIGUSR1)
            with pytest.raises(Stop):
                c.get(server.url + "/hang", params={"id": key})
            interrupter.join()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert server_saw_disconnect(server, key)


def test_ctrl_c_interrupts_streaming_read(server) -> None:
    """/gate sends a first chunk and holds the rest (10 s, or until /open): the interrupt must end the
    read that waits for it, not wait for the server."""
    key = uuid.uuid4().hex
    reading = threading.Event()
    interrupter = _interrupt_main_once(lambda: reading.wait(10))
    rest: list[bytes] = []
    try:
        with (
            requestx.Client(timeout=30) as c,
            c.stream("GET", server.url + "/gate", params={"id": key}) as r,
        ):
            chunks = r.iter_bytes()
            assert next(chunks) == b"first\n"
            with pytest.raises(KeyboardInterrupt):
                reading.set()
                rest.extend(chunks)
    finally:
        reading.set()
        interrupter.join()
        urllib.request.urlopen(f"{server.url}/open?id={key}", timeout=10).close()
    assert rest == []


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


def test_closing_a_blocking_stream_mid_body_closes_its_connection(server) -> None:
    """A lone thread drives its blocking client's requests and streams itself (src/bridge/driver.rs):
    the aborted transfer must be dropped by `close()`, not by whatever the thread drives next."""
    key = uuid.uuid4().hex
    c = requestx.Client(timeout=30)
    with c.stream("GET", server.url + "/firehose", params={"id": key, "total": 1 << 30}) as r:
        assert next(r.iter_raw())
    assert server_saw_disconnect(server, key)  # before the client does anything else
    assert c.get(server.url + "/small").status_code == 200
    c.close()


def test_a_thread_blocked_on_a_stream_does_not_hold_up_the_clients_other_requests(server) -> None:
    key = uuid.uuid4().hex
    got: list[bytes] = []
    with requestx.Client(timeout=30) as c, c.stream("GET", server.url + "/gate", params={"id": key}) as r:
        chunks = r.iter_bytes()
        assert next(chunks) == b"first\n"
        reader = threading.Thread(target=lambda: got.extend(chunks))  # blocks until the gate opens
        reader.start()
        try:
            assert all(c.get(server.url + "/small").status_code == 200 for _ in range(20))
        finally:
            assert c.get(server.url + "/open", params={"id": key}).text == "opened"
            reader.join(10)
    assert got == [b"rest\n"]


def test_cancel_many_then_reuse(server, arun) -> None:
    async def main() -> None:
        async with requestx.AsyncClient(limits=requestx.Limits(max_connections=4), timeout=30) as c:
            for _ in range(5):
                await arun.cancel_after(0.05, lambda: c.get(server.url + "/slow", params={"delay": 2}))
            results = await arun.gather([lambda: c.get(server.url + "/small") for _ in range(8)])
            assert all(r.status_code == 200 for r in results)

    arun(main)
