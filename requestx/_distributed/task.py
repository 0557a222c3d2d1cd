"""A shard's task, run on a worker: GET every URL of the shard through the pool (`Client.map`'s
engine, with the crawl's concurrency, per-host and rate limits) and commit its records as one part
file. One requestx `Client` per worker process and client configuration, reused across the shards
that process runs, so its connections are kept."""

from __future__ import annotations

import atexit
import collections
import dataclasses
import json
import os
import socket
import threading
import time
import typing

from .._client import Client
from .._config import USE_CLIENT_DEFAULT, Limits, Timeout
from .._pool import Run
from .._requestx import Retry
from .output import commit_part, part_name
from .sharding import Shard

__all__ = ["ShardResult", "TaskSettings", "build_client", "check_client_config", "run_shard"]

#: Client settings that hold live objects or code: they cannot travel to another process.
_LIVE = {"transport", "mounts", "event_hooks"}


@dataclasses.dataclass(frozen=True)
class TaskSettings:
    """What every shard's task needs besides its URLs: plain, picklable values only."""

    client: dict[str, typing.Any]
    concurrency: int
    per_host: int | None
    rate: float | None


@dataclasses.dataclass(frozen=True)
class ShardResult:
    number: int
    bucket: int
    count: int
    errors: int
    #: False when the part was committed before this task ran (an earlier run, or a duplicate).
    committed: bool
    seconds: float
    worker: str
    #: When the task started, in the worker's `time.time()`.
    started_at: float = 0.0


def check_client_config(config: typing.Mapping[str, typing.Any]) -> dict[str, typing.Any]:
    """The `Client(...)` keyword arguments as plain configuration, checked on the driver: no live
    client, nothing that cannot be pickled, and arguments `Client` accepts."""
    if isinstance(config, Client):
        raise TypeError("client= takes the Client's settings as a dict (e.g. {'timeout': 10}), not a live Client")
    if not isinstance(config, typing.Mapping):
        raise TypeError(f"client= takes a dict of Client settings, not {type(config).__name__}")
    config = dict(config)
    live = sorted(_LIVE & set(config))
    if live:
        raise TypeError(f"client settings {live} hold live objects and cannot travel to the workers")
    import pickle

    try:
        pickle.dumps(config)
    except Exception as exc:
        raise TypeError(f"client settings must be plain, picklable values: {exc}") from exc
    build_client(config).close()  # a bad argument fails here, not on every worker
    return config


def build_client(config: typing.Mapping[str, typing.Any]) -> Client:
    """A `Client` from plain settings: `limits`, `timeout` and `retries` may be given as dicts of
    their constructor's arguments (`retries` also as an int)."""
    kwargs = dict(config)
    if isinstance(kwargs.get("limits"), typing.Mapping):
        kwargs["limits"] = Limits(**kwargs["limits"])
    if isinstance(kwargs.get("timeout"), typing.Mapping):
        kwargs["timeout"] = Timeout(**kwargs["timeout"])
    if isinstance(kwargs.get("retries"), typing.Mapping):
        kwargs["retries"] = Retry(**kwargs["retries"])
    return Client(**kwargs)


_clients: collections.OrderedDict[str, Client] = collections.OrderedDict()
_clients_lock = threading.Lock()


def _client(config: dict[str, typing.Any]) -> Client:
    """This process's client for `config`: built on first use, then reused (at most 4 configs)."""
    key = json.dumps(config, sort_keys=True, default=repr)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = build_client(config)
            if len(_clients) == 1:
                atexit.register(_close_clients)
            while len(_clients) > 4:
                _clients.popitem(last=False)[1].close()
        _clients.move_to_end(key)
        return client


def _close_clients() -> None:
    with _clients_lock:
        while _clients:
            _clients.popitem()[1].close()


class Stopped(Exception):
    """The driver stopped the crawl (Ctrl-C): the shard's part is not written."""


def _records(
    client: Client, shard: Shard, settings: TaskSettings, stop: typing.Any, tally: list[int]
) -> typing.Iterator[str]:
    """The shard's JSON lines as requests complete; `tally` counts [records, errors]."""
    from ..__main__ import _record  # the records of `requestx crawl`

    urls = shard.urls
    run = Run(
        client,
        settings.concurrency,
        per_host=settings.per_host,
        rate=settings.rate,
        retries=USE_CLIENT_DEFAULT,
        follow_redirects=USE_CLIENT_DEFAULT,
        is_async=False,
    )
    batches = run.batches(urls)
    checked = time.monotonic()
    try:
        for done in batches:
            for index, result in done:
                record = _record(urls[index], result)
                tally[0] += 1
                tally[1] += record["error"] is not None or record["status"] >= 400
                yield json.dumps(record) + "\n"
            if stop is not None and time.monotonic() - checked >= 1.0:
                checked = time.monotonic()
                if _is_set(stop):
                    raise Stopped(f"shard {shard.number} stopped by the driver")
    finally:
        batches.close()
    if settings.rate:
        # The next shard of this host bucket starts only after this task returns: waiting one
        # interval keeps starts to a host at least 1/rate apart across the shard boundary too.
        time.sleep(1.0 / settings.rate)


def _is_set(stop: typing.Any) -> bool:
    try:
        return bool(stop.is_set())
    except Exception:  # the scheduler is unreachable: the shard goes on, its part stays valid
        return False


def run_shard(shard: Shard, out: str, settings: TaskSettings, stop: typing.Any = None) -> ShardResult:
    """The task: crawls `shard` and commits `OUT/part-NNNNN.jsonl`. Idempotent: a part that is
    already there is kept and nothing is fetched."""
    started = time.monotonic()
    started_at = time.time()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    if os.path.exists(os.path.join(out, part_name(shard.number))):
        return ShardResult(shard.number, shard.bucket, len(shard.urls), 0, False, 0.0, worker, started_at)
    if not os.path.isdir(out):
        raise FileNotFoundError(f"the output folder {out} is not there on worker {worker} (it must be shared)")
    tally = [0, 0]
    committed = commit_part(out, shard.number, _records(_client(settings.client), shard, settings, stop, tally))
    return ShardResult(
        shard.number, shard.bucket, tally[0], tally[1], committed, time.monotonic() - started, worker, started_at
    )
