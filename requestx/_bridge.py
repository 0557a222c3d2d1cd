"""Waiting for the engine from any runtime: asyncio and uvloop, trio (and anyio on either), threads.

The engine completes an operation on a tokio thread and pushes its id onto the `Hub` of the loop
that waits for it; the hub's eventfd wakes that loop once per batch. Each loop (or trio run) has
one hub, made on first use, so one client serves any number of loops and threads at once.
Threads do not come here: they block in Rust with the GIL released (`ClientCore.send`).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import typing
import weakref

from ._requestx import Hub, Op, hold_submissions, release_submissions

__all__ = ["current_hub", "current_library", "next_of", "wait", "wait_op"]


def current_library() -> str:
    """'trio' or 'asyncio', detected as sniffio does (trio sets sniffio's thread-local)."""
    sniffio = sys.modules.get("sniffio")
    if sniffio is not None:
        name = sniffio.thread_local.name or sniffio.current_async_library_cvar.get()
        if name:
            return typing.cast(str, name)
    return "asyncio"


class _Waiter(typing.Protocol):
    hub: Hub
    pending: dict[int, typing.Any]

    def hold_if_busy(self) -> None: ...

    async def wait(self, op: Op) -> typing.Any: ...


_STOCK_RUN_FOREVER = asyncio.BaseEventLoop.run_forever


def _current_waiter() -> _Waiter:
    if current_library() == "trio":
        return _trio_waiter()
    # NOTE: `asyncio.get_running_loop()` makes a getpid() system call on every call (CPython 3.11
    # checks for a fork): once per request. An asyncio loop whose `_thread_id` is this thread's
    # runs here (a thread runs one loop at a time), so the last waiter's loop is the running one
    # when that holds (`_last` is dropped in a forked child). Only for asyncio's own
    # `run_forever`: one replaced to run loops inside each other (nest_asyncio's) leaves the outer
    # loop showing this thread while the inner one runs. uvloop's loops take the general path
    # too. 550 -> ~270 ns per call.
    last = _last
    if last is not None:
        loop: typing.Any = last[0]()
        if (
            loop is not None
            and type(loop).run_forever is _STOCK_RUN_FOREVER
            and loop._thread_id == threading.get_ident()
        ):
            return last[1]
    return _asyncio_waiter(asyncio.get_running_loop())


def current_hub() -> Hub:
    """The hub of the running loop: pass it to the engine, then `await wait_op(op)`."""
    return _current_waiter().hub


async def wait(submit: typing.Callable[..., Op], *args: typing.Any) -> typing.Any:
    """Runs `submit(hub, *args)` and waits for the Op it returns; cancelling the caller aborts it."""
    waiter = _current_waiter()
    waiter.hold_if_busy()
    return await waiter.wait(submit(waiter.hub, *args))


async def next_of(source: typing.Any) -> typing.Any:
    """The next item of an engine source with `next_nowait()` (None: nothing ready yet) and
    `wait_next(hub)` (an Op that completes once `next_nowait` has something)."""
    item = source.next_nowait()
    while item is None:
        await wait(source.wait_next)
        item = source.next_nowait()
    return item


async def wait_op(op: Op) -> typing.Any:
    """Waits for an Op submitted with `current_hub()` earlier in this task."""
    return await _current_waiter().wait(op)


# --- asyncio and uvloop -----------------------------------------------------------------------


class _AsyncioWaiter:
    __slots__ = ("__weakref__", "_drained", "_ready", "holding", "hub", "loop", "pending")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        release_submissions()  # a hold an earlier loop of this thread left behind
        self.hub = Hub()
        # Weakly: the loop holds this waiter (its fd reader, `_loop_waiters`), so a strong reference
        # back kept every loop that ever used requestx alive, with the hub's eventfd open.
        self.loop = weakref.ref(loop, _forget)
        self.pending: dict[int, asyncio.Future[None]] = {}
        self.holding = False
        # asyncio's queue of ready callbacks (uvloop shows none: its loops only hold with
        # requests in flight).
        self._ready: typing.Any = getattr(loop, "_ready", None)
        self._drained: threading.Event | None = None
        try:
            loop.add_reader(self.hub.fileno(), self._on_ready)
        except NotImplementedError:
            # Loops that cannot watch a file descriptor (Windows' proactor, some embedded loops):
            # one notifier thread per loop waits on the hub and hands each batch to the loop.
            self._drained = threading.Event()
            threading.Thread(target=self._notify, name="requestx-notifier", daemon=True).start()

    def hold_if_busy(self) -> None:
        """With requests in flight or other callbacks ready, new requests wait for the end of this
        loop iteration and go to the engine together: one wake-up of the runtime for the lot, not
        one each. A lone request goes at once (and may spin for its answer, see `wait`)."""
        if not self.holding and (self.pending or self._ready):
            self.holding = True
            hold_submissions()
            typing.cast(asyncio.AbstractEventLoop, self.loop()).call_soon(self._release)

    def _release(self) -> None:
        self.holding = False
        release_submissions()

    def _on_ready(self) -> None:
        pending = self.pending
        for op_id in self.hub.drain():
            future = pending.pop(op_id, None)
            if future is not None and not future.done():
                future.set_result(None)
        if self._drained is not None:
            self._drained.set()

    def _notify(self) -> None:
        drained = typing.cast(threading.Event, self._drained)
        while _is_open(self.loop()):
            if not self.hub.wait(100):
                continue
            drained.clear()
            try:
                typing.cast(asyncio.AbstractEventLoop, self.loop()).call_soon_threadsafe(self._on_ready)
            except (RuntimeError, AttributeError):  # the loop closed (or went) meanwhile
                return
            # One wake-up per batch: wait for the loop to drain before watching the fd again.
            while not drained.wait(0.1):
                if not _is_open(self.loop()):
                    return

    async def wait(self, op: Op) -> typing.Any:
        # NOTE: an idle loop (no other callbacks ready, no other request of ours in flight) would
        # only sleep in select() and pay a wake-up; yielding the CPU for up to 150 µs first lets a
        # loopback response land without one. seq_async: ~11,000 -> ~17,500 req/s locally. uvloop does not show
        # its ready queue, so it always takes the plain path.
        ready = self._ready
        if not op.done and not self.pending and ready is not None and not ready and op.spin(150):
            return op.take()
        if not op.done:
            future = typing.cast(asyncio.AbstractEventLoop, self.loop()).create_future()
            self.pending[op.id] = future
            try:
                await future
            except BaseException:
                # CancelledError (task cancel, wait_for, timeout): abort the Rust task, re-raise.
                op.cancel()
                self.pending.pop(op.id, None)
                raise
        return op.take()


_loop_waiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _AsyncioWaiter] = weakref.WeakKeyDictionary()


