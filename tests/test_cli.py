"""The command line, run as a user would (`python -m requestx ...` in a subprocess) against real servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import typing

from .conftest import Server


def _cli(*args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "requestx", *args], input=stdin, capture_output=True, text=True, timeout=timeout
    )


def _records(path: str) -> list[dict[str, typing.Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_get_prints_json_and_checks_status(server: Server) -> None:
    done = _cli("get", f"{server.url}/echo", "-v", "-H", "X-Test: yes")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("HTTP/1.1 200 OK\n")
    body = json.loads(done.stdout.split("\n\n", 1)[1])
    assert ["x-test", "yes"] in body["headers"]
    assert _cli("get", f"{server.url}/status/404").returncode == 0
    assert _cli("get", f"{server.url}/status/404", "--check").returncode == 1
    posted = _cli("post", f"{server.url}/echo", "--json", '{"a": 1}')
    assert json.loads(json.loads(posted.stdout)["body"]) == {"a": 1}
    form = _cli("post", f"{server.url}/echo", "--form", "a=1", "--form", "b=x y")
    assert json.loads(form.stdout)["body"] == "a=1&b=x+y"
    failed = _cli("get", "http://127.0.0.1:1/")
    assert failed.returncode == 2 and "ConnectError" in failed.stderr


def test_crawl_writes_one_record_per_url(server: Server, tmp_path: typing.Any) -> None:
    urls = [f"{server.url}/track?group=cli&i={i}" for i in range(50)]
    lines = ["# a comment", "", *urls, "not a url", "http://127.0.0.1:1/refused", f"{server.url}/status/500"]
    (tmp_path / "urls.txt").write_text("\n".join(lines) + "\n")
    out = str(tmp_path / "out.jsonl")
    done = _cli("crawl", str(tmp_path / "urls.txt"), "-o", out, "-c", "8")
    assert done.returncode == 0, done.stderr
    records = {r["url"]: r for r in _records(out)}
    assert len(records) == 53
    assert all(records[u]["status"] == 200 and records[u]["size"] > 0 and records[u]["error"] is None for u in urls)
    assert records["not a url"]["error"].startswith("UnsupportedProtocol")
    assert records["http://127.0.0.1:1/refused"]["error"].startswith("ConnectError")
    assert records[f"{server.url}/status/500"]["status"] == 500
    assert "53 done (3 errors)" in done.stderr


def test_crawl_reads_stdin_and_writes_stdout(server: Server) -> None:
    done = _cli("crawl", "-", stdin=f"{server.url}/small\n{server.url}/small?x=1\n")
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(line)["url"] for line in done.stdout.splitlines()) == [
        f"{server.url}/small",
        f"{server.url}/small?x=1",
    ]


def test_crawl_retries_and_rate(server: Server, tmp_path: typing.Any) -> None:
    (tmp_path / "urls.txt").write_text(f"{server.url}/flaky?key=cli-retry&fail=1&status=503\n")
    out = str(tmp_path / "out.jsonl")
    assert _cli("crawl", str(tmp_path / "urls.txt"), "-o", out, "--retries", "2", "--rate", "50").returncode == 0
    assert [r["status"] for r in _records(out)] == [200]


def test_crawl_stops_cleanly_on_sigint_and_resumes(server: Server, tmp_path: typing.Any) -> None:
    urls = [f"{server.url}/slow?delay=0.1&i={i}" for i in range(400)]
    (tmp_path / "urls.txt").write_text("\n".join(urls) + "\n")
    out = str(tmp_path / "out.jsonl")
    proc = subprocess.Popen(
        [sys.executable, "-m", "requestx", "crawl", str(tmp_path / "urls.txt"), "-o", out, "-c", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (os.path.exists(out) and os.path.getsize(out) > 0):  # the crawl is under way
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    first = _records(out)  # every line whole: nothing cut short
    assert 0 < len(first) < len(urls)
    done = _cli("crawl", str(tmp_path / "urls.txt"), "-o", out, "-c", "64")
    assert done.returncode == 0, done.stderr
    assert f"{len(first):,} skipped as already done" in done.stderr
    records = _records(out)
    assert sorted(r["url"] for r in records) == sorted(urls)  # each URL exactly once
    assert all(r["status"] == 200 for r in records)


def test_resume_repairs_a_torn_last_line(server: Server, tmp_path: typing.Any) -> None:
    url = f"{server.url}/small"
    (tmp_path / "urls.txt").write_text(f"{url}\n{url}?b\n")
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"url": url, "status": 200}) + '\n{"url": "' + url + "?b")
    assert _cli("crawl", str(tmp_path / "urls.txt"), "-o", str(out)).returncode == 0
    assert [r["url"] for r in _records(str(out))] == [url, url + "?b"]


def test_demo_crawls_an_embedded_server() -> None:
    done = _cli("demo", "--count", "3000")
    assert done.returncode == 0, done.stderr
    assert "done: 3,000 ok, 0 errors" in done.stdout
