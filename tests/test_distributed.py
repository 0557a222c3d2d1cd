"""`requestx.distributed` / `requestx crawl --dask` on a real LocalCluster (2 worker processes)
against loopback servers: many ports of one server process count as many hosts."""

from __future__ import annotations

import collections
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import typing
import urllib.request

import pytest

from requestx._distributed.output import CrawlError
from requestx._distributed.sharding import Sharder, bucket_of, host_key

from .conftest import ROOT

# --- servers and the cluster --------------------------------------------------------------------


class Hosts:
    """`tests/servers/hosts.py` in its own process: N ports, per-port request counters."""

    def __init__(self, n: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.servers.hosts", str(n)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.ports: list[int] = json.loads(self.proc.stdout.readline())
        self.bases = [f"http://127.0.0.1:{port}" for port in self.ports]

    def stats(self) -> dict[int, dict[str, typing.Any]]:
        with urllib.request.urlopen(f"{self.bases[0]}/stats", timeout=10) as r:
            return {int(port): value for port, value in json.loads(r.read()).items()}

    def reset(self) -> None:
        urllib.request.urlopen(f"{self.bases[0]}/reset", timeout=10).read()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def hosts() -> typing.Iterator[Hosts]:
    h = Hosts(16)
    yield h
    h.stop()


@pytest.fixture(scope="module")
def cluster() -> typing.Iterator[typing.Any]:
    distributed = pytest.importorskip("distributed")
    c = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, silence_logs=logging.ERROR
    )
    yield c
    c.close()


@pytest.fixture
def dask_client(cluster: typing.Any) -> typing.Iterator[typing.Any]:
    import distributed

    with distributed.Client(cluster.scheduler_address, timeout=20) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


def _parts(out: str) -> list[str]:
    return sorted(name for name in os.listdir(out) if name.startswith("part-"))


def _records(out: str) -> list[dict[str, typing.Any]]:
    records = []
    for name in _parts(out):
        with open(os.path.join(out, name), encoding="utf-8") as f:
            records.extend(json.loads(line) for line in f)
    return records


