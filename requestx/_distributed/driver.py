"""The driver: reads the URL source lazily, cuts it into shards (`sharding`), skips the shards
whose part is committed, and keeps a bounded number of shards on the engine: at most one per
host bucket at a time (the next shard of a bucket is submitted only when the previous one has
finished, so a host's per-host and rate limits hold across the cluster), at most `in_flight` in
all, at most `held` shards waiting for their bucket. Input is read only while there is room, so
the driver's memory does not grow with the number of URLs."""

from __future__ import annotations

import collections
import dataclasses
import time
import typing
import uuid

from .output import CrawlError, OutputFolder
from .sharding import Shard, Sharder
from .task import ShardResult, TaskSettings, run_shard

__all__ = ["CrawlSummary", "Engine", "drive"]


class Engine(typing.Protocol):
    @property
    def slots(self) -> int: ...
    @property
    def stop_token(self) -> typing.Any: ...
    def submit(self, key: str, fn: typing.Callable[..., typing.Any], *args: typing.Any) -> None: ...
    def wait(self) -> list[typing.Any]: ...
    def stop(self) -> None: ...


@dataclasses.dataclass
class CrawlSummary:
    """What a distributed crawl did. `urls`/`errors` count this run's records (errors include
    4xx/5xx statuses, as `requestx crawl` counts them); `skipped_*` the shards an earlier run had
    finished."""

    out: str
    urls: int = 0
    errors: int = 0
    shards: int = 0
    skipped_shards: int = 0
    skipped_urls: int = 0
    skipped_errors: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.urls / self.seconds if self.seconds > 0 else 0.0


def drive(
    urls: typing.Iterable[str],
    out: OutputFolder,
    start_engine: typing.Callable[[], Engine],
    settings: TaskSettings,
    *,
    in_flight: int | None = None,
    held: int | None = None,
    on_shard: typing.Callable[[ShardResult], None] | None = None,
    on_skip: typing.Callable[[Shard, int], None] | None = None,
) -> CrawlSummary:
    """Runs the crawl to the end. Raises `CrawlError` (a task failed for good, the scheduler went
    away, the input could not be read) or `KeyboardInterrupt`, after stopping what runs; every
    committed part is kept either way. The engine is started (`start_engine`) only when a shard
    is to run: a finished crawl run again reads its input and its parts, and starts no cluster."""
    params = out.params
    sharder = Sharder(params["shard_size"], params["buckets"], params["buffer_limit"])
    summary = CrawlSummary(out.path)
    started = time.perf_counter()
    run_id = uuid.uuid4().hex[:10]
    engine: Engine | None = None
    limit = in_flight if in_flight is not None else 2
    hold_limit = held if held is not None else 2 * limit
    shards = sharder.shards(urls)
    running: dict[int, str] = {}  # bucket -> key of its shard on the engine
    tasks: dict[str, Shard] = {}
    waiting: dict[int, collections.deque[Shard]] = collections.defaultdict(collections.deque)
    held_count = 0
    exhausted = False
    source_error: BaseException | None = None

    def submit(shard: Shard) -> None:
        nonlocal engine, limit, hold_limit
        if engine is None:
            engine = start_engine()
            limit = in_flight if in_flight is not None else 4 * engine.slots
            hold_limit = held if held is not None else 2 * limit
        key = f"requestx-shard-{run_id}-{shard.number:05d}"
        running[shard.bucket] = key
        tasks[key] = shard
        engine.submit(key, run_shard, shard, out.path, settings, engine.stop_token)

    try:
        while True:
            while not exhausted and len(tasks) < limit and held_count < hold_limit:
                try:
                    shard = next(shards)
                except StopIteration:
                    exhausted = True
                    break
                except (OSError, UnicodeError) as exc:  # the URL source went away or broke
                    source_error = exc
                    exhausted = True
                    break
                errors = out.committed(shard.number, shard.urls)
                if errors is not None:
                    summary.skipped_shards += 1
                    summary.skipped_urls += len(shard.urls)
                    summary.skipped_errors += errors
                    if on_skip is not None:
                        on_skip(shard, errors)
                elif shard.bucket in running:
                    waiting[shard.bucket].append(shard)
                    held_count += 1
                else:
                    submit(shard)
            if not tasks:
                break
            assert engine is not None
            for outcome in engine.wait():
                shard = tasks.pop(outcome.key)
                del running[shard.bucket]
                if outcome.error is not None:
                    raise CrawlError(
                        f"shard {shard.number} ({len(shard.urls)} URLs) failed: "
                        f"{type(outcome.error).__name__}: {outcome.error}"
                    ) from outcome.error
                result = typing.cast(ShardResult, outcome.value)
                summary.shards += 1
                summary.urls += result.count
                summary.errors += result.errors
                if on_shard is not None:
                    on_shard(result)
                queue = waiting.get(shard.bucket)
                if queue:
                    submit(queue.popleft())
                    held_count -= 1
                    if not queue:
                        del waiting[shard.bucket]
    except BaseException:
        if engine is not None:
            engine.stop()
        raise
    finally:
        summary.seconds = time.perf_counter() - started
    if source_error is not None:
        raise CrawlError(f"reading the URLs failed: {source_error}") from source_error
    out.clean()  # what attempts killed mid-shard left behind
    return summary
