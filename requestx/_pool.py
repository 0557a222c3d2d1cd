"""The worker pool: `Client.map`, `AsyncClient.amap` and `Client.pool`.

Requests run as tokio tasks behind one `Batch` (bounded concurrency, per-host places and rate,
retries, all in Rust); Python hands them over in batches and collects what finished in one call
per wake-up. What must stay in Python (cookies, hooks, auth flows, redirects, custom transports)
is the clients' own request flow (`_flow.request_flow`), driven here with the engine's sends
queued into the batch: the sync consumers drive it with `drive`, the async ones with `adrive`.

The input is pulled only while fewer than `4 * concurrency` requests are in flight or waiting to
be yielded in order, so a generator of millions of URLs maps in bounded memory.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
import typing

from . import _bridge
from ._config import USE_CLIENT_DEFAULT, UseClientDefault
from ._engine import Outgoing, outgoing
from ._exceptions import OperationCancelled
from ._flow import QUEUED, Flow, adrive, attach_request, drive, request_flow
from ._models import Request, RequestParts, Response
from ._requestx import Batch, Op, Retry
from ._status_codes import REDIRECT_CODES
from ._urls import URL

if typing.TYPE_CHECKING:
    from ._client import Client, _BaseClient

__all__ = ["Pool", "Run"]

MapItem = typing.Union[Request, URL, str]
Result = typing.Union[Response, Exception]


class _Flight:
    """One input on its way: its request flow, and the request now in the engine."""

    __slots__ = ("flow", "index", "outbox", "request", "started")

    def __init__(self, index: int, request: Request | RequestParts, outbox: list[_Flight]) -> None:
        self.index = index  # its position in the input, and its key in the engine's batch
        self.request = request
        self.outbox = outbox
        self.started = 0.0
        #: The request's flow (`request_flow`) while it has hooks, auth or redirects to run;
        #: None for a plain request, which goes out as its parts and needs no step.
        self.flow: Flow | None = None

    def queue(self, request: Request, stream: bool) -> typing.Any:
        """The pool's engine send: the request waits in the outbox for the next `flush`."""
        body = request._body()
        if body is not None and not isinstance(body, bytes):
            raise TypeError("map() sends bodies given as bytes; read a streamed body into bytes first")
        self.request = request
        self.outbox.append(self)
        return QUEUED