def _wait_for(condition: typing.Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "requestx", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


# --- sharding (no cluster needed) ---------------------------------------------------------------


def test_host_keys_match_the_pools_per_host_keys() -> None:
    assert host_key("http://Example.COM/a") == "example.com:80"
    assert host_key("https://example.com/a") == "example.com:443"
    assert host_key("http://example.com:8080/") == "example.com:8080"
    assert host_key("http://bücher.de/") == "xn--bcher-kva.de:80"
    assert host_key("not a url") == host_key("http://[::1") == ""


def test_sharding_is_deterministic_in_order_and_bounded() -> None:
    urls = [f"http://127.0.0.{i % 7}:{8000 + i % 5}/x?i={i}" for i in range(5000)]
    first = list(Sharder(100, 16, 400).shards(iter(urls)))
    assert first == list(Sharder(100, 16, 400).shards(iter(urls)))  # a rerun cuts the same shards
    assert [s.number for s in first] == list(range(len(first)))
    assert all(1 <= len(s.urls) <= 100 for s in first)
    assert all(bucket_of(u, 16) == s.bucket for s in first for u in s.urls)
    assert sorted(u for s in first for u in s.urls) == sorted(urls)
    by_bucket: dict[int, list[str]] = collections.defaultdict(list)
    for s in first:
        by_bucket[s.bucket].extend(s.urls)
    for bucket, seen in by_bucket.items():  # a bucket's URLs keep their input order across shards
        assert seen == [u for u in urls if bucket_of(u, 16) == bucket]


def test_sharding_holds_a_bounded_number_of_urls() -> None:
    held_most = 0
    pulled = 0

    def urls() -> typing.Iterator[str]:
        nonlocal pulled
        for i in range(100_000):
            pulled += 1
            yield f"http://host{i % 3000}.example/{i}"

    handed = 0
    for shard in Sharder(1000, 1024, 5000).shards(urls()):
        handed += len(shard.urls)
        held_most = max(held_most, pulled - handed)
    assert handed == 100_000
    assert held_most <= 5001  # many hosts: the fullest bucket goes early past buffer_limit


# --- crawls on the cluster ----------------------------------------------------------------------


def test_crawl_of_20000_urls_over_many_hosts_writes_each_exactly_once(
    cluster: typing.Any, hosts: Hosts, tmp_path: typing.Any
) -> None:
    from requestx import distributed

    urls = [f"{hosts.bases[i % 16]}/item?i={i}" for i in range(20_000)]
    odd = ["not a url", "http://127.0.0.1:1/refused", f"{hosts.bases[0]}/item?i=slow&delay=3", f"{hosts.bases[1]}/x"]
    source = tmp_path / "urls.txt"
    source.write_text("# comment\n\n" + "\n".join(urls + odd) + "\n")
    out = str(tmp_path / "out")
    finished: list[typing.Any] = []
    summary = distributed.crawl(
        str(source),
        out,
        client={"timeout": 1.0},
        scheduler=cluster.scheduler_address,
        shard_size=500,
        concurrency=32,
        on_shard=finished.append,
    )
    records = _records(out)
    assert len(records) == len(urls) + len(odd)
    assert collections.Counter(r["url"] for r in records) == collections.Counter(urls + odd)  # exactly once
    by_url = {r["url"]: r for r in records}
    assert all(by_url[u]["status"] == 200 and by_url[u]["error"] is None for u in urls)
    assert by_url["not a url"]["error"].startswith("UnsupportedProtocol")
    assert by_url["http://127.0.0.1:1/refused"]["error"].startswith("ConnectError")
    assert by_url[odd[2]]["error"].startswith("ReadTimeout")
    assert by_url[odd[3]]["status"] == 404
    assert summary.urls == len(records) and summary.errors == 4 and summary.skipped_shards == 0
    assert summary.shards == len(_parts(out)) == len(finished) and summary.shards >= 40
    assert {r.worker for r in finished} and len({r.worker for r in finished}) == 2  # both workers ran shards
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]
    for name in _parts(out):  # a part holds one host bucket
        with open(os.path.join(out, name)) as f:
            assert len({bucket_of(json.loads(line)["url"], 1024) for line in f}) == 1
    # Run again: every shard is skipped, nothing is fetched, and no cluster is needed.
    again = distributed.crawl(str(source), out, scheduler="tcp://127.0.0.1:1")
    assert again.urls == 0 and again.skipped_urls == len(records) and again.skipped_errors == 4
    # The input changed since: the folder's parts no longer match its shards.
    source.write_text("\n".join(reversed(urls)) + "\n")
    with pytest.raises(CrawlError, match="URL list changed"):
        distributed.crawl(str(source), out, scheduler="tcp://127.0.0.1:1")


def test_per_host_concurrency_and_rate_hold_across_the_cluster(
    cluster: typing.Any, hosts: Hosts, tmp_path: typing.Any
) -> None:
    from requestx import distributed

    hosts.reset()
    # 4 hosts, each spanning 6 shards: shards of one host on two workers at once would double
    # its concurrency.
    limited = hosts.bases[:4]
    urls = [f"{base}/item?i={i}&delay=0.03" for i in range(60) for base in limited]
    distributed.crawl(
        urls, str(tmp_path / "conc"), scheduler=cluster.scheduler_address, shard_size=10, concurrency=16, per_host=2
    )
    stats = hosts.stats()
    assert [stats[p]["max"] for p in hosts.ports[:4]] == [2, 2, 2, 2]
    assert [stats[p]["count"] for p in hosts.ports[:4]] == [60, 60, 60, 60]

    hosts.reset()
    rate = 40.0
    paced = hosts.bases[4:7]
    urls = [f"{base}/item?i={i}" for i in range(24) for base in paced]
    distributed.crawl(
        urls, str(tmp_path / "rate"), scheduler=cluster.scheduler_address, shard_size=8, concurrency=16, rate=rate
    )
    stats = hosts.stats()
    for port in hosts.ports[4:7]:
        starts = sorted(stats[port]["starts"])
        assert len(starts) == 24
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        # Starts to one host 1/rate apart, across shard boundaries and workers too. The server sees
        # arrivals: one request delayed on a loaded machine shortens the gap after it and lengthens
        # the one before by as much, so a short gap must make up for it with its predecessor. Two
        # shards of a host at once, or a boundary with no pause, leave short gaps that do not.
        interval = 1 / rate
        for i, gap in enumerate(gaps):
            if gap < 0.8 * interval:
                assert i > 0 and gaps[i - 1] + gap >= 1.8 * interval, (port, i, gaps)
        assert starts[-1] - starts[0] >= 0.95 * interval * (len(starts) - 1), (port, gaps)


