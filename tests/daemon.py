"""Start and stop a real ``dld serve`` process for tests, and talk to its API with plain HTTP.

Each ``DaemonProc`` gets a data directory of its own, listens on a port the kernel picks (``--listen
127.0.0.1:0``; the daemon writes the bound address to ``<data dir>/listen.addr``), and is stopped by its own PID.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.nginx import stop_process

REPO = Path(__file__).resolve().parent.parent


def poll(fn, timeout: float = 30.0, interval: float = 0.02, what: str = "condition"):  # noqa: ANN001, ANN201
    """Call ``fn`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class DaemonProc:
    def __init__(self, data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.extra = list(extra)
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.addr = ""

    # ---- lifetime ----------------------------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> DaemonProc:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        addr_file = self.data_dir / "listen.addr"
        if addr_file.exists():
            addr_file.unlink()
        env = {**os.environ, "DLD_RETRY_BASE_S": "0.05", "DLD_RETRY_MAX_S": "0.5", **self.env}
        self.log_path = self.data_dir / f"daemon-{int(time.time() * 1000)}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dld", "serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir),
             *self.extra],
            cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT)

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"dld serve exited with {self.proc.returncode}:\n{self.log()}")
            return addr_file.exists() and addr_file.read_text().endswith("\n")

        poll(ready, timeout, what="dld serve to listen")
        self.addr = addr_file.read_text().strip()
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        rc = stop_process(proc, timeout, sig)
        self._log.close()
        return rc

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        self._log.close()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    @property
    def url(self) -> str:
        return f"http://{self.addr}"

    @property
    def mountpath(self) -> Path:
        return self.data_dir / "mp0"

    def object_file(self, bucket: str, name: str, provider: str = "ais") -> Path:
        return self.mountpath / "buckets" / provider / "_" / bucket / name

    # ---- API ---------------------------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                raw: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        host, port = self.addr.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        out = r.read()
        conn.close()
        headers: dict[str, str] = {}
        for k, v in r.getheaders():  # repeated headers joined with ", ", as RFC 9110 §5.3 allows
            k = k.lower()
            headers[k] = f"{headers[k]}, {v}" if k in headers else v
        return r.status, headers, out

    def api(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, _, data = self.request(method, path, body)
        assert status == expect, f"{method} {path} -> {status}: {data[:500]!r}"
        return json.loads(data) if data else None

    def start_job(self, body: dict[str, Any]) -> str:
        return self.api("POST", "/v1/download", body)["id"]

    def status(self, job_id: str, only_active: bool = False) -> dict[str, Any]:
        return self.api("GET", "/v1/download", {"id": job_id, "only_active_tasks": only_active})

    def wait(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            st = self.status(job_id, only_active=True)
            return st if st["finished_time"] != "0001-01-01T00:00:00Z" else None

        poll(done, timeout, interval=0.05, what=f"job {job_id} to finish")
        return self.status(job_id)