class Run:
    """The requests of one `map`, `amap` or `pool`, each driven through the request flow: a
    flow's engine sends are queued into one batch and resumed when the batch hands them back."""

    def __init__(
        self,
        client: _BaseClient,
        concurrency: int,
        *,
        per_host: int | None,
        rate: float | None,
        retries: int | Retry | UseClientDefault | None,
        follow_redirects: bool | UseClientDefault,
        is_async: bool,
    ) -> None:
        client._check_open()
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive int, not {concurrency!r}")
        if per_host is not None and (not isinstance(per_host, int) or per_host < 1):
            raise ValueError(f"per_host must be a positive int or None, not {per_host!r}")
        self.client = client
        self.is_async = is_async
        # A request's own `retries` (its extension) wins over the map's, which wins over the client's.
        self.retry = client._retry if isinstance(retries, UseClientDefault) else client._retry_arg(retries)
        self.batch = Batch(client._core, concurrency, per_host=per_host, rate=rate)
        self.window = 4 * concurrency
        self.follow = client._follow(follow_redirects)
        self.flights: dict[int, _Flight] = {}
        self.outbox: list[_Flight] = []
        self.done: list[tuple[int, Result]] = []
        self.next_index = 0
        self._parked: dict[int, Result] = {}
        self._next_out = 0

    # --- starting requests ----------------------------------------------------------------------

    def has_room(self) -> bool:
        return len(self.flights) + len(self._parked) < self.window

    def start(self, item: MapItem) -> _Flight | None:
        """Takes the next input. Returns the flight whose flow is still to run (`advance`), or
        None when it is queued (the common case: a URL for a client with no hooks, auth or
        cookies) or already failed."""
        index = self.next_index
        self.next_index += 1
        client = self.client
        try:
            if isinstance(item, (str, URL)):
                if client._plain and not client._cookies.jar._cookies:  # type: ignore[attr-defined]
                    # The URL stays a string: `response.request` builds the URL object if asked.
                    parts = ("GET", item, client._headers._list, {"timeout": client._timeout_dict})
                    flight = _Flight(index, parts, self.outbox)
                    self.flights[index] = flight
                    self.outbox.append(flight)
                    return None
                request = client.build_request("GET", item)
            elif isinstance(item, Request):
                request = item
            else:
                raise TypeError(f"map() takes Request objects or URLs, not {type(item).__name__}")
        except Exception as exc:
            self.done.append((index, exc))
            return None
        flight = _Flight(index, request, self.outbox)
        self.flights[index] = flight
        flight.flow = request_flow(client, request, client._auth, self.follow, self.is_async)
        return flight

    def flush(self) -> None:
        """Hands every queued request to the engine in one call."""
        if not self.outbox:
            return
        client = self.client
        timeouts = client._timeout._tuple
        started = time.perf_counter()
        retry = self.retry
        items: list[tuple[int, Outgoing]] = []
        for flight in self.outbox:
            flight.started = started
            request = flight.request
            if type(request) is tuple:
                items.append(
                    (flight.index, outgoing(request[0], str(request[1]), request[2], None, timeouts, False, retry))
                )
            else:
                assert isinstance(request, Request)
                items.append((flight.index, client._outgoing(request, False, retry)))
        self.outbox.clear()  # in place: each flight queues into this list
        for key, exc in self.batch.submit(items):
            self._fail(self.flights[key], typing.cast(Exception, exc))

    # --- receiving responses --------------------------------------------------------------------

    def received(self) -> list[tuple[_Flight, Response | None]]:
        """Takes what the engine finished; returns the flights whose flow is to be resumed with
        their response (hooks, auth, redirects...)."""
        steps: list[tuple[_Flight, Response | None]] = []
        client = self.client
        for key, raw in self.batch.take_nowait():
            flight = self.flights.get(key)
            if flight is None:
                continue  # cancelled meanwhile
            if isinstance(raw, BaseException):
                self._fail(flight, typing.cast(Exception, raw))
                continue
            if flight.flow is not None:  # the flow stores the cookies and runs the hooks
                steps.append(
                    (flight, Response._from_engine(raw, flight.request, client.default_encoding, flight.started))
                )
                continue
            response = client._plain_response(raw, typing.cast(RequestParts, flight.request), flight.started)
            if response.status_code not in REDIRECT_CODES:
                self._settle(flight, response)  # the common case needs no step
                continue
            flight.flow = client._redirect_flow(response, self.is_async, self.follow)
            steps.append((flight, None))  # the flow starts from the response it was given
        return steps

    def advance(self, flight: _Flight, response: Response | None = None) -> None:
        """Runs a flight's flow (from a thread) until it ends or queues its next request."""
        try:
            self._finished(flight, drive(typing.cast(Flow, flight.flow), self.client, flight.queue, False, response))
        except Exception as exc:
            self._fail(flight, exc)

    async def aadvance(self, flight: _Flight, response: Response | None = None) -> None:
        """`advance` for an async consumer: what the flow asks for is awaited."""
        try:
            self._finished(
                flight, await adrive(typing.cast(Flow, flight.flow), self.client, flight.queue, False, response)
            )
        except Exception as exc:
            self._fail(flight, exc)

    def _finished(self, flight: _Flight, outcome: typing.Any) -> None:
        if outcome is not QUEUED:
            self._settle(flight, outcome)

    def _fail(self, flight: _Flight, exc: Exception) -> None:
        attach_request(exc, flight.request)
        self._settle(flight, exc)

    def _settle(self, flight: _Flight, result: Result) -> None:
        del self.flights[flight.index]
        self.done.append((flight.index, result))

    # --- handing results out --------------------------------------------------------------------

    def in_order(self, done: list[tuple[int, Result]]) -> list[Result]:
        """The results that may be yielded in input order now that `done` finished."""
        parked = self._parked
        for index, result in done:
            parked[index] = result
        out = []
        while self._next_out in parked:
            out.append(parked.pop(self._next_out))
            self._next_out += 1
        return out

    def cancel(self, index: int) -> None:
        self.flights.pop(index, None)
        self.batch.cancel(index)

    # --- the sync and async consumers -----------------------------------------------------------

    def iterate(self, items: typing.Iterable[MapItem], ordered: bool) -> typing.Iterator[Result]:
        for done in self.batches(items):
            if ordered:
                yield from self.in_order(done)
            else:
                for _, result in done:
                    yield result

    def batches(self, items: typing.Iterable[MapItem]) -> typing.Generator[list[tuple[int, Result]], None, None]:
        """(input position, result) pairs as they finish, a batch at a time; the input is pulled
        while there is room. Closing it (or an exception in the consumer) cancels what runs."""
        source = iter(items)
        exhausted = False
        try:
            while True:
                while not exhausted and self.has_room():
                    flight = self.take(next(source, _END))
                    exhausted = flight is _END
                    if isinstance(flight, _Flight):
                        self.advance(flight)
                turn = self.turn(exhausted)
                if turn is _WAIT:
                    self.batch.wait_take().wait()
                    for flight, response in self.received():
                        self.advance(flight, response)
                elif turn is _END:
                    return
                elif turn:
                    yield turn
        finally:
            self.batch.cancel_all()

    async def aiterate(
        self, items: typing.Iterable[MapItem] | typing.AsyncIterable[MapItem], ordered: bool
    ) -> typing.AsyncIterator[Result]:
        async for done in self.abatches(items):
            if ordered:
                for result in self.in_order(done):
                    yield result
            else:
                for _, result in done:
                    yield result

    async def abatches(
        self, items: typing.Iterable[MapItem] | typing.AsyncIterable[MapItem]
    ) -> typing.AsyncIterator[list[tuple[int, Result]]]:
        """`batches` for asyncio, uvloop, trio and anyio; `items` may be an async iterable."""
        if hasattr(items, "__aiter__"):
            async_source = typing.cast(typing.AsyncIterable[MapItem], items).__aiter__()
            sync_source = None
        else:
            sync_source = iter(items)
        exhausted = False
        try:
            while True:
                while not exhausted and self.has_room():
                    item = next(sync_source, _END) if sync_source is not None else await anext(async_source, _END)
                    flight = self.take(item)
                    exhausted = flight is _END
                    if isinstance(flight, _Flight):
                        await self.aadvance(flight)
                turn = self.turn(exhausted)
                if turn is _WAIT:
                    await _bridge.wait_op(self.batch.wait_take(_bridge.current_hub()))
                    for flight, response in self.received():
                        await self.aadvance(flight, response)
                elif turn is _END:
                    return
                elif turn:
                    yield turn
        finally:
            self.batch.cancel_all()

    def take(self, item: typing.Any) -> typing.Any:
        """The input `item` (or `_END` when the input ran out) started: `start`'s flight, None, or `_END`."""
        return _END if item is _END else self.start(typing.cast(MapItem, item))

    def turn(self, exhausted: bool) -> typing.Any:
        """After pulling input: hands the queue to the engine, then says what the consumer does
        next: a batch of (position, result) to hand out, `_WAIT` for the engine, `_END` when all
        is done, or an empty list to pull again."""
        self.flush()
        if self.done:
            done, self.done = self.done, []
            return done
        if self.flights:
            return _WAIT
        return _END if exhausted else []


