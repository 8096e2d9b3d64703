"""Shared helpers of the downloader integration tests (``test_download_api``, ``test_faults``, ``test_jobs_lifecycle``,
``test_doc_examples``).

* ``uniq`` names: the session daemon and origin are shared, so every test uses its own bucket and object names.
* ``assert_err``: AIS's ``ErrHTTP`` body, exactly: the key set, the types, the status echoed, the exact message.
* ``HeaderRecorder``: a tiny real HTTP server that records the request headers it receives and can send a body
  without Content-Length (chunked), slowly, so tests can see what dld sends to an origin and how it reports
  a body of unknown length. The test origin (``tests/origin``) exposes only the ``Range`` header it received.
* ``listing``: names in a bucket, through the daemon's own bucket-list API.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

ZERO_TIME = "0001-01-01T00:00:00Z"
# "dnl-" + AIS shortid (§1.3): 9 characters of the alphabet, an uppercase letter prepended when the first is not a
# letter, a lowercase letter appended when the last is "-" or "_": 9..11 characters, starting with a letter.
SHORTID_ALPHABET = "-5nZJDft6LuzsjGNpPwY7rQa39vehq4i1cV2FROo8yHSlC0BUEdWbIxMmTgKXAk_"
JOB_ID_RE = re.compile(r"^dnl-[A-Za-z][" + re.escape(SHORTID_ALPHABET) + r"]{8,10}$")
ERR_KEYS = {"message", "method", "url_path", "remote_addr", "caller", "node", "status"}
GO_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


def uniq(prefix: str = "t") -> str:
    """A bucket/object name no other test uses (letters, digits and dashes: a valid AIS bucket name)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def assert_job_id(job_id: str) -> None:
    assert JOB_ID_RE.match(job_id), f"job ID {job_id!r} is not dnl- + an AIS shortid"
    sid = job_id[4:]
    assert sid[-1] not in "-_", job_id


def err_body(data: bytes) -> dict[str, Any]:
    body = json.loads(data)
    assert isinstance(body, dict), body
    return body


def assert_err(resp: tuple[int, dict[str, str], bytes], status: int, message: str | None = None, *,
               method: str | None = None, path: str | None = None, contains: str | None = None) -> dict[str, Any]:
    """Check an AIS ``ErrHTTP`` answer: status, JSON keys and types, and the exact ``message`` (or a fragment)."""
    code, headers, data = resp
    assert code == status, f"expected {status}, got {code}: {data[:400]!r}"
    assert headers.get("content-type", "").startswith("application/json"), headers
    body = err_body(data)
    keys = set(body) - {"tcode"}
    assert keys == ERR_KEYS, f"ErrHTTP keys {sorted(body)}"
    assert body["status"] == status
    for k in ERR_KEYS - {"status"}:
        assert isinstance(body[k], str), (k, body)
    if method is not None:
        assert body["method"] == method
    if path is not None:
        assert body["url_path"] == path
    if message is not None:
        assert body["message"] == message, f"message {body['message']!r} != {message!r}"
    if contains is not None:
        assert contains in body["message"], f"{contains!r} not in {body['message']!r}"
    return body


def post(d: Any, body: Any) -> tuple[int, dict[str, str], bytes]:
    return d.request("POST", "/v1/download", body)


def post_raw(d: Any, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    return d.request("POST", "/v1/download", raw=raw)


def is_finished(st: dict[str, Any]) -> bool:
    return st["finished_time"] != ZERO_TIME


def listing(d: Any, bucket: str) -> list[str]:
    """Object names in ``ais://bucket`` via ``GET /v1/buckets/<bucket>`` (AIS list-objects), all pages."""
    names: list[str] = []
    token = ""
    while True:
        body = {"action": "list", "value": {"props": "name,size", "continuation_token": token}}
        code, _, data = d.request("GET", f"/v1/buckets/{bucket}", body)
        assert code == 200, data[:300]
        page = json.loads(data)
        names += [e["name"] for e in page.get("entries") or []]
        token = page.get("continuation_token") or ""
        if not token:
            return sorted(names)


def get_object(d: Any, bucket: str, name: str) -> bytes:
    code, _, data = d.request("GET", f"/v1/objects/{bucket}/{quote(name)}")
    assert code == 200, f"GET object {bucket}/{name} -> {code}: {data[:300]!r}"
    return data


def assert_stored(d: Any, bucket: str, name: str, expected: bytes) -> None:
    """The object equals ``expected`` byte for byte, through the API and on disk."""
    got = get_object(d, bucket, name)
    assert len(got) == len(expected), f"{bucket}/{name}: {len(got)} bytes via API, expected {len(expected)}"
    assert got == expected, f"{bucket}/{name}: content via API differs"
    path = d.object_file(bucket, name)
    assert path.is_file(), f"{path} missing"
    assert path.read_bytes() == expected, f"{path}: content on disk differs"


def tmp_files(d: Any) -> list[str]:
    tmp = Path(d.data_dir) / "mp0" / ".dld" / "tmp"
    return sorted(os.listdir(tmp)) if tmp.is_dir() else []


class HeaderRecorder:
    """A real HTTP/1.1 server on 127.0.0.1 that records request headers per path.

    ``GET /plain/<name>?size=N`` answers N bytes (``b"x"`` repeated) with Content-Length. ``GET
    /chunked/<name>?size=N&slow_ms=M`` answers N bytes chunked (no Content-Length), one 1 KiB chunk per M ms.
    """

    def __init__(self) -> None:
        self.received: dict[str, list[list[tuple[str, str]]]] = {}
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                path, _, query = self.path.partition("?")
                params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
                with rec.lock:
                    rec.received.setdefault(path, []).append(list(self.headers.items()))
                size = int(params.get("size", "100"))
                if path.startswith("/chunked/"):
                    slow = int(params.get("slow_ms", "0")) / 1000
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    sent = 0
                    try:
                        while sent < size and not rec.stop_event.is_set():
                            n = min(1024, size - sent)
                            self.wfile.write(b"%x\r\n" % n + b"y" * n + b"\r\n")
                            self.wfile.flush()
                            sent += n
                            if slow:
                                time.sleep(slow)
                        self.wfile.write(b"0\r\n\r\n")
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                self.wfile.write(b"x" * size)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> HeaderRecorder:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def headers_of(self, path: str) -> list[list[tuple[str, str]]]:
        with self.lock:
            return list(self.received.get(path, []))