def test_a_worker_killed_mid_crawl_changes_nothing_in_the_output(
    cluster: typing.Any, dask_client: typing.Any, hosts: Hosts, tmp_path: typing.Any
) -> None:
    from requestx import distributed

    hosts.reset()
    urls = [f"{hosts.bases[i % 8]}/item?i={i}&delay=0.02" for i in range(4000)]
    out = str(tmp_path / "out")
    outcome: list[typing.Any] = []

    def run() -> None:
        try:
            outcome.append(
                distributed.crawl(urls, out, scheduler=cluster.scheduler_address, shard_size=200, concurrency=8)
            )
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        _wait_for(lambda: os.path.isdir(out) and len(_parts(out)) >= 2, "the first parts")
        pids = dask_client.run(os.getpid)
        busy = [address for address, tasks in dask_client.processing().items() if tasks]
        assert busy, "no worker is running a shard"
        victim = pids[busy[0]]
        os.kill(victim, signal.SIGKILL)
    finally:
        thread.join(120)
    assert not thread.is_alive()
    summary = outcome[0]
    assert not isinstance(summary, BaseException), summary
    records = _records(out)
    assert collections.Counter(r["url"] for r in records) == collections.Counter(urls)
    assert all(r["status"] == 200 for r in records)
    # The killed worker's shard ran again elsewhere: some URLs were fetched twice, written once.
    fetched = sum(s["count"] for s in hosts.stats().values())
    assert fetched > len(urls)
    assert victim not in dask_client.run(os.getpid).values()
    dask_client.wait_for_workers(2, timeout=60)  # the nanny restarted it


