"""The thin Dask adapter: the only module that knows Dask. The driver asks an engine for
`slots` (task slots across the cluster), `submit(key, fn, *args)`, `wait()` (the outcomes of at
least one finished task), `stop()` (ask running tasks to stop, cancel the rest) and `close()`;
another engine (Ray) would implement the same five.

Dask distributed is an optional extra (`pip install requestx[dask]`): it is imported here, on use.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import threading
import time
import typing
import uuid

from .output import CrawlError

__all__ = ["DaskEngine", "Outcome"]


class Outcome(typing.NamedTuple):
    key: str
    value: typing.Any  # the task's return value when `error` is None
    error: BaseException | None


def _distributed() -> typing.Any:
    """The `distributed` module (typed as Any: the adapter is the only place it is used)."""
    try:
        return importlib.import_module("distributed")
    except ImportError as exc:
        raise CrawlError("a distributed crawl needs Dask distributed: pip install 'requestx[dask]'") from exc


def parse_local(scheduler: str) -> int | None:
    """`local` -> the machine's CPU count, `local:N` -> N; None for anything else."""
    if scheduler == "local":
        return os.cpu_count() or 1
    if scheduler.startswith("local:"):
        try:
            n = int(scheduler[6:])
        except ValueError:
            n = 0
        if n < 1:
            raise CrawlError(f"--dask local:N takes a positive number of workers, not {scheduler[6:]!r}")
        return n
    return None


# What a LocalCluster's worker processes need, imported once by the forkserver they are forked from.
_WORKER_PRELOAD = ["distributed", "requestx", "requestx._distributed.task"]


def warm_local_workers(scheduler: typing.Any) -> bool:
    """For `local[:N]`: starts the forkserver that the LocalCluster's workers will be forked from,
    importing Dask and requestx in it now, while the driver does its own imports. True if the
    workers will be forked from it (where the platform has a forkserver).

    NOTE: each spawned worker imports Dask and requestx itself, both at once on a 2-core machine:
    a LocalCluster of 2 started in 0.49 s and ran its first task 0.12 s later (1.30 s wall, 1.82
    CPU-s for start, one task and stop). Forked from a forkserver started before the driver imports
    Dask: 0.21 s and 0.02 s (0.81 s wall, 0.57 CPU-s). `requestx crawl --dask local:2` of 2,000
    URLs took 1.55 s before, 1.17 s after (one process: 0.27 s).
    """
    if not isinstance(scheduler, str):
        return False
    try:
        if parse_local(scheduler) is None:
            return False
    except CrawlError:
        return False  # said when the engine starts
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(_WORKER_PRELOAD)
    forkserver.ensure_running()
    return True


# NOTE: a LocalCluster of our own runs nothing but the crawl, and nobody watches its dashboard:
# the diagnostics an interactive cluster runs in every process (a statistical profiler sampling the
# task thread every 10 ms, an event-loop health tick every 20 ms, memory and system monitors) only
# take the GIL from the shards. Slowed or off, `--dask local:2` on 100,000 URLs took 0.97x the
# time (8 interleaved runs, median; 0.87x-1.09x).
_LOCAL_QUIET = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
}


