"""The requestx command line: `requestx get URL`, `requestx crawl URLS -o out.jsonl`, `requestx demo`.

`requestx crawl` runs a URL list through the worker pool (`Client.map`'s engine) with a progress
bar on a terminal; `requestx demo` does the same against an embedded loopback server (no internet).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import typing

from ._client import Client
from ._config import USE_CLIENT_DEFAULT, Limits, Timeout
from ._exceptions import HTTPError, InvalidURL
from ._models import Response
from ._pool import Run
from ._requestx import Retry

__all__ = ["main"]


def _print_response(response: typing.Any, verbose: bool) -> None:
    if verbose:
        print(f"{response.http_version} {response.status_code} {response.reason_phrase}")
        for name, value in response.headers.multi_items():
            print(f"{name}: {value}")
        print()
    content_type = response.headers.get("content-type", "")
    if "json" in content_type:
        try:
            print(json.dumps(response.json(), indent=2, ensure_ascii=False))
            return
        except ValueError:
            pass
    print(response.text)


def _request(args: argparse.Namespace) -> int:
    headers = dict(h.split(":", 1) for h in args.header)
    kwargs: dict[str, typing.Any] = {"headers": {k.strip(): v.strip() for k, v in headers.items()}}
    if args.json is not None:
        kwargs["json"] = json.loads(args.json)
    elif args.data is not None:
        kwargs["content"] = args.data.encode()
    elif args.form:
        fields = [field.split("=", 1) for field in args.form]
        if any(len(field) != 2 for field in fields):
            print("error: --form takes name=value", file=sys.stderr)
            return 2
        kwargs["data"] = {name: value for name, value in fields}
    with Client(http2=args.http2, timeout=Timeout(args.timeout), follow_redirects=args.follow) as client:
        try:
            response = client.request(args.method.upper(), args.url, **kwargs)
        except (HTTPError, InvalidURL) as exc:
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
        _print_response(response, args.verbose)
        if args.check and response.is_error:
            return 1
    return 0


class _Progress:
    """One status line on a terminal: done/total, req/s, errors; redrawn at most 10 times a second."""

    def __init__(self, total: int | None, show: bool) -> None:
        self.total = total
        self.show = show
        self.done = self.errors = 0
        self.started = time.perf_counter()
        self._drawn = 0.0

    def add(self, error: bool) -> None:
        self.add_many(1, int(error))

    def add_many(self, done: int, errors: int) -> None:
        self.done += done
        self.errors += errors
        now = time.perf_counter()
        if self.show and now - self._drawn >= 0.1:
            self._drawn = now
            self.draw()

    @property
    def rate(self) -> float:
        return self.done / max(time.perf_counter() - self.started, 1e-9)

    def draw(self) -> None:
        if self.total:
            filled = 30 * min(self.done, self.total) // self.total
            bar = f"[{'#' * filled:<30}] {self.done:,}/{self.total:,}"
        else:
            bar = f"{self.done:,}"
        print(f"\r{bar} {self.rate:,.0f} req/s errors={self.errors:,}", end="", file=sys.stderr, flush=True)

    def finish(self) -> None:
        if self.show:
            self.draw()
            print(file=sys.stderr)


def _record(url: str, result: Response | Exception) -> dict[str, typing.Any]:
    """One JSON line per URL: url, status, elapsed, size, error."""
    if isinstance(result, Response):
        return {
            "url": url,
            "status": result.status_code,
            "elapsed": round(result.elapsed.total_seconds(), 6),
            "size": len(result.content),
            "error": None,
        }
    return {"url": url, "status": None, "elapsed": None, "size": None, "error": f"{type(result).__name__}: {result}"}


def _crawl(
    client: Client,
    urls: typing.Iterable[str],
    out: typing.TextIO | None,
    progress: _Progress,
    *,
    concurrency: int,
    rate: float | None,
    per_host: int | None,
) -> bool:
    """Crawls `urls` through the pool, writing one record per URL as it completes. Returns False
    when Ctrl-C stopped it: what finished is written, what ran is cancelled."""
    window: dict[int, str] = {}

    def items() -> typing.Iterator[str]:
        for index, url in enumerate(urls):
            window[index] = url
            yield url

    run = Run(
        client,
        concurrency,
        per_host=per_host,
        rate=rate,
        retries=USE_CLIENT_DEFAULT,
        follow_redirects=USE_CLIENT_DEFAULT,
        is_async=False,
    )
    batches = run.batches(items())
    last_flush = time.perf_counter()
    try:
        for done in batches:
            for index, result in done:
                record = _record(window.pop(index), result)
                if out is not None:
                    out.write(json.dumps(record) + "\n")
                progress.add(record["error"] is not None or record["status"] >= 400)
            if out is not None and time.perf_counter() - last_flush > 0.5:
                out.flush()
                last_flush = time.perf_counter()
    except KeyboardInterrupt:
        batches.close()
        return False
    finally:
        if out is not None:
            out.flush()
    return True


def _read_urls(source: typing.TextIO, skip: set[str]) -> typing.Iterator[str]:
    for line in source:
        url = line.strip()
        if url and not url.startswith("#") and url not in skip:
            yield url


def _resume(path: str) -> set[str]:
    """URLs already in the output file. A last line cut short (the process was killed mid-write)
    is removed, so appending keeps one whole JSON document per line; its URL is fetched again."""
    if path == "-" or not os.path.exists(path):
        return set()
    done: set[str] = set()
    with open(path, "rb+") as f:
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            f.truncate(keep)
        for line in data[:keep].splitlines():
            try:
                done.add(json.loads(line)["url"])
            except (ValueError, KeyError, TypeError):
                continue
    return done


def _crawl_client(args: argparse.Namespace) -> Client:
    return Client(
        http2=args.http2,
        timeout=Timeout(args.timeout),
        follow_redirects=not args.no_follow,
        limits=Limits(max_connections=None, max_keepalive_connections=args.concurrency),
        retries=Retry(args.retries) if args.retries else None,
    )


def _crawl_command(args: argparse.Namespace) -> int:
    if args.dask is not None:
        return _dask_crawl_command(args)
    if args.shard_size is not None:
        print("error: --shard-size is for a distributed crawl (--dask)", file=sys.stderr)
        return 2
    skip = _resume(args.output)
    source = sys.stdin if args.urls == "-" else open(args.urls, encoding="utf-8", errors="replace")
    try:
        total = None
        if source is not sys.stdin:
            total = sum(1 for _ in _read_urls(source, skip))
            source.seek(0)
        out = sys.stdout if args.output == "-" else open(args.output, "a", encoding="utf-8")
        progress = _Progress(total, sys.stderr.isatty() and not args.quiet)
        try:
            with _crawl_client(args) as client:
                finished = _crawl(
                    client,
                    _read_urls(source, skip),
                    out,
                    progress,
                    concurrency=args.concurrency,
                    rate=args.rate,
                    per_host=args.per_host,
                )
        finally:
            if out is not sys.stdout:
                out.close()
        progress.finish()
    finally:
        if source is not sys.stdin:
            source.close()
    return _crawl_ended(progress, f"{len(skip):,} skipped as already done" if skip else "", finished)


def _count_urls(path: str) -> int | None:
    """The URLs in a file, for the progress bar (None for stdin, or a file that cannot be read:
    the crawl reports that itself)."""
    if path == "-":
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return sum(1 for line in f if (url := line.strip()) and not url.startswith("#"))
    except OSError:
        return None


def _dask_crawl_command(args: argparse.Namespace) -> int:
    """`requestx crawl URLS -o OUT --dask ADDRESS|local[:N]`: the crawl as Dask tasks, one shard
    of URLs per task, each shard's records committed as OUT/part-NNNNN.jsonl."""
    from . import distributed

    if args.output == "-":
        print("error: a distributed crawl writes a folder: give it with -o OUT", file=sys.stderr)
        return 2
    client: dict[str, typing.Any] = {
        "http2": args.http2,
        "timeout": args.timeout,
        "follow_redirects": not args.no_follow,
        "limits": {"max_connections": None, "max_keepalive_connections": args.concurrency},
        "retries": args.retries or None,
    }
    # The command says what went wrong in one `error:` line; Dask's own logs of the same events
    # (a lost scheduler's reconnect tracebacks...) would bury it.
    import importlib
    import logging

    from ._distributed.dask_engine import warm_local_workers

    warm_local_workers(args.dask)  # a LocalCluster's workers start while the driver imports Dask
    try:
        importlib.import_module("distributed")  # its logging is set up on import: quiet it after
    except ImportError:
        pass  # the crawl says what to install
    for name in ["distributed", "tornado.application", *logging.root.manager.loggerDict]:
        if name.startswith(("distributed", "tornado.application")):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    progress = _Progress(_count_urls(args.urls), sys.stderr.isatty() and not args.quiet)
    skipped = [0, 0]

    def on_skip(shard: typing.Any, errors: int) -> None:
        skipped[0] += 1
        skipped[1] += len(shard.urls)
        if progress.total is not None:
            progress.total -= len(shard.urls)

    try:
        distributed.crawl(
            args.urls,
            args.output,
            client=client,
            scheduler=args.dask,
            shard_size=args.shard_size,
            concurrency=args.concurrency,
            per_host=args.per_host,
            rate=args.rate,
            connect_timeout=args.connect_timeout,
            on_shard=lambda result: progress.add_many(result.count, result.errors),
            on_skip=on_skip,
        )
        finished = True
    except KeyboardInterrupt:
        finished = False
    except distributed.CrawlError as exc:
        progress.finish()
        print(f"error: {exc}", file=sys.stderr)
        print(f"{progress.done:,} done in this run; finished shards are kept in {args.output}", file=sys.stderr)
        return 2
    progress.finish()
    skip_note = f"{skipped[1]:,} skipped as already done ({skipped[0]:,} shards)" if skipped[0] else ""
    return _crawl_ended(progress, skip_note, finished)


