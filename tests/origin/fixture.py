"""Start, query and stop the test origin (``tests.origin.server``) from tests and benchmarks.

Why a subprocess and not an in-process thread: the origin must keep serving while a test blocks, and the daemon
under test must see real sockets with real resets. The server is run as ``sys.executable -m tests.origin.server``
from the repository root (computed from this file), told ``--port 0``, and we read its one ``PORT <n>`` line.

URL interface (all query parameters combinable, unknown ones ignored so tests can add cache-busters):

``GET|HEAD /obj/<name>``
    Deterministic content ``tests.origin.content.expected_bytes(name, size, version)``; ``<name>`` is the
    percent-decoded rest of the path (may contain ``/``). ``size=N`` (default 1024; suffixes ``k``/``m``/``g``).
    Headers: Content-Length, strong ETag (``content.etag_for``), Last-Modified (``content.last_modified_for``,
    fixed per version), Accept-Ranges: bytes. Range ``bytes=a-b`` / ``a-`` / ``-n`` → 206 + Content-Range, or 416
    with ``Content-Range: bytes */size``; multi-range or malformed Range → ignored (200). If-Range (ETag, strong
    compare, or exact date) mismatch → 200 full. If-None-Match / If-Modified-Since → 304 without body.
    If-Match / If-Unmodified-Since → 412. Range is honoured on HEAD too (206 headers).
``GET|HEAD /files/<path>``
    A real file below ``--data-dir`` (sendfile on plain HTTP); same header, Range and conditional logic and the
    same fault parameters. ETag ``"<mtime_ns hex>-<size hex>"``. Stats key is ``/files/<path>``.

Fault and variant parameters. ``times=K`` limits each mode to the first K *applicable* requests for that object,
counted per (object, mode) on the server; without ``times`` a mode applies to every request.
``delay`` and ``status`` count every GET/HEAD; ``reset``/``short``/``stall``/``corrupt`` count only GETs that
reach the body (not 304/412/416 or HEAD).

* ``reset=N``: headers + N body bytes, then TCP RST (SO_LINGER 0) after the bytes left the send queue.
* ``short=N``: full Content-Length declared, N bytes sent, then clean FIN.
* ``stall=N``: N bytes sent, then nothing until the client closes the connection.
  For these three, N is clamped to ``body_length - 1`` so the fault is always observable; precedence if several
  are active at once: reset, short, stall.
* ``status=CODE`` [``retry_after=S``]: error response with a short text body (and Retry-After).
* ``redirect=K``: ``302`` (or ``redirect_status=301|303|307|308``) to the same URL with ``redirect=K-1``
  (dropped at 0); ``redirect_to=/abs/path?q`` is where the last hop goes instead (alone: one hop there).
  Locations are absolute (built from Host). ``times`` does not apply to redirects.
* ``norange=1``: Range and If-Range ignored, no Accept-Ranges.
* ``novalidators=1``: no ETag, no Last-Modified (s3-etag's ETag is suppressed too).
* ``corrupt=1``: correct length and headers, but the middle byte of every ≤1 MiB body chunk is flipped.
* ``digest=K1,K2``: ``goog-hash`` (x-goog-hash crc32c+md5), ``s3-etag`` (ETag = "md5hex"), ``s3-crc32c``
  (x-amz-checksum-crc32c, 200 only), ``azure-md5`` (Content-MD5 on 200, x-ms-blob-content-md5 on 206),
  ``repr-digest-sha256`` (Repr-Digest), ``content-digest-sha512`` (Content-Digest of *this response's* bytes),
  ``digest-sha256`` / ``digest-md5`` (RFC 3230 Digest). All whole-object values, computed over the correct bytes.
* ``delay_ms=N``: sleep before answering.
* ``goog_generation=1``: add ``x-goog-generation`` (changes with the version), as GCS sends with every object.

Control endpoints (JSON): ``GET /_ping``; ``GET /_stats`` →
``{"requests", "body_bytes", "conditional_304", "per_object": {key: {"requests", "body_bytes",
"statuses": {"200": n}, "ranges": [...<=100], "faults": {mode: n}}}}``; ``POST /_reset_stats``;
``POST /_reset_faults`` (fault counters); ``POST /_reset`` (both); ``POST /_version?name=N&version=V``
(``GET /_version?name=N`` reads it).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import select
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from bench.nginx import stop_process

#: Repository root: ``tests/origin/fixture.py`` → two levels up from ``tests``.
REPO_ROOT = Path(__file__).resolve().parent.parent.parent

T = TypeVar("T")


def poll_until(
    predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.01, what: str = ""
) -> T:
    """Return the first truthy ``predicate()`` result, or raise ``TimeoutError`` after ``timeout`` seconds.

    Tests must not sleep a fixed time; they wait for an observable condition with a deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout} s: {what or predicate!r}")
        time.sleep(interval)


