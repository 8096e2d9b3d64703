"""Fetch one object from a link into a temp file, with retries and resume.

Theory of operation:

* A ``Fetcher`` owns one reusable ``pycurl.Curl`` (connection, TLS session and DNS reuse across objects) and runs
  one object at a time through the shared ``CurlTrio`` engine.
* The body goes through the Cython ``Sink`` (write + blake3 in one call). Error bodies never reach it: with
  ``FAILONERROR`` libcurl stops at a status ≥ 400, and redirect bodies are not delivered.
* Decisions that must precede the first body byte are taken in the header callback at the end of the final
  response's headers: a ``200`` to a ranged request means the origin ignored ``Range`` or the ``If-Range``
  validator changed, so the temp file is truncated and the object starts over; a ``206`` whose
  ``Content-Range`` does not start where we asked aborts the attempt (never splice two versions).
* When an attempt fails after writing some bytes, the next attempt resumes with ``Range: bytes=<offset>-`` and
  ``If-Range: <validator>`` (strong ETag, else Last-Modified) when the origin gave one; without a validator the
  object starts over, because a range of a possibly changed object cannot be trusted.
* Throttled jobs wrap the sink in a callback that takes from the job's token bucket and returns
  ``WRITEFUNC_PAUSE`` when the budget is spent; a helper task unpauses the handle when it is repaid.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pycurl
import trio

from .._fast.sink import Sink, hash_file
from ..errors import OriginError, StoreError
from ..store import partial
from . import digests, retry
from .limits import TokenBucket, chunk_size_for

if TYPE_CHECKING:
    from ..config import Config
    from .curl_trio import CurlTrio

USER_AGENT = "dld/0.1"
# Objects smaller than this are not worth resuming after a crash (refetching them is cheaper than the two xattr
# writes per object the resume state costs); larger ones and those of unknown size record it.
RESUME_MIN_BYTES = 4 * 1024 * 1024
GCS_USER_AGENT = "gcloud-golang-storage/20151204"  # AIS sends it to storage.googleapis.com (§2.6)


@dataclass(slots=True, kw_only=True)
class FetchRequest:
    link: str
    headers: list[str] = field(default_factory=list)  # "Name: value" lines sent on every GET
    timeout_s: float = 3600.0  # per attempt; ×1.2 after an attempt that timed out (AIS)
    if_none_match: str = ""  # conditional GET against the stored object (a 304 means unchanged)
    if_modified_since: str = ""
    bytes_per_hour: int = 0
    bucket: TokenBucket | None = None  # the job's shared bucket when bytes_per_hour > 0


@dataclass(slots=True)
class FetchResult:
    not_modified: bool
    size: int
    blake3: str
    headers: list[tuple[str, str]]
    status: int
    attempts: int


@dataclass(slots=True)
class Progress:
    """What status shows for a running transfer: bytes so far and the expected total (0 = unknown)."""

    sink: Sink | None = None
    total: int = 0
    resumable: bool = False  # the temp file carries resume state (dld.store.partial)

    @property
    def downloaded(self) -> int:
        return self.sink.offset if self.sink is not None else 0

    @property
    def written(self) -> int:
        """Bytes in the temp file (the sink writes in batches: up to one behind ``downloaded``)."""
        return self.sink.written if self.sink is not None else 0


@dataclass(slots=True)
class _Response:
    """Headers of the response being received; reset at each status line (redirects, retries)."""

    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    final: bool = False
    restart_reason: str = ""
    expect: list[digests.Expectation] = field(default_factory=list)  # what the source says the checksums are

    def get(self, name: str) -> str:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return ""


def _validator(resp: _Response) -> str:
    """The If-Range value for resuming: a strong ETag, else Last-Modified; empty if neither."""
    etag = resp.get("etag")
    if etag and not etag.startswith("W/"):
        return etag
    return resp.get("last-modified")


def _content_range_start(value: str) -> int:
    # "bytes 100-199/1000"
    try:
        unit, _, rng = value.partition(" ")
        if unit.strip().lower() != "bytes":
            return -1
        return int(rng.split("-", 1)[0])
    except ValueError:
        return -1


def _set_headers(c: pycurl.Curl, lines: list[str]) -> None:
    """Replace the handle's request headers. ``setopt(HTTPHEADER, [])`` keeps the previous list (pycurl 7.49):
    one job's headers (an Authorization!) would go out with the next job's requests on the reused handle."""
    if lines:
        c.setopt(pycurl.HTTPHEADER, lines)
    else:
        c.unsetopt(pycurl.HTTPHEADER)


def _object_size(status: int, content_length: str, content_range: str) -> int:
    """The whole object's size from a 200's Content-Length or a 206's Content-Range; 0 when unknown."""
    if status == 206:
        total = content_range.rpartition("/")[2].strip()
        return int(total) if total.isdigit() else 0
    return int(content_length) if content_length.isdigit() else 0


