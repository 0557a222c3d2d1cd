"""The requestx command line: `requestx get URL`, `requestx demo`.

`requestx demo` starts a loopback server and fetches many URLs from it through one AsyncClient,
with progress on a terminal, then prints a summary. No internet is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import typing

from ._client import AsyncClient, Client
from ._config import Limits, Timeout
from ._exceptions import HTTPError, InvalidURL

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


async def _crawl(base: str, count: int, concurrency: int, show: bool) -> tuple[int, int, float]:
    ok = errors = 0
    next_index = 0
    started = time.perf_counter()
    async with AsyncClient(limits=Limits(max_connections=concurrency), timeout=10) as client:

        async def worker() -> None:
            nonlocal ok, errors, next_index
            while next_index < count:
                i = next_index
                next_index += 1
                try:
                    r = await client.get(f"{base}/item/{i}")
                    if r.status_code == 200 and r.json()["path"] == f"/item/{i}":
                        ok += 1
                    else:
                        errors += 1
                except HTTPError:
                    errors += 1

        async def progress() -> None:
            while ok + errors < count:
                done = ok + errors
                rate = done / max(time.perf_counter() - started, 1e-9)
                bar = "#" * (30 * done // count)
                print(f"\r[{bar:<30}] {done}/{count} {rate:,.0f} req/s errors={errors}", end="", file=sys.stderr)
                await asyncio.sleep(0.1)

        tasks = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
        reporter = asyncio.ensure_future(progress()) if show else None
        await asyncio.gather(*tasks)
        if reporter is not None:
            await reporter
            print(file=sys.stderr)
    return ok, errors, time.perf_counter() - started


def _demo(args: argparse.Namespace) -> int:
    from ._demo_server import DemoServer

    server = DemoServer()
    try:
        print(f"demo server on {server.url}; fetching {args.count} URLs, {args.concurrency} at a time")
        ok, errors, elapsed = asyncio.run(_crawl(server.url, args.count, args.concurrency, sys.stderr.isatty()))
    finally:
        server.close()
    print(f"done: {ok} ok, {errors} errors in {elapsed:.2f} s ({(ok + errors) / elapsed:,.0f} req/s)")
    return 0 if errors == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="requestx", description="HTTP requests from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fetch many URLs from an embedded loopback server")
    demo.add_argument("--count", type=int, default=20_000)
    demo.add_argument("-c", "--concurrency", type=int, default=64)
    demo.set_defaults(func=_demo)
    for method in ["get", "head", "options", "post", "put", "patch", "delete"]:
        p = sub.add_parser(method, help=f"send one {method.upper()} request")
        p.add_argument("url")
        p.add_argument("-H", "--header", action="append", default=[], help="'Name: value'")
        p.add_argument("--json", help="a JSON document to send")
        p.add_argument("--data", help="a request body")
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