class DaskEngine:
    """Tasks on a Dask cluster: an existing scheduler (`tcp://host:8786`), a `distributed.Client`
    given by the caller (left open), or a LocalCluster of N worker processes (`local[:N]`, closed
    with the engine)."""

    def __init__(self, scheduler: typing.Any, *, connect_timeout: float = 10.0, retries: int = 2) -> None:
        dd = _distributed()
        self._dd = dd
        if not isinstance(scheduler, (str, dd.Client)):
            raise TypeError(f"scheduler= takes an address, 'local[:N]' or a distributed.Client, not {scheduler!r}")
        workers = parse_local(scheduler) if isinstance(scheduler, str) else None
        # NOTE: Dask keeps each connection's last `low-level-log-length` (1000) messages under 1 MB
        # for debugging, and a submitted shard is one such message: the driver's memory (and a
        # LocalCluster's scheduler's, which lives in the driver) grew by ~140 KB per shard until
        # 1000 of them were held. Kept to a few while the engine lives.
        config: dict[str, typing.Any] = {"distributed.admin.low-level-log-length": 8}
        if workers is not None:
            config.update(_LOCAL_QUIET)
            if warm_local_workers(scheduler):
                config["distributed.worker.multiprocessing-method"] = "forkserver"
        self._config: typing.Any = importlib.import_module("dask").config.set(config)
        self._cluster: typing.Any = None
        self._own_client = True
        self.retries = retries
        self.address = "?"
        if isinstance(scheduler, dd.Client):
            self._client = scheduler
            self._own_client = False
            self.address = str(scheduler.scheduler.address)
        else:
            try:
                if workers is not None:
                    self._cluster = dd.LocalCluster(
                        n_workers=workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        silence_logs=logging.CRITICAL,
                    )
                    self.address = str(self._cluster.scheduler_address)
                    self._client = dd.Client(self._cluster, timeout=connect_timeout, set_as_default=False)
                else:
                    self.address = scheduler
                    self._client = dd.Client(scheduler, timeout=connect_timeout, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                self.close()
                raise CrawlError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
            except RuntimeError as exc:  # a LocalCluster whose workers did not start
                self.close()
                raise CrawlError(f"cannot start a Dask LocalCluster ({scheduler}): {exc}") from exc
        # With results: they are fetched on the client's event loop as tasks finish, so `wait`
        # makes no call to the scheduler from this thread (none that could block on a lost one).
        self._as_completed = dd.as_completed(loop=self._client.loop, with_results=True, raise_errors=False)
        self._futures: dict[str, typing.Any] = {}
        self._stop_event = dd.Event(f"requestx-crawl-stop-{uuid.uuid4().hex}", client=self._client)
        self._stopping = False

    @property
    def slots(self) -> int:
        """Task slots (worker threads) in the cluster now; at least 1 (workers may join later)."""
        try:
            return max(1, int(sum(self._client.nthreads().values())))
        except Exception as exc:
            raise CrawlError(f"lost the Dask scheduler at {self.address}: {exc}") from exc

    @property
    def stop_token(self) -> typing.Any:
        """Handed to the tasks: they poll it and stop when the driver stops."""
        return self._stop_event

    def submit(self, key: str, fn: typing.Callable[..., typing.Any], *args: typing.Any) -> None:
        if self._client.status not in ("running", "connecting"):
            raise CrawlError(f"lost the Dask scheduler at {self.address} (client {self._client.status})")
        future = self._client.submit(fn, *args, key=key, pure=False, retries=self.retries)
        self._futures[key] = future
        self._as_completed.add(future)

    def wait(self) -> list[Outcome]:
        """Blocks until a task finishes; returns every finished one's outcome. A task whose worker
        died is rerun by Dask elsewhere and comes back here only when it has run."""
        # NOTE: polled, not `next_batch(block=True)`: when the scheduler goes away the client
        # cancels every future but as_completed hands them out only when the client gives up
        # reconnecting (its whole connect timeout later); the client's status says it at once.
        while not self._as_completed.has_ready():
            if self._client.status != "running":
                raise CrawlError(f"lost the connection to the Dask scheduler at {self.address}")
            time.sleep(0.005)
        outcomes = []
        for future, result in self._as_completed.next_batch(block=False):
            key = str(future.key)
            self._futures.pop(key, None)
            if future.status == "finished":
                outcomes.append(Outcome(key, result, None))
            elif future.status == "error":  # result is (type, exception, traceback)
                raised = result[1] if isinstance(result, tuple) and len(result) == 3 else result
                error = raised if isinstance(raised, BaseException) else CrawlError(str(raised))
                outcomes.append(Outcome(key, None, error))
            else:
                if self._client.status != "running" or getattr(result, "reason", "") == "scheduler-connection-lost":
                    raise CrawlError(f"lost the connection to the Dask scheduler at {self.address}")
                outcomes.append(Outcome(key, None, CrawlError(f"the task was {future.status}")))
        return outcomes

    def stop(self) -> None:
        """Asks running tasks to stop (they poll the event) and cancels the rest."""
        self._stopping = True
        futures = list(self._futures.values())
        self._futures.clear()
        self._as_completed.clear()
        if self._client.status != "running" or not futures:
            return  # the scheduler is gone: nothing of ours runs there any more

        def tell() -> None:
            try:
                self._stop_event.set()
                self._client.cancel(futures)
            except Exception:  # the scheduler is gone: nothing of ours runs there any more
                pass

        # A scheduler that just went away (the client not knowing it yet) would hold these calls
        # for the client's whole reconnect timeout: they get two seconds, from a thread.
        teller = threading.Thread(target=tell, name="requestx-crawl-stop", daemon=True)
        teller.start()
        teller.join(2.0)

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None and self._own_client:
            try:
                # With the scheduler gone the client is still reconnecting: do not wait for it.
                client.close(timeout=5 if client.status == "running" else 1)
            except Exception:
                pass
        if self._cluster is not None:
            try:
                self._cluster.close(timeout=10)
            except Exception:
                pass
        config, self._config = self._config, None
        if config is not None:
            config.__exit__(None, None, None)
