"""Crawls on a Dask cluster: `requestx.distributed.crawl(urls, out, scheduler="local:2")`.

The URLs (a file, "-" for stdin, or any iterable, read lazily) are cut into shards by host; each
shard is a Dask task that runs the pool (`Client.map`'s engine) on a worker and commits its records,
one JSON line per URL as `requestx crawl` writes them, as `OUT/part-NNNNN.jsonl`. Every URL is in
the output exactly once, whatever worker died; running the same crawl again resumes it. See
docs/distributed.md. Needs `pip install 'requestx[dask]'`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import typing

from ._distributed.driver import CrawlSummary, drive
from ._distributed.output import CrawlError, OutputFolder
from ._distributed.sharding import Shard, host_key
from ._distributed.task import ShardResult, TaskSettings, check_client_config

__all__ = [
    "DEFAULT_BUCKETS",
    "DEFAULT_SHARD_SIZE",
    "CrawlError",
    "CrawlSummary",
    "Shard",
    "ShardResult",
    "crawl",
    "host_key",
    "read_urls",
]

DEFAULT_SHARD_SIZE = 5000
DEFAULT_BUCKETS = 1024
#: URLs held back by the sharder at most (waiting for their bucket's shard to fill).
DEFAULT_BUFFER_LIMIT = 100_000

UrlSource = typing.Union[str, "os.PathLike[str]", typing.Iterable[str]]


def read_urls(lines: typing.Iterable[str]) -> typing.Iterator[str]:
    """The URLs of a list, one a line: stripped, blank lines and # comments skipped (as `requestx
    crawl` reads its file)."""
    for line in lines:
        url = line.strip()
        if url and not url.startswith("#"):
            yield url


@contextlib.contextmanager
def _source(urls: UrlSource) -> typing.Iterator[typing.Iterable[str]]:
    if isinstance(urls, (str, os.PathLike)):
        path = os.fspath(urls)
        if path == "-":
            yield read_urls(sys.stdin)
            return
        try:
            f = open(path, encoding="utf-8", errors="replace")
        except OSError as exc:
            raise CrawlError(f"cannot read the URL file {path!r}: {exc.strerror or exc}") from exc
        with f:
            yield read_urls(f)
        return
    yield (str(url) for url in urls)


def crawl(
    urls: UrlSource,
    out: str | os.PathLike[str],
    *,
    client: typing.Mapping[str, typing.Any] | None = None,
    scheduler: typing.Any = "local",
    shard_size: int | None = None,
    buckets: int | None = None,
    concurrency: int = 64,
    per_host: int | None = None,
    rate: float | None = None,
    in_flight: int | None = None,
    connect_timeout: float = 10.0,
    task_retries: int = 2,
    on_shard: typing.Callable[[ShardResult], None] | None = None,
    on_skip: typing.Callable[[Shard, int], None] | None = None,
) -> CrawlSummary:
    """GETs every URL on a Dask cluster and writes `out/part-NNNNN.jsonl`; returns a summary.

    - `urls`: a path, "-" (stdin) or an iterable of URLs, read lazily (a generator of millions is
      never held in memory).
    - `client`: the `requestx.Client` settings, as plain values (`{"timeout": 10, "retries": 2,
      "limits": {"max_keepalive_connections": 64}, "headers": {...}}`); each worker process builds
      one client from them and reuses it. Default: keep `concurrency` connections alive.
    - `scheduler`: "local" / "local:N" (a LocalCluster of N worker processes, closed at the end),
      a scheduler address ("tcp://host:8786"), or a `distributed.Client` (left open).
    - `shard_size` (default 5000) and `buckets` (host buckets, default 1024): how URLs are cut into
      shards. A resumed crawl takes them from the folder's manifest.
    - `concurrency`, `per_host`, `rate`: the pool's limits, for each shard. A host's URLs are in
      one shard at a time, so `per_host` and `rate` hold for each host across the cluster.
    - `in_flight`: shards on the cluster at once (default: 4 per worker thread, so a worker finds its next
      shard queued when one ends).
    - `on_shard(result)`: called on the driver as each shard finishes; `on_skip(shard, errors)` for
      each shard an earlier run finished.

    Raises `CrawlError` (unreachable scheduler, unwritable folder, unreadable input, a shard that
    failed for good, a scheduler that went away); Ctrl-C stops the cluster's work for this crawl
    and raises `KeyboardInterrupt`. Every finished shard is kept: the same call resumes.
    """
    from ._distributed.dask_engine import DaskEngine, warm_local_workers

    for name, value in (("shard_size", shard_size), ("buckets", buckets), ("in_flight", in_flight)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive int, not {value!r}")
    if not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive int, not {concurrency!r}")
    if per_host is not None and (not isinstance(per_host, int) or per_host < 1):
        raise ValueError(f"per_host must be a positive int or None, not {per_host!r}")
    if rate is not None and not (isinstance(rate, (int, float)) and 0 < rate < float("inf")):
        raise ValueError(f"rate must be a positive number of requests per second or None, not {rate!r}")
    warm_local_workers(scheduler)  # a LocalCluster's workers get ready while the input is opened
    config = check_client_config(client if client is not None else {})
    config.setdefault("limits", {"max_connections": None, "max_keepalive_connections": concurrency})
    settings = TaskSettings(config, concurrency, per_host, rate)
    asked: dict[str, int | None] = {"shard_size": shard_size, "buckets": buckets, "buffer_limit": None}
    path = os.fspath(out)
    fresh = not os.path.exists(os.path.join(path, "_manifest.json"))
    if fresh:
        asked = {
            "shard_size": shard_size or DEFAULT_SHARD_SIZE,
            "buckets": buckets or DEFAULT_BUCKETS,
            "buffer_limit": max(DEFAULT_BUFFER_LIMIT, 4 * (shard_size or DEFAULT_SHARD_SIZE)),
        }
    folder = OutputFolder(path, asked)
    try:
        engines: list[DaskEngine] = []

        def start_engine() -> DaskEngine:
            engines.append(DaskEngine(scheduler, connect_timeout=connect_timeout, retries=task_retries))
            return engines[0]

        with _source(urls) as source:
            try:
                return drive(
                    source, folder, start_engine, settings, in_flight=in_flight, on_shard=on_shard, on_skip=on_skip
                )
            finally:
                for engine in engines:
                    engine.close()
    finally:
        folder.close()