def test_cli_sigint_keeps_finished_shards_and_a_rerun_finishes_exactly_once(
    cluster: typing.Any, hosts: Hosts, tmp_path: typing.Any
) -> None:
    urls = [f"{hosts.bases[i % 8]}/item?i={i}&delay=0.05" for i in range(2400)]
    source = tmp_path / "urls.txt"
    source.write_text("\n".join(urls) + "\n")
    out = str(tmp_path / "out")
    args = ["crawl", str(source), "-o", out, "--dask", cluster.scheduler_address, "--shard-size", "100", "-c", "8"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "requestx", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for(lambda: os.path.isdir(out) and len(_parts(out)) >= 2, "the first parts", timeout=60)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    first = _records(out)  # whole parts only
    assert 0 < len(first) < len(urls)
    assert len(first) % 100 == 0
    done = _cli(*args)
    assert done.returncode == 0, done.stderr
    assert "skipped as already done" in done.stderr
    records = _records(out)
    assert collections.Counter(r["url"] for r in records) == collections.Counter(urls)
    assert all(r["status"] == 200 for r in records)


def test_cli_dask_local_end_to_end(hosts: Hosts, tmp_path: typing.Any) -> None:
    pytest.importorskip("distributed")
    urls = [f"{hosts.bases[i % 16]}/item?i={i}" for i in range(600)]
    source = tmp_path / "urls.txt"
    source.write_text("\n".join([*urls, "not a url", f"{hosts.bases[2]}/status/500"]) + "\n")
    out = str(tmp_path / "out")
    done = _cli("crawl", str(source), "-o", out, "--dask", "local:2", "--shard-size", "50", "--retries", "1")
    assert done.returncode == 0, done.stderr
    assert "602 done (2 errors)" in done.stderr
    records = _records(out)
    assert collections.Counter(r["url"] for r in records) == collections.Counter(
        [*urls, "not a url", f"{hosts.bases[2]}/status/500"]
    )
    with open(os.path.join(out, "_manifest.json")) as f:
        assert json.load(f)["shard_size"] == 50
    again = _cli("crawl", str(source), "-o", out, "--dask", "local:2")
    assert again.returncode == 0 and "602 skipped as already done" in again.stderr, again.stderr
    resharded = _cli("crawl", str(source), "-o", out, "--dask", "local:2", "--shard-size", "60")
    assert resharded.returncode == 2 and "shard_size=50" in resharded.stderr


def test_bad_input_is_a_clear_error_and_a_nonzero_exit(hosts: Hosts, tmp_path: typing.Any) -> None:
    pytest.importorskip("distributed")
    source = tmp_path / "urls.txt"
    source.write_text(f"{hosts.bases[0]}/item?i=1\n")
    out = str(tmp_path / "out")
    unreachable = _cli("crawl", str(source), "-o", out, "--dask", "tcp://127.0.0.1:1", "--connect-timeout", "2")
    assert unreachable.returncode == 2 and "cannot reach the Dask scheduler" in unreachable.stderr
    (tmp_path / "file").write_text("")
    unwritable = _cli("crawl", str(source), "-o", str(tmp_path / "file" / "out"), "--dask", "local:1")
    assert unwritable.returncode == 2 and "cannot write to the output folder" in unwritable.stderr
    missing = _cli("crawl", str(tmp_path / "gone.txt"), "-o", out, "--dask", "local:1")
    assert missing.returncode == 2 and "cannot read the URL file" in missing.stderr
    to_stdout = _cli("crawl", str(source), "--dask", "local:1")
    assert to_stdout.returncode == 2 and "writes a folder" in to_stdout.stderr
    bad_local = _cli("crawl", str(source), "-o", out, "--dask", "local:x")
    assert bad_local.returncode == 2 and "local:N" in bad_local.stderr


def test_client_settings_must_be_plain_configuration(tmp_path: typing.Any) -> None:
    import requestx
    from requestx import distributed

    with requestx.Client() as live, pytest.raises(TypeError, match="not a live Client"):
        distributed.crawl([], str(tmp_path / "a"), client=typing.cast(typing.Any, live))
    with pytest.raises(TypeError, match="live objects"):
        distributed.crawl([], str(tmp_path / "b"), client={"transport": requestx.MockTransport(lambda r: None)})
    with pytest.raises(TypeError, match="picklable"):
        distributed.crawl([], str(tmp_path / "c"), client={"headers": {"x": threading.Lock()}})
    with pytest.raises(TypeError):
        distributed.crawl([], str(tmp_path / "d"), client={"no_such_setting": 1})
    with pytest.raises(ValueError, match="per_host"):
        distributed.crawl([], str(tmp_path / "e"), per_host=0)
    with pytest.raises(ValueError, match="rate"):
        distributed.crawl([], str(tmp_path / "f"), rate=0)
    assert not os.listdir(tmp_path)  # refused before anything was written


def test_the_driver_pulls_a_generator_lazily(cluster: typing.Any, hosts: Hosts, tmp_path: typing.Any) -> None:
    from requestx import distributed

    count = 30_000
    pulled = 0
    ahead = 0

    def urls() -> typing.Iterator[str]:
        nonlocal pulled
        for i in range(count):
            pulled += 1
            yield f"{hosts.bases[i % 2]}/item?i={i}"

    done = 0

    def on_shard(result: typing.Any) -> None:
        nonlocal done, ahead
        done += result.count
        ahead = max(ahead, pulled - done)

    summary = distributed.crawl(
        urls(), str(tmp_path / "out"), scheduler=cluster.scheduler_address, shard_size=500, on_shard=on_shard
    )
    assert summary.urls == count
    # Two hosts: at most one shard of each runs, a few wait for their bucket, one fills: the driver
    # holds a bounded number of URLs, never the input.
    assert ahead <= 20 * 500, ahead  # 1 running + 16 held + 1 filling per bucket, at most


def test_a_scheduler_that_goes_away_is_an_error_with_finished_shards_kept(hosts: Hosts, tmp_path: typing.Any) -> None:
    pytest.importorskip("distributed")
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__LOGGING__DISTRIBUTED": "error"}
    scheduler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )
    try:
        urls = [f"{hosts.bases[i % 4]}/item?i={i}&delay=0.05" for i in range(2000)]
        source = tmp_path / "urls.txt"
        source.write_text("\n".join(urls) + "\n")
        out = str(tmp_path / "out")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "requestx",
                "crawl",
                str(source),
                "-o",
                out,
                "--dask",
                address,
                "--shard-size",
                "100",
                "-c",
                "8",
                "--connect-timeout",
                "20",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(lambda: os.path.isdir(out) and len(_parts(out)) >= 1, "the first part", timeout=60)
            killed = time.monotonic()
            scheduler.kill()
            _, stderr = proc.communicate(timeout=90)
            took = time.monotonic() - killed
        finally:
            proc.kill()
        assert proc.returncode == 2, stderr
        assert "lost the connection to the Dask scheduler" in stderr
        assert took < 15, took  # at once, not after the client's 20 s of reconnecting
        kept = _records(out)
        assert kept and len(kept) % 100 == 0 and len({r["url"] for r in kept}) == len(kept)
    finally:
        for p in (worker, scheduler):
            p.kill()
            p.wait()
