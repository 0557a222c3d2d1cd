"""The ceiling of the referee's `sse_lines` row for any httpx-shaped client, measured without a network.

The referee drives requestx through its httpx adapter: `async for line in r.aiter_lines(): n +=
is_data(line)`, two lines per event (the data line and the blank line). This script runs that loop
body over the referee's 200,000 events already split into `str` lines, so no HTTP client is
involved at all:

- `sync for over a list`: the cheapest loop Python has; no async iterator can beat it;
- `async for over an async generator`: what httpx (and requestx before its native iterator) pays;
- `async for over requestx's iterator`: `aiter_lines()` of a buffered response (no network).

    python benchmarks/line_loop_ceiling.py [--repeat 5]

Compare the first number with the peers' `sse_lines` cells in the same session: rnet and pyreqwest
are measured by chunk counting (`bytes.split` on whole chunks), not by iterating lines.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import typing

EVENTS = 200_000


def is_data(line: typing.Any) -> bool:  # the referee's own helper (client.py)
    return line.startswith("data:" if isinstance(line, str) else b"data:")


def body() -> bytes:  # the referee's /sse payload (server.py)
    return "".join(
        f'data: {{"seq":{i:07d},"msg":"the quick brown fox jumps over it"}}\n\n' for i in range(EVENTS)
    ).encode()


def sync_list(lines: list[str]) -> int:
    n = 0
    for line in lines:
        n += is_data(line)
    return n


async def agen(lines: list[str]) -> typing.AsyncIterator[str]:
    for line in lines:
        yield line


async def count(source: typing.AsyncIterator[str]) -> int:
    n = 0
    async for line in source:
        n += is_data(line)
    return n


def best_rate(run: typing.Callable[[], int], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        assert run() == EVENTS
        best = min(best, time.perf_counter() - start)
    return EVENTS / best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    raw = body()
    lines = raw.decode().splitlines()
    rows = [
        ("sync for over a list", lambda: sync_list(lines)),
        ("async for over an async generator", lambda: asyncio.run(count(agen(lines)))),
    ]
    try:
        import requestx

        def native() -> int:
            response = requestx.Response(200, content=raw)
            return asyncio.run(count(response.aiter_lines()))

        rows.append(("async for over requestx's aiter_lines()", native))
    except ImportError:
        print("requestx is not importable here: its row is skipped", file=sys.stderr)
    print("| loop over the referee's 400k lines | events/s |")
    print("|---|---|")
    for name, run in rows:
        print(f"| {name} | {best_rate(run, args.repeat):,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