def _crawl_ended(progress: _Progress, skip_note: str, finished: bool) -> int:
    """Prints how a crawl (local or on Dask) ended; its exit status (130 if interrupted)."""
    summary = f"{progress.done:,} done ({progress.errors:,} errors) at {progress.rate:,.0f} req/s"
    if skip_note:
        summary += f"; {skip_note}"
    if not finished:
        print(f"interrupted: {summary}; run the same command again to resume", file=sys.stderr)
        return 130
    print(summary, file=sys.stderr)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ._demo_server import DemoServer

    server = DemoServer()
    try:
        print(
            f"demo server on {server.url}; crawling {args.count:,} URLs through the pool, {args.concurrency} at a time"
        )
        urls = (f"{server.url}/item/{i}" for i in range(args.count))
        progress = _Progress(args.count, sys.stderr.isatty())
        limits = Limits(max_connections=None, max_keepalive_connections=args.concurrency)
        with Client(limits=limits, timeout=10) as client:
            finished = _crawl(client, urls, None, progress, concurrency=args.concurrency, rate=None, per_host=None)
        progress.finish()
    finally:
        server.close()
    print(f"done: {progress.done - progress.errors:,} ok, {progress.errors:,} errors at {progress.rate:,.0f} req/s")
    if not finished:
        return 130
    return 0 if progress.errors == 0 and progress.done == args.count else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="requestx", description="HTTP requests from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="crawl an embedded loopback server through the pool (no internet)")
    demo.add_argument("--count", type=int, default=20_000)
    demo.add_argument("-c", "--concurrency", type=int, default=64)
    demo.set_defaults(func=_demo)
    crawl = sub.add_parser(
        "crawl",
        help="GET every URL of a list through the pool, one JSON line per URL",
        description="GET every URL (one per line; blank lines and # comments skipped) with at most "
        "CONCURRENCY in flight, writing one JSON line per URL (url, status, elapsed, size, error) as "
        "each completes. URLs already in the output file are skipped, so running the same command "
        "again resumes an interrupted crawl. Ctrl-C stops cleanly: everything finished is written. "
        "With --dask the URLs are sharded by host over a Dask cluster (see docs/distributed.md).",
    )
    crawl.add_argument("urls", help="a file of URLs, or - for stdin")
    crawl.add_argument("-o", "--output", default="-", help="JSONL output, appended to (default: stdout)")
    crawl.add_argument("-c", "--concurrency", type=int, default=64)
    crawl.add_argument("--retries", type=int, default=0, help="retries per URL (connection errors, 429, 502-504)")
    crawl.add_argument("--rate", type=float, default=None, help="at most this many requests per second per host")
    crawl.add_argument("--per-host", type=int, default=None, help="at most this many in flight per host")
    crawl.add_argument("--timeout", type=float, default=10.0)
    crawl.add_argument("--http2", action="store_true")
    crawl.add_argument("--no-follow", action="store_true", help="do not follow redirects")
    crawl.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    crawl.add_argument(
        "--dask",
        metavar="SCHEDULER",
        default=None,
        help="run on Dask: a scheduler address (tcp://host:8786), or local[:N] for a LocalCluster of N "
        "worker processes; -o is then a folder of part files (pip install 'requestx[dask]')",
    )
    crawl.add_argument("--shard-size", type=int, default=None, help="URLs per Dask task (default 5000)")
    crawl.add_argument("--connect-timeout", type=float, default=10.0, help="seconds to reach the Dask scheduler")
    crawl.set_defaults(func=_crawl_command)
    for method in ["get", "head", "options", "post", "put", "patch", "delete"]:
        p = sub.add_parser(method, help=f"send one {method.upper()} request")
        p.add_argument("url")
        p.add_argument("-H", "--header", action="append", default=[], help="'Name: value'")
        p.add_argument("--json", help="a JSON document to send")
        p.add_argument("--data", help="a request body")
        p.add_argument("--form", action="append", default=[], help="a form field name=value (repeatable)")
        p.add_argument("-v", "--verbose", action="store_true", help="print the status line and headers")
        p.add_argument("--http2", action="store_true")
        p.add_argument("--timeout", type=float, default=5.0)
        p.add_argument("--follow", action="store_true", help="follow redirects")
        p.add_argument("--check", action="store_true", help="exit 1 on a 4xx/5xx status")
        p.set_defaults(func=_request, method=method)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
