"""`requestx crawl` on Dask against the same crawl in one process, on this machine.

    python benchmarks/crawl_dask.py [--count 100000] [--hosts 16] [--workers 2] [--shard-size 5000] [--repeat 3]
                                    [--generator 500000]

Against an nginx on --hosts loopback ports (each port a host), with the URLs in a file, it runs:

1. `requestx crawl URLS -o out.jsonl` (one process, the pool alone) and
2. `requestx crawl URLS -o OUT --dask local:N` (the CLI end to end: LocalCluster start included),
   in turn, `--repeat` times, whole-process wall time, medians;
3. the Python API on a LocalCluster started beforehand (the steady state: the cluster's start is
   a constant, not a cost per URL), with the driver's peak RSS;
4. the Python API on generators of N and `--generator` URLs (default 5N), to show the driver's
   peak RSS does not grow with the number of URLs (a generator is never materialised).

Each step in its own process. Prints one JSON line per step and the summary: both rates, the
distributed run's rate as a fraction of the single process's, and the overhead per URL.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _nginx import Nginx  # benchmarks/ is on sys.path when this runs as a script

from requestx.distributed import DEFAULT_SHARD_SIZE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LOCATION = """location / { default_type application/json; return 200 '{"ok": true, "pad": "0123456789abcdef"}'; }"""

API_RUN = r"""
import json, resource, sys, time
from requestx import distributed
if __name__ == "__main__":
    import logging, distributed as dd
    mode, source, out, workers, shard_size, conc = sys.argv[1:7]
    import dask
    # This scheduler lives in the driver's process: keep its message log as short as the engine
    # keeps it for `--dask local` (see requestx/_distributed/dask_engine.py).
    dask.config.set({"distributed.admin.low-level-log-length": 8})
    cluster = dd.LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                              dashboard_address=None, silence_logs=logging.ERROR)
    if mode == "file":
        urls = source
    else:  # "gen:N:PORTS" - a generator, never a list
        _, n, ports = source.split(":", 2)
        ports = ports.split(",")
        urls = (f"http://127.0.0.1:{ports[i % len(ports)]}/item/{i}" for i in range(int(n)))
    started = time.perf_counter()
    summary = distributed.crawl(urls, out, scheduler=cluster.scheduler_address,
                                shard_size=int(shard_size), concurrency=int(conc))
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cluster.close()
    print(json.dumps({"urls": summary.urls, "errors": summary.errors, "shards": summary.shards,
                      "seconds": round(seconds, 3), "rate": round(summary.urls / seconds),
                      "driver_peak_rss_mib": round(rss, 1)}))
"""


def _timed(argv: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv} failed: {done.stderr[-2000:]}")
    return seconds, done.stderr.strip().splitlines()[-1]


def _lines(path: str) -> int:
    if os.path.isdir(path):
        return sum(_lines(os.path.join(path, n)) for n in os.listdir(path) if n.startswith("part-"))
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE)
    parser.add_argument("-c", "--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3, help="single and --dask CLI runs, in turn (medians)")
    parser.add_argument("--generator", type=int, default=None, help="URLs of the larger generator run (default 5N)")
    args = parser.parse_args()
    large_count = args.generator or 5 * args.count
    if shutil.which("nginx") is None:
        sys.exit("needs nginx (apt-get install nginx)")
    for attempt in range(3):  # a port picked free can be taken before nginx binds it
        try:
            server = Nginx(LOCATION, ports=args.hosts)
            break
        except RuntimeError:
            if attempt == 2:
                raise
    work = tempfile.mkdtemp(prefix="requestx-crawl-bench-work-")
    try:
        urls = os.path.join(work, "urls.txt")
        with open(urls, "w") as f:
            for i in range(args.count):
                f.write(f"http://127.0.0.1:{server.ports[i % args.hosts]}/item/{i}\n")
        conc = str(args.concurrency)
        py = sys.executable
        results: dict[str, dict[str, object]] = {}

        # The single-process and the `--dask local` runs in turn, `--repeat` times: pairing keeps
        # their ratio meaningful on a shared machine whose speed drifts; medians are reported.
        single_cli = [py, "-m", "requestx", "crawl", urls, "-o", f"{work}/single.jsonl", "-c", conc, "-q"]
        dask_cli = [py, "-m", "requestx", "crawl", urls, "-o", f"{work}/dask-cli", "-c", conc, "-q",
                    "--dask", f"local:{args.workers}", "--shard-size", str(args.shard_size)]  # fmt: skip
        pairs: list[tuple[float, float]] = []
        for _ in range(args.repeat):
            shutil.rmtree(f"{work}/dask-cli", ignore_errors=True)  # else the next run resumes it
            if os.path.exists(f"{work}/single.jsonl"):
                os.unlink(f"{work}/single.jsonl")
            single_seconds, single_line = _timed(single_cli)
            assert _lines(f"{work}/single.jsonl") == args.count
            dask_seconds, dask_line = _timed(dask_cli)
            assert _lines(f"{work}/dask-cli") == args.count
            pairs.append((single_seconds, dask_seconds))
        single_seconds = statistics.median(p[0] for p in pairs)
        dask_seconds = statistics.median(p[1] for p in pairs)
        results["single_process_cli"] = {
            "seconds": round(single_seconds, 3), "rate": round(args.count / single_seconds), "cli": single_line,
            "runs": [round(p[0], 3) for p in pairs],
        }  # fmt: skip
        results["dask_cli_local"] = {
            "seconds": round(dask_seconds, 3), "rate": round(args.count / dask_seconds), "cli": dask_line,
            "runs": [round(p[1], 3) for p in pairs],
            "pair_fractions": [round(p[0] / p[1], 3) for p in pairs],
        }  # fmt: skip

        script = os.path.join(work, "api_run.py")
        with open(script, "w") as f:
            f.write(API_RUN)
        steady = [py, script, "file", urls, f"{work}/dask-api", str(args.workers), str(args.shard_size), conc]
        results["dask_api_steady"] = json.loads(
            subprocess.run(steady, capture_output=True, text=True, check=True, cwd=ROOT).stdout
        )
        ports = ",".join(map(str, server.ports))
        for n in (args.count, large_count):
            out = f"{work}/dask-gen-{n}"
            gen = [py, script, "gen", f"gen:{n}:{ports}", out, str(args.workers), str(args.shard_size), conc]
            results[f"dask_api_generator_{n}"] = json.loads(
                subprocess.run(gen, capture_output=True, text=True, check=True, cwd=ROOT).stdout
            )
        for name, row in results.items():
            print(json.dumps({"row": name, **row}))
        single = float(results["single_process_cli"]["rate"])  # type: ignore[arg-type]
        dist = float(results["dask_api_steady"]["rate"])  # type: ignore[arg-type]
        cli = float(results["dask_cli_local"]["rate"])  # type: ignore[arg-type]
        small = results[f"dask_api_generator_{args.count}"]["driver_peak_rss_mib"]
        large = results[f"dask_api_generator_{large_count}"]["driver_peak_rss_mib"]
        print(
            json.dumps(
                {
                    "summary": {
                        "urls": args.count,
                        "hosts": args.hosts,
                        "single_rate": single,
                        "dask_steady_rate": dist,
                        "dask_cli_rate_with_cluster_start": cli,
                        "steady_fraction_of_single": round(dist / single, 3),
                        "cli_fraction_of_single": round(cli / single, 3),
                        "overhead_us_per_url": round(1e6 / dist - 1e6 / single, 2),
                        "driver_peak_rss_mib": {str(args.count): small, str(large_count): large},
                    }
                }
            )
        )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
