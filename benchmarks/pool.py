"""The worker pool beside the referee's peers, in one run: 20,000 GETs of nginx's /small through
`client.map(concurrency=64)` from plain Python (and the other pool entry points), against the best
peer's `conc_uvloop_64` and `threads_8` measured by the referee in the same invocation.

    python benchmarks/pool.py --requestx-python .venv/bin/python [--repeat 3] [--libs pyreqwest,rnet]

The referee (../shared/bench/run) runs first, for those two rows only; then the pool rows run
against an nginx built by the referee's own server module (same config, nginx pinned to the last
CPU, clients to the others, as the referee does), each in its own process, best of --repeat, each
after a warm-up of 2,000 requests. Clients use a pool of 64 kept-alive connections, as the
referee's adapters do.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFEREE = os.path.join(ROOT, "..", "shared", "bench")
COUNT = 20_000
CONCURRENCY = 64

CLIENT = r"""
import asyncio, concurrent.futures, json, sys, time
import requestx
ROW, URL, COUNT, CONC = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
LIMITS = requestx.Limits(max_connections=CONC, max_keepalive_connections=CONC)

def check(r):
    assert r.status_code == 200 and len(r.content) == 100, r

def map_sync(client, n, ordered=True):
    for r in client.map((URL for _ in range(n)), concurrency=CONC, ordered=ordered):
        check(r)

def pool_submit(client, n):
    with client.pool(workers=CONC) as pool:
        futures = [pool.submit("GET", URL) for _ in range(n)]
        for f in concurrent.futures.as_completed(futures):
            check(f.result())

async def amap(n):
    async with requestx.AsyncClient(limits=LIMITS) as client:
        async for r in client.amap((URL for _ in range(2000)), concurrency=CONC):
            check(r)
        start = time.perf_counter()
        async for r in client.amap((URL for _ in range(n)), concurrency=CONC):
            check(r)
        return time.perf_counter() - start

if ROW == "amap_uvloop_64":
    import uvloop
    elapsed = uvloop.run(amap(COUNT))
else:
    rows = {"map_64": map_sync, "map_unordered_64": lambda c, n: map_sync(c, n, False), "pool_submit_64": pool_submit}
    fn = rows[ROW]
    with requestx.Client(limits=LIMITS) as client:
        fn(client, 2000)
        start = time.perf_counter()
        fn(client, COUNT)
        elapsed = time.perf_counter() - start
print(json.dumps({"value": COUNT / elapsed}))
"""

ROWS = ("map_64", "map_unordered_64", "amap_uvloop_64", "pool_submit_64")


def referee(python: str, libs: str | None, repeat: int) -> dict[str, tuple[float, str]]:
    """Best peer per workload (value, library) from a referee run of conc_uvloop_64 and threads_8."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "referee.json")
        cmd = [os.path.join(REFEREE, "run"), "--requestx-python", python, "--workloads", "conc_uvloop_64,threads_8"]
        cmd += ["--repeat", str(repeat), "--out", out] + (["--libs", f"requestx,{libs}"] if libs else [])
        subprocess.run(cmd, check=True, stdout=sys.stderr)
        with open(out) as f:
            data = json.load(f)
    best: dict[str, tuple[float, str]] = {}
    for r in data["results"]:
        if r["lib"] != "requestx" and r["status"] == "ok":
            best[r["workload"]] = max(best.get(r["workload"], (0.0, "")), (r["value"], r["lib"]))
        if r["lib"] == "requestx" and r["status"] == "ok":
            best[f"requestx:{r['workload']}"] = (r["value"], "requestx")
    return best


def pool_rows(python: str, repeat: int) -> dict[str, float]:
    sys.path.insert(0, REFEREE)
    from server import Nginx, make_payloads  # the referee's own nginx, so the server is the same

    data = os.path.expanduser("~/.cache/requestx-bench/data")
    make_payloads(data)
    cpus = sorted(os.sched_getaffinity(0))
    clients = ",".join(map(str, cpus[:-1] or cpus))
    results: dict[str, float] = {}
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    with Nginx(data, cpu=cpus[-1] if len(cpus) > 1 else None, nginx=binary) as nginx:
        url = nginx.url("/small")
        for row in ROWS:
            best = 0.0
            for _ in range(repeat):
                cmd = ["taskset", "-c", clients, python, "-c", CLIENT, row, url, str(COUNT), str(CONCURRENCY)]
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
                if done.returncode != 0:
                    print(f"{row}: failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                    break
                best = max(best, json.loads(done.stdout)["value"])
            results[row] = best
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requestx-python", default=sys.executable)
    p.add_argument("--libs", default=None, help="peers for the referee rows (default: all)")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    best = referee(args.requestx_python, args.libs, args.repeat)
    rows = pool_rows(args.requestx_python, args.repeat)
    uv, t8 = best.get("conc_uvloop_64"), best.get("threads_8")
    print("| row | req/s | vs best peer conc_uvloop_64 | vs best peer threads_8 |")
    print("|---|---|---|---|")
    for name in ("conc_uvloop_64", "threads_8"):
        if f"requestx:{name}" in best:
            value = best[f"requestx:{name}"][0]
            print(f"| requestx {name} (referee) | {value:,.0f} | | |")
    for name, value in rows.items():
        ratio_uv = f"{value / uv[0]:.2f}x vs {uv[1]} ({uv[0]:,.0f})" if uv else ""
        ratio_t8 = f"{value / t8[0]:.2f}x vs {t8[1]} ({t8[0]:,.0f})" if t8 else ""
        print(f"| {name} | {value:,.0f} | {ratio_uv} | {ratio_t8} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