class Origin:
    """Handle on one running test-origin process.

    ``Origin().start(tmp_path)`` (plain HTTP) or ``Origin().start(tmp_path, tls=True)`` (HTTPS with a fresh
    trustme CA issuing a certificate for 127.0.0.1, localhost and ::1; ``ca_path`` is the CA PEM to give the
    client, e.g. pycurl ``CAINFO``). Usable as a context manager.
    """

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.scheme = "http"
        self.ca_path: Path | None = None
        self.cert_path: Path | None = None
        self.key_path: Path | None = None
        self.data_dir: Path | None = None
        self.log_path: Path | None = None
        self._ssl_ctx: ssl.SSLContext | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------

    def start(
        self,
        tmp_path: Path | str,
        tls: Any = None,
        *,
        data_dir: Path | str | None = None,
        timeout: float = 20.0,
        extra_args: tuple[str, ...] = (),
    ) -> Origin:
        """Launch the server; files (log, TLS material, default data dir) go under ``tmp_path``.

        ``tls``: falsy for HTTP, ``True`` for a new trustme CA, or a ``trustme.CA`` to issue from.
        ``data_dir``: served under ``/files/``; defaults to ``tmp_path/data`` (created), exposed as ``data_dir``.
        """
        if self.proc is not None:
            raise RuntimeError("origin already started")
        tmp = Path(tmp_path)
        tmp.mkdir(parents=True, exist_ok=True)
        self.data_dir = Path(data_dir) if data_dir is not None else tmp / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            "tests.origin.server",
            "--port",
            "0",
            "--data-dir",
            str(self.data_dir),
            "--exit-with-parent",
            *extra_args,
        ]
        if tls:
            self._make_tls(tmp, tls)
            argv += ["--tls-cert", str(self.cert_path), "--tls-key", str(self.key_path)]
            self.scheme = "https"
        self.log_path = tmp / "origin.log"
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                close_fds=True,
            )
        try:
            self.port = self._read_port(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _make_tls(self, tmp: Path, tls: Any) -> None:
        import trustme

        ca = tls if isinstance(tls, trustme.CA) else trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
        d = tmp / "tls"
        d.mkdir(exist_ok=True)
        self.ca_path, self.cert_path, self.key_path = d / "ca.pem", d / "server.pem", d / "server.key"
        ca.cert_pem.write_to_path(str(self.ca_path))
        cert.private_key_pem.write_to_path(str(self.key_path))
        with open(self.cert_path, "wb") as f:
            for blob in cert.cert_chain_pems:
                f.write(blob.bytes())
        self._ssl_ctx = ssl.create_default_context(cafile=str(self.ca_path))

    def _read_port(self, timeout: float) -> int:
        """Read ``PORT <n>`` from the child's stdout with a deadline (a hung start must fail the test, not hang it)."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"origin did not report its port within {timeout} s; log: {self._log_tail()}"
                )
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                rc = self.proc.wait(5)
                raise RuntimeError(
                    f"origin exited with {rc} before reporting its port; log: {self._log_tail()}"
                )
            buf += chunk
        line = buf.split(b"\n", 1)[0].decode()
        kw, _, val = line.partition(" ")
        if kw != "PORT" or not val.isdigit():
            raise RuntimeError(f"unexpected first line from origin: {line!r}")
        return int(val)

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:] if self.log_path else ""
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM our own child by PID, wait, SIGKILL if it does not exit in ``timeout``; returns the exit code."""
        proc, self.proc = self.proc, None
        rc = stop_process(proc, timeout)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        return rc

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def __enter__(self) -> Origin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- URLs -----------------------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("origin not started")
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        """Absolute URL for ``path`` (which must start with ``/`` and already be percent-encoded)."""
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url + path

    @staticmethod
    def obj_path(name: str, size: int | None = None, **params: Any) -> str:
        """``/obj/<quoted name>?size=..&k=v`` (``None`` values dropped, booleans as 1/0)."""
        q: dict[str, Any] = {}
        if size is not None:
            q["size"] = size
        for k, v in params.items():
            if v is None:
                continue
            q[k] = int(v) if isinstance(v, bool) else v
        return "/obj/" + quote(name, safe="/") + ("?" + urlencode(q) if q else "")

    def obj_url(self, name: str, size: int | None = None, **params: Any) -> str:
        return self.url(self.obj_path(name, size, **params))

    # -- control --------------------------------------------------------------------------------------------

    def connection(self, timeout: float = 10.0) -> http.client.HTTPConnection:
        """A fresh stdlib connection to the origin (HTTPS verified against ``ca_path``)."""
        if self.port is None:
            raise RuntimeError("origin not started")
        if self.scheme == "https":
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self._ssl_ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(
        self, method: str, path: str, headers: Mapping[str, str] | None = None, timeout: float = 30.0
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One request on a new connection: ``(status, headers, body)``."""
        conn = self.connection(timeout)
        try:
            conn.request(method, path, headers=dict(headers or {}))
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def _control(self, method: str, path: str) -> Any:
        status, _, body = self.request(method, path)
        if status != 200:
            raise RuntimeError(f"{method} {path} → {status}: {body[:200]!r}")
        return json.loads(body)

    def ping(self) -> bool:
        with contextlib.suppress(OSError, RuntimeError):
            return bool(self._control("GET", "/_ping").get("ok"))
        return False

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "/_stats")

    def object_stats(self, key: str) -> dict[str, Any]:
        """Per-object stats (zeroes if the object was never requested)."""
        return self.stats()["per_object"].get(
            key, {"requests": 0, "body_bytes": 0, "statuses": {}, "ranges": [], "faults": {}}
        )

    def reset_stats(self) -> None:
        self._control("POST", "/_reset_stats")

    def reset_faults(self) -> None:
        self._control("POST", "/_reset_faults")

    def reset(self) -> None:
        """Stats and fault counters (object versions are kept)."""
        self._control("POST", "/_reset")

    def set_version(self, name: str, version: int) -> None:
        self._control("POST", "/_version?" + urlencode({"name": name, "version": int(version)}))

    def get_version(self, name: str) -> int:
        return int(self._control("GET", "/_version?" + urlencode({"name": name}))["version"])