def _mismatch(expect: list[digests.Expectation], actual: dict[str, str]) -> str:
    """The first disagreement between what the source promised and what arrived, as an error text; "" if none."""
    for e in expect:
        got = actual.get(e.algorithm)
        if got is not None and got != e.value:
            return f"checksum mismatch: {e.algorithm} from {e.source} expected {e.value}, got {got}"
    return ""


def _unsatisfied_size(value: str) -> int:
    # "bytes */1000" (RFC 9110 §14.4) → 1000; anything else → -1
    unit, _, rest = value.partition(" ")
    if unit.strip().lower() != "bytes" or not rest.startswith("*/"):
        return -1
    try:
        return int(rest[2:])
    except ValueError:
        return -1


class Fetcher:
    """One transfer slot: an easy handle and the logic to get one object through it."""

    def __init__(self, engine: CurlTrio, config: Config, *, cainfo: str = "", rng: random.Random | None = None):
        self.engine = engine
        self.config = config
        self.cainfo = cainfo
        self.easy = pycurl.Curl()
        engine.prepare(self.easy)
        self.rng = rng or random.Random()

    def close(self) -> None:
        self.easy.close()

    def _setup(self, req: FetchRequest, resp: _Response, sink: Sink, offset_validator: str,
               timeout_s: float, progress: Progress) -> None:
        c = self.easy
        # No c.reset(): it would drop BUFFERSIZE and make libcurl free and re-allocate its 512 KiB receive buffer
        # for every object. Every option a transfer depends on is set here, each time.
        cfg = self.config
        c.setopt(pycurl.HTTPGET, 1)  # undoes a HEAD (NOBODY) of a previous change check
        c.setopt(pycurl.URL, req.link)
        c.setopt(pycurl.NOSIGNAL, 1)
        c.setopt(pycurl.FOLLOWLOCATION, 1)
        c.setopt(pycurl.MAXREDIRS, 10)
        c.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)  # never file://, even via a redirect
        c.setopt(pycurl.REDIR_PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        c.setopt(pycurl.FAILONERROR, 1)
        c.setopt(pycurl.CONNECTTIMEOUT_MS, int(cfg.connect_timeout_s * 1000))
        c.setopt(pycurl.TIMEOUT_MS, max(1, int(timeout_s * 1000)))
        # Stall detection: the engine ends a body that stops for stall_timeout (perform's stall_s, exact to ~1 s);
        # libcurl's below-1-byte/s check (a 5 s moving average, so ~5 s late) still covers a response that never
        # starts. It also gives a stalled handle a 1 s timer: how an abort, and the engine's check, reach it.
        c.setopt(pycurl.LOW_SPEED_LIMIT, 1)
        c.setopt(pycurl.LOW_SPEED_TIME, max(1, int(cfg.stall_timeout_s)))
        c.setopt(pycurl.BUFFERSIZE, chunk_size_for(req.bytes_per_hour, cfg.curl_buffer_size))
        if self.cainfo:
            c.setopt(pycurl.CAINFO, self.cainfo)
        if cfg.resolve:
            c.setopt(pycurl.RESOLVE, list(cfg.resolve))
        host = req.link.split("://", 1)[-1].split("/", 1)[0].split("@")[-1].split(":")[0].lower()
        c.setopt(pycurl.USERAGENT, GCS_USER_AGENT if host == "storage.googleapis.com" else USER_AGENT)
        lines = list(req.headers)
        if sink.offset > 0 and offset_validator:
            lines.append(f"Range: bytes={sink.offset}-")
            lines.append(f"If-Range: {offset_validator}")
        elif sink.offset == 0:
            if req.if_none_match:
                lines.append(f"If-None-Match: {req.if_none_match}")
            elif req.if_modified_since:
                lines.append(f"If-Modified-Since: {req.if_modified_since}")
        _set_headers(c, lines)

        def on_header(line: bytes) -> int | None:
            if line.startswith(b"HTTP/"):
                parts = line.split()
                resp.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
                resp.headers = []
                resp.final = False
                return None
            if line in (b"\r\n", b"\n"):
                if 300 <= resp.status < 400 and resp.status != 304 and resp.get("location"):
                    return None  # libcurl follows it; the next response starts with its own status line
                resp.final = True
                if resp.status == 206:
                    if _content_range_start(resp.get("content-range")) != sink.offset:
                        resp.restart_reason = f"Content-Range {resp.get('content-range')!r} does not start at {sink.offset}"
                        return 0  # abort: CURLE_WRITE_ERROR
                elif resp.status == 200 and sink.offset > 0:
                    sink.reset()  # origin ignored Range, or If-Range saw a new version: start over
                if resp.status in (200, 206):
                    cl = resp.get("content-length")
                    progress.total = _object_size(resp.status, cl, resp.get("content-range"))
                    if self.config.verify_checksums:
                        resp.expect = digests.expectations(req.link, resp.headers, status=resp.status)
                    if (not cl.isdigit() or int(cl) >= RESUME_MIN_BYTES or sink.offset):
                        partial.write(sink.fd, req.link, _validator(resp), sink.offset)
                        progress.resumable = True
                    if resp.expect:
                        sink.enable([e.algorithm for e in resp.expect])
                return None
            name, sep, value = line.decode("latin-1").partition(":")
            if sep:
                resp.headers.append((name.strip(), value.strip()))
            return None

        c.setopt(pycurl.HEADERFUNCTION, on_header)
        c.setopt(pycurl.WRITEFUNCTION, sink.write)

    async def head(self, link: str, timeout_s: float = 5.0) -> tuple[int, list[tuple[str, str]]]:
        """HEAD a link for change detection (AIS: no custom headers, 5 s timeout, redirects followed).

        Returns:
            ``(Content-Length or -1, headers of the final response)``.

        Raises:
            OriginError: the HEAD failed; the message says how (its status, or the transport error).
        """
        c = self.easy
        c.setopt(pycurl.URL, link)
        c.setopt(pycurl.NOSIGNAL, 1)
        c.setopt(pycurl.NOBODY, 1)
        _set_headers(c, [])  # AIS sends no custom headers on the change-detection HEAD
        c.setopt(pycurl.CONNECTTIMEOUT_MS, int(self.config.connect_timeout_s * 1000))
        c.setopt(pycurl.FOLLOWLOCATION, 1)
        c.setopt(pycurl.MAXREDIRS, 10)
        c.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        c.setopt(pycurl.REDIR_PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        c.setopt(pycurl.FAILONERROR, 1)
        c.setopt(pycurl.TIMEOUT_MS, int(timeout_s * 1000))
        if self.cainfo:
            c.setopt(pycurl.CAINFO, self.cainfo)
        if self.config.resolve:
            c.setopt(pycurl.RESOLVE, list(self.config.resolve))
        resp = _Response()

        def on_header(line: bytes) -> None:
            if line.startswith(b"HTTP/"):
                parts = line.split()
                resp.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
                resp.headers = []
                return
            name, sep, value = line.decode("latin-1").partition(":")
            if sep:
                resp.headers.append((name.strip(), value.strip()))

        c.setopt(pycurl.HEADERFUNCTION, on_header)
        code, msg = await self.engine.perform(c)
        if code == pycurl.E_HTTP_RETURNED_ERROR or resp.status >= 400:
            raise OriginError(f"HEAD {retry.classify_status(link, resp.status).message}", retryable=False)
        if code != 0:
            raise OriginError(f"HEAD {retry.classify_curl(link, code, msg).message}", retryable=False)
        cl = resp.get("content-length")
        return (int(cl) if cl.isdigit() else -1), resp.headers

    async def fetch(self, req: FetchRequest, fd: int, progress: Progress, *, resume_offset: int = 0,
                    resume_validator: str = "") -> FetchResult:
        """Download ``req.link`` into the open file ``fd`` (positioned at ``resume_offset``).

        Args:
            resume_offset: bytes already in the file from an earlier, interrupted run of this same object.
            resume_validator: the ETag/Last-Modified those bytes came with; without it they are discarded.

        Returns:
            The result; ``not_modified`` when the conditional GET answered 304 (the file is then untouched).

        Raises:
            OriginError: the object cannot be downloaded (``retryable`` False: attempts exhausted or fatal).
            StoreError: writing the temp file failed.
            trio.Cancelled: the job was aborted; the transfer has been stopped.
        """
        cfg = self.config
        if resume_offset > 0 and resume_validator:
            b3 = hash_file(fd, resume_offset) if cfg.content_checksum else None
            os.lseek(fd, resume_offset, os.SEEK_SET)
            sink = Sink(fd, resume_offset, b3, cfg.content_checksum)
            validator = resume_validator
        else:
            if os.fstat(fd).st_size:
                # Only a non-empty file: truncating a fresh one makes ext4 flush it on close (auto_da_alloc).
                os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            sink = Sink(fd, 0, None, cfg.content_checksum)
            validator = ""
        progress.sink = sink
        try:
            return await self._attempts(req, sink, validator, progress)
        finally:
            sink.close()  # its hashing thread, if one started; the digests stay readable

    async def _attempts(self, req: FetchRequest, sink: Sink, validator: str, progress: Progress) -> FetchResult:
        cfg = self.config
        timeout_s = req.timeout_s
        attempt = 0
        while True:
            attempt += 1
            resp = _Response()
            self._setup(req, resp, sink, validator, timeout_s, progress)
            if req.bucket is not None:
                code, msg = await self._perform_throttled(req.bucket, sink)
            else:
                code, msg = await self.engine.perform(self.easy, stall_s=cfg.stall_timeout_s)
            try:
                sink.flush()  # the sink writes in batches: the file holds every byte received only now
            except OSError as e:
                raise StoreError(f"writing {req.link} to disk failed: {e}") from e
            status = resp.status or self.easy.getinfo(pycurl.RESPONSE_CODE)
            if code == 0:
                if status == 304:
                    return FetchResult(True, 0, "", resp.headers, status, attempt)
                expected = progress.total
                mismatch = _mismatch(resp.expect, sink.digests())
                if expected and sink.offset != expected:
                    verdict = retry.Verdict(True, f'failed to download "{req.link}": got {sink.offset} of '
                                                  f"{expected} bytes")
                elif mismatch:
                    # Which bytes are bad is unknown: start the object over, never publish it.
                    verdict = retry.Verdict(True, f'failed to download "{req.link}": {mismatch}')
                    sink.reset()
                    validator = ""
                else:
                    return FetchResult(False, sink.offset, sink.content_digest(), resp.headers, status, attempt)
            elif status == 416 and sink.offset > 0:
                # We asked for bytes past our offset with If-Range; a 416 means the validator still matched and
                # there is nothing after the offset. If the size it reports is our offset, we already have it all.
                if _unsatisfied_size(resp.get("content-range")) == sink.offset:
                    headers = resp.headers
                    if not any(k.lower() in ("etag", "last-modified") for k, _ in headers):
                        key = "ETag" if validator.startswith(('"', "W/")) else "Last-Modified"
                        headers = [*headers, (key, validator)]
                    return FetchResult(False, sink.offset, sink.content_digest(), headers, 200, attempt)
                verdict = retry.Verdict(True, f'failed to download "{req.link}": status 416 for a resumed range')
                sink.reset()
                validator = ""
            elif code == pycurl.E_HTTP_RETURNED_ERROR or (status >= 400 and resp.final):
                verdict = retry.classify_status(req.link, status)
            elif code == pycurl.E_WRITE_ERROR and resp.restart_reason:
                verdict = retry.Verdict(True, f'failed to download "{req.link}": {resp.restart_reason}')
                sink.reset()
            else:
                verdict = retry.classify_curl(req.link, code, msg)
            if not verdict.retryable or attempt >= cfg.max_attempts:
                suffix = f" (after {attempt} attempts)" if attempt > 1 else ""
                raise OriginError(verdict.message + suffix, retryable=False)
            # Keep the bytes we have if the origin can continue from them; else start over.
            new_validator = _validator(resp) if resp.final and resp.status in (200, 206) else validator
            if sink.offset > 0 and new_validator:
                validator = new_validator
            elif sink.offset > 0:
                sink.reset()
                validator = ""
            if code == pycurl.E_OPERATION_TIMEDOUT:
                timeout_s *= 1.2
            delay = retry.backoff(attempt, base=cfg.retry_base_s, cap=cfg.retry_max_s,
                                  retry_after=retry.parse_retry_after(resp.get("retry-after"), time.time()),
                                  rng=self.rng)
            await trio.sleep(delay)

    async def _perform_throttled(self, bucket: TokenBucket, sink: Sink) -> tuple[int, str]:
        """Run the transfer with the job's token bucket between libcurl and the sink."""
        engine, easy = self.engine, self.easy
        resume_at: list[float] = []
        wake = trio.Event()

        def write(data: bytes) -> int | None:
            if engine.is_aborting(easy):
                return 0  # end the transfer now: re-pausing would keep an aborted handle alive
            wait = bucket.take(len(data), trio.current_time())
            if wait > 0:
                resume_at.append(trio.current_time() + wait)
                engine.mark_paused(easy)
                wake.set()
                return pycurl.WRITEFUNC_PAUSE  # libcurl keeps the chunk and delivers it again on unpause
            return sink.write(data)

        easy.setopt(pycurl.WRITEFUNCTION, write)

        async def unpauser() -> None:
            nonlocal wake
            while True:
                await wake.wait()
                wake = trio.Event()
                await trio.sleep_until(resume_at.pop())
                engine.unpause(easy)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(unpauser)
            result = await engine.perform(easy, stall_s=self.config.stall_timeout_s)
            nursery.cancel_scope.cancel()
        return result
