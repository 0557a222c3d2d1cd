"""Soak: a million requests through one client, watching this process's RSS, fds and threads for
growth. A benchmark to run by hand on a quiet machine, not a CI test (tests/test_lifecycle.py is
the short version that CI runs).

    python benchmarks/soak.py --mode sync [--threads 4] [--requests 1000000]
    python benchmarks/soak.py --mode async [--concurrency 64] [--loop uvloop]
    python benchmarks/soak.py --mode async --url http://127.0.0.1:8080/small

`--mode sync` shares one `requestx.Client` between `--threads` threads (1 by default); `--mode async`
keeps `--concurrency` requests in flight through one `requestx.AsyncClient` on asyncio (or uvloop).
The server: nginx on 127.0.0.1 if `nginx` is on PATH (a minimal config in a temp dir: a fixed
100-byte body at /small on a free port, keep-alive without a request limit; stopped at the end),
or the one `--url` names. Every response is checked (status 200, the body's length).

After a warm-up (`--warmup` requests, not counted), and every `--every` requests (50,000), it prints
RSS, open fds, threads (Python's and the kernel's count, the engine's own threads included) and the
interval's req/s. The last line is a verdict comparing the last sample with the one after the
warm-up: flat if RSS grew by less than 10% or less than 20 MiB, fds are the same within 2 and
threads within 1, and no request failed. The exit status is 0 if flat, 1 if not.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import dataclasses
import gc
import os
import shutil
import sys
import threading
import time
import typing

from _nginx import Nginx  # benchmarks/ is on sys.path when this runs as a script

import requestx

MIB = 1 << 20
BODY = b"x" * 100


@dataclasses.dataclass(frozen=True)
class Sample:
    done: int
    rate: float  # req/s over the interval that ended here
    rss: int  # bytes
    fds: int
    threads: int
    os_threads: int
    errors: int


def sample(done: int, rate: float, errors: int) -> Sample:
    gc.collect()  # what is left, not what the collector has yet to reach
    with open("/proc/self/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    return Sample(
        done=done,
        rate=rate,
        rss=int(status["VmRSS"].split()[0]) * 1024,
        fds=len(os.listdir("/proc/self/fd")),
        threads=threading.active_count(),
        os_threads=int(status["Threads"]),
        errors=errors,
    )


def show(label: str, s: Sample) -> None:
    print(
        f"{label:>11} {s.rate:>10,.0f} {s.rss / MIB:>9.1f} {s.fds:>5} {s.threads:>8} {s.os_threads:>11} {s.errors:>7}",
        flush=True,
    )


def verdict(warm: Sample, last: Sample) -> tuple[bool, str]:
    grew = last.rss - warm.rss
    checks = {
        "RSS": grew < 20 * MIB or grew < 0.10 * warm.rss,
        "fds": abs(last.fds - warm.fds) <= 2,
        "threads": abs(last.threads - warm.threads) <= 1,
        "OS threads": abs(last.os_threads - warm.os_threads) <= 1,
        "errors": last.errors == 0,
    }
    detail = (
        f"RSS {grew / MIB:+.1f} MiB ({grew / warm.rss:+.1%}), fds {last.fds - warm.fds:+d}, "
        f"threads {last.threads - warm.threads:+d}, OS threads {last.os_threads - warm.os_threads:+d}, "
        f"errors {last.errors}"
    )
    failed = [name for name, ok in checks.items() if not ok]
    return not failed, detail + (f"; not flat: {', '.join(failed)}" if failed else "")


class Counter:
    """Failed requests, from any thread; a response is good if it is a 200 with as many bytes as the
    first one had."""

    def __init__(self, length: int) -> None:
        self.length = length
        self.errors = 0
        self.first: BaseException | None = None
        self._lock = threading.Lock()

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self.errors += 1
            if self.first is None:
                self.first = exc
                print(f"first failure: {exc!r}", file=sys.stderr, flush=True)


# --- the two modes: each runs `n` requests per call, the calls separated by the samples ---------


def sync_runner(
    url: str, threads: int, counter: Counter
) -> tuple[typing.Callable[[int], None], typing.Callable[[], None]]:
    client = requestx.Client(limits=requestx.Limits(max_connections=threads, max_keepalive_connections=threads))
    # The workers are made once (the first batch starts them all) and live to the end.
    pool = (
        concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="soak") if threads > 1 else None
    )

    def work(n: int) -> None:
        for _ in range(n):
            try:
                r = client.get(url)
                if r.status_code != 200 or len(r.content) != counter.length:
                    counter.failed(AssertionError(f"unexpected response: {r!r}, {len(r.content)} bytes"))
            except requestx.HTTPError as exc:
                counter.failed(exc)

    def run(n: int) -> None:
        if pool is None:
            work(n)
            return
        shares = [n // threads + (i < n % threads) for i in range(threads)]
        for future in [pool.submit(work, share) for share in shares]:
            future.result()

    def close() -> None:
        if pool is not None:
            pool.shutdown()
        client.close()

    return run, close


def async_runner(
    url: str, concurrency: int, loop_name: str, counter: Counter
) -> tuple[typing.Callable[[int], None], typing.Callable[[], None]]:
    if loop_name == "uvloop":
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    limits = requestx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = loop.run_until_complete(_make_async_client(limits))

    async def worker(n: int) -> None:
        for _ in range(n):
            try:
                r = await client.get(url)
                if r.status_code != 200 or len(r.content) != counter.length:
                    counter.failed(AssertionError(f"unexpected response: {r!r}, {len(r.content)} bytes"))
            except requestx.HTTPError as exc:
                counter.failed(exc)

    async def batch(n: int) -> None:
        shares = [n // concurrency + (i < n % concurrency) for i in range(concurrency)]
        await asyncio.gather(*(worker(share) for share in shares))

    def run(n: int) -> None:
        loop.run_until_complete(batch(n))

    def close() -> None:
        loop.run_until_complete(client.aclose())
        loop.close()

    return run, close


async def _make_async_client(limits: requestx.Limits) -> requestx.AsyncClient:
    return requestx.AsyncClient(limits=limits)


# --- main ---------------------------------------------------------------------------------------


def soak(args: argparse.Namespace, url: str) -> int:
    first = requestx.get(url)
    if first.status_code != 200:
        print(f"{url}: {first.status_code}, not 200", file=sys.stderr)
        return 2
    counter = Counter(len(first.content))
    if args.mode == "sync":
        run, close = sync_runner(url, args.threads, counter)
        how = f"sync, {args.threads} thread(s) sharing one Client"
    else:
        run, close = async_runner(url, args.concurrency, args.loop, counter)
        how = f"async on {args.loop}, {args.concurrency} in flight through one AsyncClient"
    print(f"soak: {args.requests:,} requests to {url}, {how}", flush=True)
    print(f"{'requests':>11} {'req/s':>10} {'RSS MiB':>9} {'fds':>5} {'threads':>8} {'OS threads':>11} {'errors':>7}")
    try:
        start = time.perf_counter()
        run(args.warmup)
        warm = sample(0, args.warmup / (time.perf_counter() - start), counter.errors)
        show("warm-up", warm)
        last, done = warm, 0
        while done < args.requests:
            n = min(args.every, args.requests - done)
            start = time.perf_counter()
            run(n)
            done += n
            last = sample(done, n / (time.perf_counter() - start), counter.errors)
            show(f"{done:,}", last)
    finally:
        close()
    flat, detail = verdict(warm, last)
    print(f"verdict: {'flat' if flat else 'NOT FLAT'} ({detail})", flush=True)
    return 0 if flat else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("sync", "async"), default="sync")
    p.add_argument("--requests", type=int, default=1_000_000, help="requests after the warm-up (1,000,000)")
    p.add_argument("--every", type=int, default=50_000, help="requests between samples (50,000)")
    p.add_argument("--warmup", type=int, default=20_000, help="requests before the first sample (20,000)")
    p.add_argument("--threads", type=int, default=1, help="sync: threads sharing the client (1)")
    p.add_argument("--concurrency", type=int, default=64, help="async: requests in flight (64)")
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio", help="async: the event loop")
    p.add_argument("--url", help="a server to GET instead of starting nginx (every answer: 200, same length)")
    args = p.parse_args()
    if args.requests < 1 or args.every < 1 or args.warmup < 1 or args.threads < 1 or args.concurrency < 1:
        p.error("counts must be positive")
    if args.url:
        return soak(args, args.url)
    binary = shutil.which("nginx")
    if binary is None:
        print("nginx is not on PATH: install it (the referee does: ../shared/bench/run --quick) or pass --url")
        return 2
    server = Nginx(f"location = /small {{ default_type text/plain; return 200 '{BODY.decode()}'; }}", binary=binary)
    url = f"http://127.0.0.1:{server.ports[0]}/small"
    try:
        return soak(args, url)
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