def _is_open(loop: asyncio.AbstractEventLoop | None) -> bool:
    return loop is not None and not loop.is_closed()


def _forget(loop_ref: weakref.ref[asyncio.AbstractEventLoop]) -> None:
    """A loop is gone: the cached waiter of it goes too, and with it the hub's fd."""
    global _last
    last = _last
    if last is not None and last[0] is loop_ref:
        _last = None


def _after_fork() -> None:
    """A forked child: the loop that ran in the forking thread does not run there."""
    global _last
    _last = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)

_lock = threading.Lock()
# The waiter used last (by any thread) and a weak reference to its loop.
_last: tuple[weakref.ref[asyncio.AbstractEventLoop], _AsyncioWaiter] | None = None


def _asyncio_waiter(loop: asyncio.AbstractEventLoop) -> _AsyncioWaiter:
    # NOTE: caching the last (loop, waiter) saves the weak-dict lookup on every request.
    global _last
    last = _last
    if last is not None and last[0]() is loop:
        return last[1]
    with _lock:
        waiter = _loop_waiters.get(loop)
        if waiter is None:
            waiter = _loop_waiters[loop] = _AsyncioWaiter(loop)
    _last = (waiter.loop, waiter)
    return waiter


# --- trio (and anyio's trio backend) ----------------------------------------------------------


class _TrioWaiter:
    __slots__ = ("holding", "hub", "pending", "token")

    def __init__(self) -> None:
        import trio

        release_submissions()  # a hold an earlier loop of this thread left behind
        self.hub = Hub()
        self.pending: dict[int, typing.Any] = {}
        self.holding = False
        self.token = trio.lowlevel.current_trio_token()

    def hold_if_busy(self) -> None:
        """As `_AsyncioWaiter.hold_if_busy` (with requests in flight): until trio's next turn."""
        if not self.holding and self.pending:
            self.holding = True
            hold_submissions()
            self.token.run_sync_soon(self._release)

    def _release(self) -> None:
        self.holding = False
        release_submissions()

    async def pump(self) -> None:
        import trio

        reschedule = trio.lowlevel.reschedule
        fd = self.hub.fileno()
        while True:
            await trio.lowlevel.wait_readable(fd)
            pending = self.pending
            for op_id in self.hub.drain():
                task = pending.pop(op_id, None)
                if task is not None:
                    reschedule(task)

    async def wait(self, op: Op) -> typing.Any:
        lowlevel = _trio_lowlevel
        if op.done:
            await lowlevel.checkpoint()
            return op.take()
        self.pending[op.id] = lowlevel.current_task()

        def abort(_raise_cancel: typing.Any) -> typing.Any:  # a trio.lowlevel.Abort
            # The cancel wins only if it beats the completion in the slot's compare-and-swap;
            # otherwise the completion is already queued and the pump reschedules this task.
            if op.cancel():
                self.pending.pop(op.id, None)
                return lowlevel.Abort.SUCCEEDED
            return lowlevel.Abort.FAILED

        await lowlevel.wait_task_rescheduled(abort)
        return op.take()


# trio.lowlevel and the RunVar holding each trio run's waiter, set on first use.
# NOTE: looked up per request, `import trio` and `typing.cast` were ~140 ns of the lookup.
_trio_lowlevel: typing.Any = None
_trio_run_var: typing.Any = None


def _trio_waiter() -> _TrioWaiter:
    run_var = _trio_run_var
    if run_var is not None:
        try:
            waiter: _TrioWaiter = run_var.get()
            return waiter
        except LookupError:
            pass
    return _new_trio_waiter()


def _new_trio_waiter() -> _TrioWaiter:
    """A waiter for this trio run, which has none yet (`_trio_waiter` looked), and the system task
    that pumps its hub."""
    global _trio_lowlevel, _trio_run_var
    import trio

    _trio_lowlevel = trio.lowlevel
    if _trio_run_var is None:
        _trio_run_var = trio.lowlevel.RunVar("requestx_waiter")
    waiter = _TrioWaiter()
    _trio_run_var.set(waiter)
    trio.lowlevel.spawn_system_task(waiter.pump, name="requestx-hub")
    return waiter
