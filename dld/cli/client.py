"""The CLI's HTTP client for the dld daemon: stdlib ``http.client`` only, one connection per request.

Theory of operation
-------------------
The daemon speaks AIS's REST API, which sends JSON bodies on GET (``GET /v1/download {"id": ...}``); ``requests``
and ``urllib`` make that awkward, ``http.client`` does not care. Every call opens a fresh connection: the CLI makes
a handful of requests, or one per poll interval, so keep-alive would buy nothing but reconnect logic.

Rules:

1. A status >= 400 raises ``DaemonError`` with the message of AIS's ``ErrHTTP`` JSON body (``{"message": ...}``),
   or of the ``Ais-Error`` header for HEAD (which has no body), or the raw text when the body is not ErrHTTP.
2. A socket-level failure (refused, unreachable, timed out) raises ``DaemonUnreachable`` naming the endpoint, so
   the user learns which address was tried and that the daemon may not be running.
3. Bodies that can be large (object data, manifests, listings) are read through ``stream()`` in chunks and never
   held whole.
"""

from __future__ import annotations

import http.client
import json
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["CHUNK", "DEFAULT_ENDPOINT", "Client", "DaemonError", "DaemonUnreachable"]

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"  # what `dld serve` listens on by default
CHUNK = 1 << 20  # 1 MiB reads: large enough to keep syscalls rare, small enough to stream a 10 GiB object
_TIMEOUT = 30.0  # seconds per socket operation; the daemon answers API calls in milliseconds


class DaemonError(Exception):
    """The daemon answered with an error status; ``message`` is its own wording (AIS ``ErrHTTP.message``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class DaemonUnreachable(Exception):
    """No HTTP answer at all: nothing listens on the endpoint, or the network failed."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(f"{endpoint}: {reason}")
        self.endpoint = endpoint
        self.reason = reason


def _error_message(status: int, reason: str, body: bytes, ais_error: str | None) -> str:
    for raw in (body, (ais_error or "").encode()):
        if not raw.strip():
            continue
        try:
            doc = json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace").strip()
        if isinstance(doc, dict) and isinstance(doc.get("message"), str):
            return doc["message"]
        return raw.decode("utf-8", "replace").strip()
    return f"HTTP {status} {reason}".strip()


class Client:
    """A client bound to one daemon endpoint (``http://host:port``; ``https://`` works too)."""

    def __init__(self, endpoint: str, timeout: float = _TIMEOUT) -> None:
        parts = urlsplit(endpoint if "://" in endpoint else "http://" + endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"invalid endpoint {endpoint!r}: expecting http://HOST:PORT")
        self.endpoint = f"{parts.scheme}://{parts.netloc}"
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._base = parts.path.rstrip("/")
        self.timeout = timeout

    # ---- raw requests ----------------------------------------------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout)
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)

    def _send(self, method: str, path: str, query: dict[str, Any] | None, body: Any,
              headers: dict[str, str] | None) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        url = self._base + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn = self._connect()
        try:
            conn.request(method, url, body=data, headers=hdrs)
            return conn, conn.getresponse()
        except ConnectionRefusedError:
            conn.close()
            raise DaemonUnreachable(self.endpoint, "connection refused") from None
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise DaemonUnreachable(self.endpoint, str(e) or type(e).__name__) from None

    @contextmanager
    def stream(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None,
               headers: dict[str, str] | None = None) -> Iterator[http.client.HTTPResponse]:
        """Send a request and yield the successful response unread, for chunked reading.

        Raises:
            DaemonError: status >= 400 (the error body is small and is read here).
            DaemonUnreachable: no answer.
        """
        conn, resp = self._send(method, path, query, body, headers)
        try:
            if resp.status >= 400:
                data = resp.read() if method != "HEAD" else b""
                raise DaemonError(resp.status, _error_message(resp.status, resp.reason, data,
                                                              resp.getheader("Ais-Error")))
            yield resp
        finally:
            conn.close()

    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One small request, read whole: ``(status, lower-cased headers, body)``; errors raise as in ``stream``."""
        with self.stream(method, path, query=query, body=body, headers=headers) as resp:
            try:
                data = resp.read() if method != "HEAD" else b""
            except (OSError, http.client.HTTPException) as e:
                raise DaemonUnreachable(self.endpoint, f"reading the response: {e}") from None
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def json(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None) -> Any:
        """A request whose answer is JSON (or empty, which gives ``None``)."""
        _, _, data = self.request(method, path, query=query, body=body)
        return json.loads(data) if data.strip() else None

    # ---- the downloader API (/v1/download) ---------------------------------------------------------------------

    def start(self, body: dict[str, Any]) -> str:
        """POST a start envelope; returns the job ID."""
        return str(self.json("POST", "/v1/download", body=body)["id"])

    def status(self, job_id: str, only_active: bool = False) -> dict[str, Any]:
        """A job's StatusResp (without finished tasks and errors when ``only_active``)."""
        return self.json("GET", "/v1/download", body={"id": job_id, "regex": "", "only_active_tasks": only_active})

    def jobs(self, regex: str = "", only_active: bool = False) -> list[dict[str, Any]]:
        """The job list (headers only), in the daemon's order."""
        return list(self.json("GET", "/v1/download", body={"id": "", "regex": regex,
                                                           "only_active_tasks": only_active}) or [])

    def abort(self, job_id: str) -> None:
        self.request("DELETE", "/v1/download/abort", body={"id": job_id})

    def remove(self, job_id: str) -> None:
        self.request("DELETE", "/v1/download/remove", body={"id": job_id})

    # ---- buckets and objects (/v1/buckets, /v1/objects) --------------------------------------------------------

    @staticmethod
    def bucket_path(bucket: str) -> str:
        return "/v1/buckets/" + quote(bucket, safe="")

    @staticmethod
    def object_path(bucket: str, name: str) -> str:
        return "/v1/objects/" + quote(bucket, safe="") + "/" + quote(name, safe="/")

    def head_bucket(self, bucket: str, provider: str = "ais") -> bool:
        """Whether the bucket exists (HEAD; 404 → False, other errors raise)."""
        try:
            self.request("HEAD", self.bucket_path(bucket), query={"provider": provider})
        except DaemonError as e:
            if e.status == 404:
                return False
            raise
        return True