_END = object()
_WAIT = object()


class Pool:
    """`with client.pool(workers=64) as pool:` — `pool.submit(...)` returns a
    `concurrent.futures.Future`; a collector thread completes them as responses land.

    On exit it waits for the outstanding work, or with `cancel_pending=True` cancels it."""

    def __init__(
        self,
        client: Client,
        workers: int,
        *,
        per_host: int | None = None,
        rate: float | None = None,
        retries: int | Retry | UseClientDefault | None = USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = USE_CLIENT_DEFAULT,
        cancel_pending: bool = False,
    ) -> None:
        self._run = Run(
            client,
            workers,
            per_host=per_host,
            rate=rate,
            retries=retries,
            follow_redirects=follow_redirects,
            is_async=False,
        )
        self._client = client
        self.workers = workers
        self.cancel_pending = cancel_pending
        self._futures: dict[int, concurrent.futures.Future[Response]] = {}
        self._lock = threading.Condition()
        self._closing = False
        self._bell: Op | None = None
        self._collector: threading.Thread | None = None

    def submit(self, method: str, url: URL | str, **kwargs: typing.Any) -> concurrent.futures.Future[Response]:
        """Sends one request (the arguments of `Client.build_request`, and `retries`) and returns
        its future."""
        if not kwargs and method.upper() == "GET":
            return self._submit(url)
        return self._submit(self._client._build_with_retries(method, url, kwargs))

    def _submit(self, item: MapItem) -> concurrent.futures.Future[Response]:
        if self._closing:
            raise RuntimeError("cannot submit to a pool that is shutting down")
        run = self._run
        with self._lock:  # the index and the future are taken together (submit is thread-safe)
            future = _PoolFuture(self, run.next_index)
            self._futures[run.next_index] = future
            flight = run.start(item)
            if flight is not None:
                run.advance(flight)
            # NOTE: with every worker busy a new request could only queue in the engine, so it
            # waits in the outbox and the collector hands the queue over after its next burst of
            # results, in one call: one engine call per submit held pool.submit to ~27k req/s.
            if len(run.flights) - len(run.outbox) < self.workers:
                run.flush()
            self._deliver()
            if len(run.flights) == 1:
                self._lock.notify_all()  # the collector may be waiting for work
            if self._collector is None:
                self._collector = threading.Thread(target=self._collect, name="requestx-pool", daemon=True)
                self._collector.start()
        return future

    def map(self, requests: typing.Iterable[MapItem], *, ordered: bool = True) -> typing.Iterator[Result]:
        """Sends each request through the pool; yields responses (or the exception raised) per input,
        in input order or (`ordered=False`) as they complete. The input is pulled as capacity frees."""
        window: list[concurrent.futures.Future[Response]] = []
        source = iter(requests)
        pending: set[concurrent.futures.Future[Response]] = set()
        try:
            for item in source:
                future = self._submit(item)
                window.append(future)
                pending.add(future)
                while len(pending) >= self._run.window:
                    yield from self._drain(window, pending, ordered, block=True)
                yield from self._drain(window, pending, ordered, block=False)
            while pending:
                yield from self._drain(window, pending, ordered, block=True)
        finally:
            for future in pending:
                future.cancel()

    @staticmethod
    def _drain(
        window: list[concurrent.futures.Future[Response]],
        pending: set[concurrent.futures.Future[Response]],
        ordered: bool,
        block: bool,
    ) -> typing.Iterator[Result]:
        if ordered:
            while window and (window[0].done() or block):
                future = window.pop(0)
                pending.discard(future)
                yield _outcome(future)
                block = False
            return
        done, _ = concurrent.futures.wait(
            pending, timeout=None if block else 0, return_when=concurrent.futures.FIRST_COMPLETED
        )
        for future in done:
            pending.discard(future)
            window.remove(future)
            yield _outcome(future)

    def _cancelled(self, index: int) -> None:
        """A future cancelled by its owner aborts its request."""
        with self._lock:
            if self._futures.pop(index, None) is not None:
                self._run.cancel(index)
            self._release_collector()

    def _release_collector(self) -> None:
        """With nothing left running, the collector's doorbell would never ring: cancel it."""
        self._run.flush()  # what waited for a worker may go now
        if not self._run.flights and self._bell is not None:
            self._bell.cancel()

    def _deliver(self) -> None:
        """Completes the futures of finished requests (called with the lock held)."""
        for index, result in self._run.done:
            future = self._futures.pop(index, None)
            if future is None or not future.set_running_or_notify_cancel():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
        self._run.done = []

    def _collect(self) -> None:
        run = self._run
        while True:
            with self._lock:
                while not run.flights and not self._closing:
                    self._lock.wait()
                if not run.flights:
                    return
                self._bell = bell = run.batch.wait_take()
            try:
                bell.wait()
            except OperationCancelled:
                pass  # the bell was cancelled: the pool is shutting down
            with self._lock:
                self._bell = None
                for flight, response in run.received():
                    run.advance(flight, response)
                run.flush()
                self._deliver()

    def shutdown(self, wait: bool = True, *, cancel_pending: bool = False) -> None:
        """Stops taking work; waits for what is outstanding, or cancels it."""
        with self._lock:
            self._closing = True
            if cancel_pending:
                self._run.batch.cancel_all()
                futures, self._futures = list(self._futures.values()), {}
                for future in futures:
                    future.cancel()
                self._run.flights.clear()
                self._run.outbox.clear()
            self._release_collector()
            self._lock.notify_all()
        if wait and self._collector is not None:
            self._collector.join()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, exc_type: object, *args: object) -> None:
        # An exception in the block (Ctrl-C included) never leaves requests running.
        self.shutdown(cancel_pending=self.cancel_pending or exc_type is not None)


class _PoolFuture(concurrent.futures.Future):  # type: ignore[type-arg]
    """A `concurrent.futures.Future` whose `cancel()` also aborts its request.
    NOTE: overriding `cancel` instead of adding a done-callback to every future saved ~15% of
    `pool.submit`'s cost (the futures' own locking dominates it)."""

    def __init__(self, pool: Pool, index: int) -> None:
        super().__init__()
        self._pool = pool
        self._index = index

    def cancel(self) -> bool:
        cancelled = super().cancel()
        if cancelled:
            self._pool._cancelled(self._index)
        return cancelled


def _outcome(future: concurrent.futures.Future[Response]) -> Result:
    if future.cancelled():
        return concurrent.futures.CancelledError()
    exc = future.exception()
    return typing.cast(Exception, exc) if exc is not None else future.result()
