"""nginx in the foreground on free loopback ports, its config and logs in a temp dir: the server
of the project's own benchmark scripts (benchmarks/soak.py, benchmarks/crawl_dask.py)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

CONFIG = """\
worker_processes 1;
worker_rlimit_nofile 16384;
{user}
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    tcp_nodelay on;
    keepalive_timeout 300s;
    keepalive_requests 1000000000;   # the default (1000) would reconnect every 1000 requests
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    server {{
{listens}
        {location}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Nginx:
    """Serves `location` (an nginx `location` block) on `ports` free loopback ports."""

    def __init__(self, location: str, ports: int = 1, binary: str = "nginx") -> None:
        self.tmp = tempfile.mkdtemp(prefix="requestx-bench-nginx-")
        os.chmod(self.tmp, 0o755)
        self.ports = [free_port() for _ in range(ports)]
        listens = "\n".join(f"        listen 127.0.0.1:{p} backlog=4096;" for p in self.ports)
        user = "user root;" if os.geteuid() == 0 else ""
        with open(f"{self.tmp}/nginx.conf", "w") as f:
            f.write(CONFIG.format(tmp=self.tmp, listens=listens, location=location, user=user))
        conf, log = f"{self.tmp}/nginx.conf", f"{self.tmp}/error.log"
        self.proc = subprocess.Popen(
            [binary, "-p", self.tmp, "-c", conf, "-e", log, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                for port in self.ports:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    err = self.proc.stderr.read().decode() if self.proc.poll() is not None and self.proc.stderr else ""
                    self.stop()
                    raise RuntimeError(f"nginx did not start: {err or 'timeout'}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # fast shutdown, workers included
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stderr:
            self.proc.stderr.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
