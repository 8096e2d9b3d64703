"""The test origin: a trio + h11 HTTP/1.1 server with deterministic content and scriptable faults.

Run as ``python -m tests.origin.server --port 0 [--tls-cert F --tls-key F] [--data-dir DIR]``. It binds 127.0.0.1
only, prints exactly one line ``PORT <n>`` on stdout once it accepts connections, and exits 0 on SIGTERM/SIGINT.

Why a real server in its own process instead of mocks: the daemon's transfer engine is libcurl driven by trio, and
what we need to test is precisely its behaviour on real sockets — keep-alive reuse, resets in the middle of a body,
short bodies, stalls, ranges and validators. Every integration test and benchmark trusts this server, so it is
strict about HTTP semantics (RFC 9110 conditionals and ranges) and cheap per request (one task per connection,
header and small body in one ``send``, 1 MiB zero-copy slices or ``sendfile`` for big bodies).

URL interface (the full parameter reference is in the docstring of ``tests/origin/fixture.py``):

* ``GET|HEAD /obj/<name>?size=N`` — deterministic content (``tests.origin.content``), default size 1024. ``N``
  may carry a binary suffix ``k``/``m``/``g`` (``size=1g`` is 1 GiB).
* ``GET|HEAD /files/<path>`` — a real file below ``--data-dir`` (sendfile on plain HTTP).
* Query parameters (combinable) for faults and variants; see ``parse_params`` and ``fixture.py``.
* ``GET /_ping``, ``GET /_stats``, ``POST /_reset_stats``, ``POST /_reset_faults``, ``POST /_reset``,
  ``POST|GET /_version?name=<name>[&version=<v>]``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import ssl
import stat
import struct
import sys
import termios
import time
import traceback
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from functools import lru_cache
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import google_crc32c
import h11
import trio

from .content import ContentStore, etag_for, last_modified_ts

#: Body chunk size for streaming: big enough to keep per-chunk Python overhead negligible at GB/s.
CHUNK = 1 << 20
#: Bodies up to this size go out in the same ``send`` as the headers (one syscall per small response).
INLINE_MAX = 64 << 10
RECV_SIZE = 64 << 10

DIGEST_KINDS = (
    "goog-hash",
    "s3-etag",
    "s3-crc32c",
    "azure-md5",
    "repr-digest-sha256",
    "content-digest-sha512",
    "digest-sha256",
    "digest-md5",
)
#: Algorithms each kind needs over the *whole representation* (content-digest is over the sent body instead).
_FULL_ALGS = {
    "goog-hash": ("crc32c", "md5"),
    "s3-etag": ("md5",),
    "s3-crc32c": ("crc32c",),
    "azure-md5": ("md5",),
    "repr-digest-sha256": ("sha256",),
    "content-digest-sha512": (),
    "digest-sha256": ("sha256",),
    "digest-md5": ("md5",),
}
_BODY_FAULTS = ("reset", "short", "stall")
_RANGES_CAP = 100


class BadRequest(Exception):
    """A malformed query parameter; answered with 400 and the message."""


def log(msg: str) -> None:
    print(f"origin[{os.getpid()}]: {msg}", file=sys.stderr, flush=True)


@lru_cache(maxsize=1024)
def reason(code: int) -> bytes:
    """Reason phrase for ``code``: h11 sends an empty one unless told (engine-notes P14)."""
    try:
        return HTTPStatus(code).phrase.encode()
    except ValueError:
        return b"Unknown"


@lru_cache(maxsize=4096)
def http_date(ts: int) -> bytes:
    return formatdate(ts, usegmt=True).encode()


def parse_http_date(value: str) -> int | None:
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


_SUFFIX = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_int(
    params: dict[str, str],
    key: str,
    default: int | None = None,
    *,
    lo: int = 0,
    hi: int = 1 << 50,
    suffix: bool = False,
) -> int | None:
    raw = params.get(key)
    if raw is None or raw == "":
        return default
    s = raw.strip().lower()
    mult = 1
    if suffix and s and s[-1] in _SUFFIX:
        mult = _SUFFIX[s[-1]]
        s = s[:-1]
    if not s.isdigit():
        raise BadRequest(f"{key}={raw!r} is not a non-negative integer")
    v = int(s) * mult
    if not lo <= v <= hi:
        raise BadRequest(f"{key}={raw!r} out of range [{lo}, {hi}]")
    return v


def parse_flag(params: dict[str, str], key: str) -> bool:
    return params.get(key, "0").strip().lower() in ("1", "true", "yes", "on")


@dataclass(slots=True)
class Params:
    """Parsed query parameters of an object request (everything optional)."""

    size: int = 1024
    times: int | None = None
    delay_ms: int | None = None
    redirect: int | None = None
    redirect_to: str | None = None
    redirect_status: int = 302
    status: int | None = None
    retry_after: str | None = None
    reset: int | None = None
    short: int | None = None
    stall: int | None = None
    norange: bool = False
    novalidators: bool = False
    corrupt: bool = False
    digests: tuple[str, ...] = ()
    goog_generation: bool = False


def parse_params(params: dict[str, str]) -> Params:
    p = Params()
    p.size = parse_int(params, "size", 1024, suffix=True)
    p.times = parse_int(params, "times", None, lo=0)
    p.delay_ms = parse_int(params, "delay_ms", None, hi=3_600_000)
    p.redirect = parse_int(params, "redirect", None, hi=1000)
    p.redirect_to = params.get("redirect_to") or None
    if p.redirect_to is not None and not p.redirect_to.startswith("/"):
        raise BadRequest("redirect_to must be an absolute path starting with '/'")
    p.redirect_status = parse_int(params, "redirect_status", 302, lo=300, hi=308)
    p.status = parse_int(params, "status", None, lo=200, hi=599)
    p.retry_after = params.get("retry_after") or None
    p.reset = parse_int(params, "reset", None, suffix=True)
    p.short = parse_int(params, "short", None, suffix=True)
    p.stall = parse_int(params, "stall", None, suffix=True)
    p.norange = parse_flag(params, "norange")
    p.novalidators = parse_flag(params, "novalidators")
    p.corrupt = parse_flag(params, "corrupt")
    p.goog_generation = parse_flag(params, "goog_generation")
    if "digest" in params:
        kinds = tuple(k.strip().lower() for k in params["digest"].split(",") if k.strip())
        for k in kinds:
            if k not in _FULL_ALGS:
                raise BadRequest(f"unknown digest kind {k!r}; known: {', '.join(DIGEST_KINDS)}")
        p.digests = kinds
    return p


# ----------------------------------------------------------------------------------------------- representations


class Rep:
    """The selected representation of a request: size, validators, and how to read its bytes."""

    __slots__ = ("key", "ident", "size", "etag", "last_modified", "fd", "path")

    key: str  # stats and fault-counter key
    ident: tuple[Any, ...]  # digest-cache identity of the bytes
    size: int
    etag: str | None
    last_modified: int | None
    fd: int | None  # open file for /files (sendfile), None for generated content
    path: str | None

    def slices(self, offset: int, length: int) -> Iterator[memoryview | bytes]:
        raise NotImplementedError

    def thread_slices(self, offset: int, length: int) -> Iterator[memoryview | bytes]:
        """Like ``slices`` but safe to consume in a worker thread (no shared fd offset, no cache mutation)."""
        return self.slices(offset, length)

    def close(self) -> None:
        pass


class ObjRep(Rep):
    __slots__ = ("name", "version", "store")

    def __init__(self, store: ContentStore, name: str, version: int, size: int) -> None:
        self.store = store
        self.name = name
        self.version = version
        self.key = name
        self.ident = ("obj", name, version)
        self.size = size
        self.etag = etag_for(name, version, size)
        self.last_modified = last_modified_ts(version)
        self.fd = None
        self.path = None

    def slices(self, offset: int, length: int) -> Iterator[memoryview | bytes]:
        return self.store.slices(self.name, self.version, offset, length, CHUNK)


def _pread_chunks(fd: int, offset: int, length: int) -> Iterator[bytes]:
    end = offset + length
    while offset < end:
        data = os.pread(fd, min(CHUNK, end - offset), offset)
        if not data:
            raise OSError(f"file shrank while being served (at offset {offset})")
        offset += len(data)
        yield data


class FileRep(Rep):
    __slots__ = ()

    def __init__(self, key: str, path: str, fd: int, st: os.stat_result) -> None:
        self.key = key
        self.path = path
        self.fd = fd
        self.size = st.st_size
        self.ident = ("file", path, st.st_ino, st.st_mtime_ns, st.st_size)
        self.etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
        self.last_modified = int(st.st_mtime)

    def slices(self, offset: int, length: int) -> Iterator[memoryview | bytes]:
        assert self.fd is not None
        return _pread_chunks(self.fd, offset, length)

    def thread_slices(self, offset: int, length: int) -> Iterator[memoryview | bytes]:
        assert self.path is not None
        path = self.path

        def gen() -> Iterator[bytes]:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                yield from _pread_chunks(fd, offset, length)
            finally:
                os.close(fd)

        return gen()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def hash_chunks(chunks: Iterator[memoryview | bytes], algs: tuple[str, ...]) -> dict[str, bytes]:
    """Digest ``chunks`` with every algorithm in ``algs`` in one pass (runs in a worker thread for big bodies)."""
    hashers: dict[str, Any] = {}
    for a in algs:
        hashers[a] = google_crc32c.Checksum() if a == "crc32c" else hashlib.new(a)
    crc = hashers.pop("crc32c", None)
    for c in chunks:
        for h in hashers.values():
            h.update(c)
        if crc is not None:
            crc.update(c if type(c) is bytes else bytes(c))  # google_crc32c only takes bytes
    out = {a: h.digest() for a, h in hashers.items()}
    if crc is not None:
        out["crc32c"] = crc.digest()
    return out


# ------------------------------------------------------------------------------------------------------- state


def _new_obj_stats() -> dict[str, Any]:
    return {"requests": 0, "body_bytes": 0, "statuses": {}, "ranges": [], "faults": {}}


@dataclass
class Stats:
    requests: int = 0
    body_bytes: int = 0
    conditional_304: int = 0
    per_object: dict[str, dict[str, Any]] = field(default_factory=dict)

    def obj(self, key: str) -> dict[str, Any]:
        s = self.per_object.get(key)
        if s is None:
            s = self.per_object[key] = _new_obj_stats()
        return s

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "body_bytes": self.body_bytes,
            "conditional_304": self.conditional_304,
            "per_object": self.per_object,
        }


class Origin:
    """Server-wide state: content cache, object versions, statistics, fault counters, digest cache."""

    def __init__(self, data_dir: str | None, scheme: str, verbose: bool) -> None:
        self.data_dir = os.path.realpath(data_dir) if data_dir else None
        self.scheme = scheme
        self.verbose = verbose
        self.store = ContentStore()
        self.versions: dict[str, int] = {}
        self.stats = Stats()
        self.fault_counts: dict[tuple[str, str], int] = {}
        self._digests: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._digest_inflight: dict[tuple[Any, ...], trio.Event] = {}
        self.conns_open = 0  # gauge, so tests can see a stalled/aborted connection really went away
        self.conns_total = 0
        self.stalls_open = 0

    def fault_active(self, key: str, mode: str, times: int | None) -> bool:
        """Count one applicable request for ``(object, mode)``; active for the first ``times`` (or always)."""
        n = self.fault_counts.get((key, mode), 0) + 1
        self.fault_counts[(key, mode)] = n
        active = times is None or n <= times
        if active:
            f = self.stats.obj(key)["faults"]
            f[mode] = f.get(mode, 0) + 1
        return active

    async def digests(self, rep: Rep, offset: int, length: int, algs: tuple[str, ...]) -> dict[str, bytes]:
        """Digests of content ``[offset, offset+length)``; cached, deduplicated, big ones off the event loop."""
        out: dict[str, bytes] = {}
        while True:
            missing = []
            for a in algs:
                v = self._digests.get((rep.ident, offset, length, a))
                if v is None:
                    missing.append(a)
                else:
                    out[a] = v
            if not missing:
                return out
            base = (rep.ident, offset, length, tuple(missing))
            ev = self._digest_inflight.get(base)
            if ev is not None:
                await ev.wait()
                continue
            ev = self._digest_inflight[base] = trio.Event()
            try:
                if length <= CHUNK:
                    res = hash_chunks(rep.slices(offset, length), tuple(missing))
                else:
                    chunks = rep.thread_slices(offset, length)
                    res = await trio.to_thread.run_sync(hash_chunks, chunks, tuple(missing))
                for a, v in res.items():
                    self._digests[(rep.ident, offset, length, a)] = v
                while len(self._digests) > 8192:
                    self._digests.popitem(last=False)
            finally:
                del self._digest_inflight[base]
                ev.set()

    def resolve_file(self, rel: str) -> FileRep | None:
        if self.data_dir is None or "\x00" in rel:
            return None
        full = os.path.realpath(os.path.join(self.data_dir, rel))
        if not full.startswith(self.data_dir + os.sep):
            return None
        try:
            fd = os.open(full, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            return None
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return None
        return FileRep("/files/" + rel, full, fd, st)


# ------------------------------------------------------------------------------------------- HTTP helpers


class _Sized:
    """Stand-in ``Data`` payload for bytes sent with sendfile: h11 only needs its length (h11 docs, "sendfile")."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


_UNSAT = (-1, -1)


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """Single ``bytes=`` range → ``(first, last)`` inclusive, ``_UNSAT`` for 416, ``None`` to ignore the header.

    RFC 9110 §14.2 lets a server ignore a Range it does not support; we ignore invalid syntax and multi-range
    requests (answering 200 with the full body) rather than implementing multipart/byteranges.
    """
    unit, sep, spec = value.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    spec = spec.strip()
    if "," in spec:
        return None
    first_s, dash, last_s = spec.partition("-")
    if not dash:
        return None
    first_s, last_s = first_s.strip(), last_s.strip()
    if first_s == "":
        if not last_s.isdigit():
            return None
        n = int(last_s)
        if n == 0 or size == 0:
            return _UNSAT
        return (max(0, size - n), size - 1)
    if not first_s.isdigit() or (last_s and not last_s.isdigit()):
        return None
    first = int(first_s)
    last = int(last_s) if last_s else None
    if last is not None and last < first:
        return None
    if first >= size:
        return _UNSAT
    return (first, size - 1 if last is None or last >= size else last)


def etag_list(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


def weak_match(a: str, b: str) -> bool:
    return a.removeprefix("W/") == b.removeprefix("W/")


def strong_match(a: str, b: str) -> bool:
    return not a.startswith("W/") and not b.startswith("W/") and a == b


class SocketGone(Exception):
    """The connection was deliberately aborted (reset/short/stall) or the peer went away."""


_SOCK_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError, OSError)


class Conn:
    """One client connection: an h11 state machine over a trio stream, serving requests until close."""

    def __init__(self, origin: Origin, stream: trio.abc.Stream) -> None:
        self.origin = origin
        self.stream = stream
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=64 << 10)
        self.tls = isinstance(stream, trio.SSLStream)
        transport = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
        self.sock = transport.socket if isinstance(transport, trio.SocketStream) else None
        self.closed = False

    # -- low level ------------------------------------------------------------------------------------------

    async def next_event(self) -> Any:
        while True:
            ev = self.h11.next_event()
            if ev is h11.NEED_DATA:
                try:
                    data = await self.stream.receive_some(RECV_SIZE)
                except _SOCK_ERRORS:
                    data = b""
                self.h11.receive_data(data)
                continue
            return ev

    async def send(self, data: bytes | bytearray | memoryview) -> None:
        if data:
            await self.stream.send_all(data)

    async def abort_with_rst(self) -> None:
        """Close with a TCP RST (SO_LINGER 0), after the bytes we wrote have actually left our send queue.

        Without waiting, the RST would discard still-queued data and the client would see fewer body bytes than
        the fault asked for, making the test nondeterministic. ``SIOCOUTQ`` (== TIOCOUTQ) counts unsent plus
        unacknowledged bytes; on loopback it drains within microseconds unless the client stops reading.
        """
        self.closed = True
        sock = self.sock
        if sock is None:
            with contextlib.suppress(*_SOCK_ERRORS):
                await self.stream.aclose()
            return
        deadline = trio.current_time() + 5.0
        buf = bytearray(4)
        while trio.current_time() < deadline:
            try:
                fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf)
            except OSError:
                break
            if struct.unpack("i", buf)[0] == 0:
                break
            await trio.sleep(0.001)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    async def close_cleanly(self) -> None:
        """FIN (or TLS close_notify), then drain what the client still sends so our close cannot turn into a RST."""
        self.closed = True
        try:
            if self.tls:
                with trio.move_on_after(2):
                    await self.stream.aclose()
                return
            assert isinstance(self.stream, trio.SocketStream)
            await self.stream.send_eof()
            with trio.move_on_after(10):
                while await self.stream.receive_some(RECV_SIZE):
                    pass
        except _SOCK_ERRORS:
            pass
        finally:
            with contextlib.suppress(*_SOCK_ERRORS):
                await trio.aclose_forcefully(self.stream)

    async def wait_client_gone(self) -> None:
        """Stall: keep the connection open, discarding input, until the client closes it."""
        self.closed = True
        self.origin.stalls_open += 1
        try:
            while await self.stream.receive_some(RECV_SIZE):
                pass
        except _SOCK_ERRORS:
            pass
        finally:
            self.origin.stalls_open -= 1
            with contextlib.suppress(*_SOCK_ERRORS):
                await trio.aclose_forcefully(self.stream)

    # -- request loop ---------------------------------------------------------------------------------------

    async def serve(self) -> None:
        try:
            while True:
                try:
                    ev = await self.next_event()
                except h11.RemoteProtocolError as e:
                    await self.protocol_error(e)
                    return
                if isinstance(ev, h11.ConnectionClosed) or ev is h11.PAUSED:
                    return
                assert isinstance(ev, h11.Request), ev
                # Drain any request body so that keep-alive bookkeeping works; we never need it.
                while True:
                    try:
                        body_ev = await self.next_event()
                    except h11.RemoteProtocolError as e:
                        await self.protocol_error(e)
                        return
                    if isinstance(body_ev, h11.EndOfMessage):
                        break
                    if isinstance(body_ev, h11.ConnectionClosed):
                        return
                try:
                    await self.handle(ev)
                except SocketGone:
                    return
                except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
                    return  # the client went away mid-response: normal for fault tests
                except OSError:
                    log("I/O error while serving:\n" + traceback.format_exc())
                    return
                except Exception:
                    log("internal error:\n" + traceback.format_exc())
                    if self.h11.our_state is h11.SEND_RESPONSE:
                        with contextlib.suppress(Exception):
                            await self.simple(500, b"origin internal error\n", head=False)
                    return
                if self.closed:
                    return
                if self.h11.our_state is h11.MUST_CLOSE or self.h11.their_state is h11.MUST_CLOSE:
                    return
                try:
                    self.h11.start_next_cycle()
                except h11.LocalProtocolError:
                    return
        finally:
            if not self.closed:
                with contextlib.suppress(*_SOCK_ERRORS):
                    await trio.aclose_forcefully(self.stream)

    async def protocol_error(self, e: h11.RemoteProtocolError) -> None:
        if self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            with contextlib.suppress(Exception):
                code = e.error_status_hint or 400
                await self.send(
                    self.h11.send(
                        h11.Response(
                            status_code=code,
                            reason=reason(code),
                            headers=[(b"Content-Length", b"0"), (b"Connection", b"close")],
                        )
                    )
                    + self.h11.send(h11.EndOfMessage())
                )

    def base_headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"Date", http_date(int(time.time()))), (b"Server", b"dld-test-origin")]

    async def simple(
        self,
        code: int,
        body: bytes,
        *,
        head: bool,
        headers: list[tuple[bytes, bytes]] | None = None,
        ctype: bytes = b"text/plain; charset=utf-8",
    ) -> None:
        """A complete small response (errors, redirects, JSON), header and body in one send."""
        hdrs = self.base_headers()
        if headers:
            hdrs.extend(headers)
        no_body = code in (204, 304)
        if not no_body:
            hdrs.append((b"Content-Type", ctype))
            hdrs.append((b"Content-Length", str(len(body)).encode()))
        data = self.h11.send(h11.Response(status_code=code, headers=hdrs, reason=reason(code)))
        if body and not head and not no_body:
            data += self.h11.send(h11.Data(data=body))
        data += self.h11.send(h11.EndOfMessage())
        await self.send(data)

    async def json(self, code: int, obj: Any, *, head: bool = False) -> None:
        await self.simple(
            code,
            json.dumps(obj, separators=(",", ":")).encode(),
            head=head,
            headers=[(b"Cache-Control", b"no-store")],
            ctype=b"application/json",
        )

    # -- dispatch -------------------------------------------------------------------------------------------

    async def handle(self, req: h11.Request) -> None:
        origin = self.origin
        method = req.method.decode("ascii", "replace").upper()
        target = req.target.decode("ascii", "replace")
        split = urlsplit(target)
        path = split.path
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        headers: dict[str, str] = {}
        for k, v in req.headers:
            headers[k.decode("latin-1")] = v.decode("latin-1")  # h11 lowercases names
        if origin.verbose:
            log(f"{method} {target} range={headers.get('range')}")

        if path.startswith("/_"):
            await self.control(method, path, params)
            return

        if path.startswith("/obj/"):
            kind, rel = "obj", unquote(path[5:])
        elif path.startswith("/files/"):
            kind, rel = "files", unquote(path[7:])
        else:
            await self.simple(404, b"not found (use /obj/<name> or /files/<path>)\n", head=method == "HEAD")
            return
        if method not in ("GET", "HEAD"):
            await self.simple(405, b"method not allowed\n", head=False, headers=[(b"Allow", b"GET, HEAD")])
            return
        head = method == "HEAD"
        if not rel:
            await self.simple(404, b"empty object name\n", head=head)
            return
        key = rel if kind == "obj" else "/files/" + rel
        st = origin.stats
        ost = st.obj(key)
        st.requests += 1
        ost["requests"] += 1
        rng_hdr = headers.get("range")
        if rng_hdr is not None and len(ost["ranges"]) < _RANGES_CAP:
            ost["ranges"].append(rng_hdr)

        def count_status(code: int) -> None:
            k = str(code)
            ost["statuses"][k] = ost["statuses"].get(k, 0) + 1

        try:
            p = parse_params(params)
        except BadRequest as e:
            count_status(400)
            await self.simple(400, f"{e}\n".encode(), head=head)
            return

        if p.delay_ms and origin.fault_active(key, "delay", p.times):
            await trio.sleep(p.delay_ms / 1000)

        if (p.redirect is None and p.redirect_to) or (p.redirect is not None and p.redirect > 0):
            count_status(p.redirect_status)
            f = ost["faults"]
            f["redirect"] = f.get("redirect", 0) + 1
            await self.simple(
                p.redirect_status,
                b"redirect\n",
                head=head,
                headers=[(b"Location", self.redirect_location(path, split.query, p, headers).encode())],
            )
            return

        if p.status is not None and origin.fault_active(key, "status", p.times):
            count_status(p.status)
            extra = [(b"Retry-After", p.retry_after.encode())] if p.retry_after else []
            await self.simple(
                p.status, f"{p.status} {reason(p.status).decode()}\n".encode(), head=head, headers=extra
            )
            return

        if kind == "obj":
            rep: Rep | None = ObjRep(origin.store, rel, origin.versions.get(rel, 0), p.size)
        else:
            rep = origin.resolve_file(rel)
            if rep is None:
                count_status(404)
                await self.simple(404, b"no such file\n", head=head)
                return
        try:
            await self.serve_rep(rep, p, headers, head, ost, count_status)
        finally:
            rep.close()

    def redirect_location(self, path: str, query: str, p: Params, headers: dict[str, str]) -> str:
        if p.redirect_to and (p.redirect is None or p.redirect <= 1):
            loc = p.redirect_to
        else:
            items = []
            for k, v in parse_qsl(query, keep_blank_values=True):
                if k == "redirect":
                    assert p.redirect is not None
                    if p.redirect - 1 <= 0:
                        continue
                    v = str(p.redirect - 1)
                items.append((k, v))
            loc = path + ("?" + urlencode(items) if items else "")
        host = headers.get("host")
        return f"{self.origin.scheme}://{host}{loc}" if host else loc

    # -- the object path ------------------------------------------------------------------------------------

    async def serve_rep(
        self, rep: Rep, p: Params, headers: dict[str, str], head: bool, ost: dict[str, Any], count_status: Any
    ) -> None:
        origin = self.origin
        size = rep.size
        etag = None if p.novalidators else rep.etag
        lm = None if p.novalidators else rep.last_modified

        full: dict[str, bytes] = {}
        if p.digests:
            algs = tuple(sorted({a for k in p.digests for a in _FULL_ALGS[k]}))
            if algs:
                full = await origin.digests(rep, 0, size, algs)
            if "s3-etag" in p.digests and not p.novalidators:
                etag = f'"{full["md5"].hex()}"'

        validators: list[tuple[bytes, bytes]] = []
        if etag is not None:
            validators.append((b"ETag", etag.encode()))
        if lm is not None:
            validators.append((b"Last-Modified", http_date(lm)))
        if p.goog_generation and lm is not None:
            # GCS object generation: changes with every new version (derived from Last-Modified here).
            validators.append((b"x-goog-generation", str(lm * 1_000_000).encode()))

        # RFC 9110 §13.2.2 evaluation order: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since.
        im = headers.get("if-match")
        if im is not None:
            ok = im.strip() == "*" or (etag is not None and any(strong_match(t, etag) for t in etag_list(im)))
            if not ok:
                count_status(412)
                await self.simple(412, b"precondition failed\n", head=head, headers=validators)
                return
        else:
            ius = headers.get("if-unmodified-since")
            t = parse_http_date(ius) if ius is not None else None
            if t is not None and (lm is None or lm > t):
                count_status(412)
                await self.simple(412, b"precondition failed\n", head=head, headers=validators)
                return
        inm = headers.get("if-none-match")
        not_modified = False
        if inm is not None:
            not_modified = inm.strip() == "*" or (
                etag is not None and any(weak_match(t, etag) for t in etag_list(inm))
            )
        else:
            ims = headers.get("if-modified-since")
            t = parse_http_date(ims) if ims is not None else None
            not_modified = t is not None and lm is not None and lm <= t
        if not_modified:
            origin.stats.conditional_304 += 1
            count_status(304)
            await self.simple(304, b"", head=True, headers=validators)
            return

        # Range / If-Range.
        status = 200
        start, length = 0, size
        rng_hdr = None if p.norange else headers.get("range")
        if rng_hdr is not None:
            r = parse_range(rng_hdr, size)
            if r is not None:
                ir = headers.get("if-range")
                if ir is not None:
                    ir = ir.strip()
                    if ir.startswith('"') or ir.startswith("W/"):
                        honour = etag is not None and strong_match(ir, etag)
                    else:
                        t = parse_http_date(ir)
                        honour = t is not None and lm is not None and t == lm
                    if not honour:
                        r = None
            if r is _UNSAT:
                count_status(416)
                await self.simple(
                    416,
                    b"range not satisfiable\n",
                    head=head,
                    headers=[(b"Content-Range", f"bytes */{size}".encode()), *validators],
                )
                return
            if r is not None:
                status = 206
                start, length = r[0], r[1] - r[0] + 1

        hdrs = self.base_headers()
        hdrs.append((b"Content-Type", b"application/octet-stream"))
        hdrs.append((b"Content-Length", str(length).encode()))
        if status == 206:
            hdrs.append((b"Content-Range", f"bytes {start}-{start + length - 1}/{size}".encode()))
        if not p.norange:
            hdrs.append((b"Accept-Ranges", b"bytes"))
        hdrs.extend(validators)
        if p.digests:
            hdrs.extend(await self.digest_headers(rep, p.digests, full, status, start, length))

        # Body faults (GET only; each mode counts only requests it could apply to).
        fault: tuple[str, int] | None = None
        corrupt = False
        if not head:
            for mode in _BODY_FAULTS:
                n = getattr(p, mode)
                if n is not None and origin.fault_active(rep.key, mode, p.times) and fault is None:
                    fault = (mode, min(n, max(0, length - 1)))
            corrupt = p.corrupt and origin.fault_active(rep.key, "corrupt", p.times)

        count_status(status)
        resp = self.h11.send(h11.Response(status_code=status, headers=hdrs, reason=reason(status)))
        if head:
            await self.send(resp + self.h11.send(h11.EndOfMessage()))
            return
        to_send = length if fault is None else fault[1]
        if to_send <= INLINE_MAX:
            body = b"".join(rep.slices(start, to_send))
            if corrupt and body:
                body = _corrupt(body)
            data = resp + self.h11.send(h11.Data(data=body)) if body else resp
            if fault is None:
                data += self.h11.send(h11.EndOfMessage())
            await self.send(data)
            self.account(ost, len(body))
        else:
            await self.send(resp)
            await self.stream_body(rep, start, to_send, corrupt, ost)
            if fault is None:
                await self.send(self.h11.send(h11.EndOfMessage()))
        if fault is not None:
            mode = fault[0]
            if mode == "reset":
                await self.abort_with_rst()
            elif mode == "short":
                await self.close_cleanly()
            else:
                await self.wait_client_gone()

    def account(self, ost: dict[str, Any], n: int) -> None:
        ost["body_bytes"] += n
        self.origin.stats.body_bytes += n

    async def stream_body(
        self, rep: Rep, start: int, length: int, corrupt: bool, ost: dict[str, Any]
    ) -> None:
        if rep.fd is not None and not corrupt and not self.tls and self.sock is not None:
            await self.sendfile(rep.fd, start, length, ost)
            return
        for chunk in rep.slices(start, length):
            if corrupt:
                chunk = _corrupt(chunk)
            for piece in self.h11.send_with_data_passthrough(h11.Data(data=chunk)) or ():
                await self.stream.send_all(piece)
            self.account(ost, len(chunk))

    async def sendfile(self, fd: int, offset: int, length: int, ost: dict[str, Any]) -> None:
        """Zero-copy file body on plain sockets, as nginx does; h11 is told the lengths via ``_Sized``."""
        assert self.sock is not None
        sock = self.sock
        sfd = sock.fileno()
        end = offset + length
        while offset < end:
            try:
                n = os.sendfile(sfd, fd, offset, min(end - offset, 8 << 20))
            except BlockingIOError:
                await trio.lowlevel.wait_writable(sock)
                continue
            except OSError as e:
                raise trio.BrokenResourceError(str(e)) from e
            if n == 0:
                raise SocketGone("file shrank while being served")
            offset += n
            self.h11.send_with_data_passthrough(h11.Data(data=_Sized(n)))  # type: ignore[arg-type]
            self.account(ost, n)
            await trio.lowlevel.checkpoint()

    async def digest_headers(
        self, rep: Rep, kinds: tuple[str, ...], full: dict[str, bytes], status: int, start: int, length: int
    ) -> list[tuple[bytes, bytes]]:
        """Integrity headers as the respective services send them; all describe the *correct* bytes.

        Whole-object values (x-goog-hash, S3 ETag, Repr-Digest, RFC 3230 Digest, Azure's x-ms-blob-content-md5)
        are sent on 206 too, as the real services do; Content-Digest covers the bytes of this response;
        Content-MD5 and x-amz-checksum-crc32c are only sent on full (200) responses.
        """
        out: list[tuple[bytes, bytes]] = []
        digest_parts: list[str] = []
        for k in kinds:
            if k == "goog-hash":
                out.append((b"x-goog-hash", f"crc32c={b64(full['crc32c'])},md5={b64(full['md5'])}".encode()))
            elif k == "s3-etag":
                # The ETag itself was replaced by the MD5 hex; S3 marks its responses with x-amz-* headers, which
                # is how a client tells an S3 MD5 ETag from another server's opaque one.
                out.append((b"x-amz-request-id", b"0000000000000000"))
            elif k == "s3-crc32c":
                if status == 200:
                    out.append((b"x-amz-checksum-crc32c", b64(full["crc32c"]).encode()))
                    out.append((b"x-amz-checksum-type", b"FULL_OBJECT"))
            elif k == "azure-md5":
                if status == 200:
                    out.append((b"Content-MD5", b64(full["md5"]).encode()))
                else:
                    out.append((b"x-ms-blob-content-md5", b64(full["md5"]).encode()))
            elif k == "repr-digest-sha256":
                out.append((b"Repr-Digest", f"sha-256=:{b64(full['sha256'])}:".encode()))
            elif k == "content-digest-sha512":
                d = await self.origin.digests(rep, start, length, ("sha512",))
                out.append((b"Content-Digest", f"sha-512=:{b64(d['sha512'])}:".encode()))
            elif k == "digest-sha256":
                digest_parts.append(f"SHA-256={b64(full['sha256'])}")
            elif k == "digest-md5":
                digest_parts.append(f"MD5={b64(full['md5'])}")
        if digest_parts:
            out.append((b"Digest", ",".join(digest_parts).encode()))
        return out

    # -- control endpoints ----------------------------------------------------------------------------------

    async def control(self, method: str, path: str, params: dict[str, str]) -> None:
        origin = self.origin
        head = method == "HEAD"
        if path == "/_ping" and method in ("GET", "HEAD"):
            await self.json(200, {"ok": True, "pid": os.getpid()}, head=head)
        elif path == "/_stats" and method in ("GET", "HEAD"):
            body = origin.stats.as_json()
            body["connections_open"] = origin.conns_open
            body["connections_total"] = origin.conns_total
            body["stalls_open"] = origin.stalls_open
            await self.json(200, body, head=head)
        elif path in ("/_reset_stats", "/_reset_faults", "/_reset") and method == "POST":
            if path in ("/_reset_stats", "/_reset"):
                origin.stats = Stats()
            if path in ("/_reset_faults", "/_reset"):
                origin.fault_counts.clear()
            await self.json(200, {"ok": True})
        elif path == "/_version" and method in ("GET", "POST"):
            name = params.get("name")
            if not name:
                await self.simple(400, b"name is required\n", head=False)
                return
            if method == "POST":
                try:
                    v = parse_int(params, "version", None, hi=1 << 31)
                except BadRequest as e:
                    await self.simple(400, f"{e}\n".encode(), head=False)
                    return
                if v is None:
                    await self.simple(400, b"version is required\n", head=False)
                    return
                origin.versions[name] = v
            await self.json(200, {"name": name, "version": origin.versions.get(name, 0)})
        elif path in ("/_ping", "/_stats", "/_reset_stats", "/_reset_faults", "/_reset", "/_version"):
            await self.simple(405, b"method not allowed\n", head=head)
        else:
            await self.simple(404, b"unknown control endpoint\n", head=head)


def _corrupt(chunk: bytes | memoryview) -> bytes:
    """Flip the middle byte of a chunk: same length, different content, for digest-verification tests."""
    b = bytearray(chunk)
    b[len(b) // 2] ^= 0xFF
    return bytes(b)


# ------------------------------------------------------------------------------------------------------ main


async def serve(args: argparse.Namespace) -> None:
    scheme = "https" if args.tls_cert else "http"
    origin = Origin(args.data_dir, scheme, args.verbose)
    listeners: list[Any] = list(await trio.open_tcp_listeners(args.port, host="127.0.0.1", backlog=4096))
    port = listeners[0].socket.getsockname()[1]
    if args.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        ctx.set_alpn_protocols(["http/1.1"])
        listeners = [trio.SSLListener(lst, ctx, https_compatible=True) for lst in listeners]

    async def handler(stream: trio.abc.Stream) -> None:
        origin.conns_open += 1
        origin.conns_total += 1
        try:
            await Conn(origin, stream).serve()
        except Exception:
            # An exception escaping a handler would take the whole server down; log it and drop the connection.
            log("connection task failed:\n" + traceback.format_exc())
        finally:
            origin.conns_open -= 1

    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:

            async def watch_signals() -> None:
                async for signum in signals:
                    log(f"signal {signum}, shutting down")
                    nursery.cancel_scope.cancel()
                    return

            nursery.start_soon(watch_signals)
            if args.exit_with_parent:
                nursery.start_soon(watch_parent, nursery.cancel_scope)
            nursery.start_soon(trio.serve_listeners, handler, listeners)
            await trio.lowlevel.checkpoint()
            sys.stdout.write(f"PORT {port}\n")
            sys.stdout.flush()
            log(f"serving {scheme}://127.0.0.1:{port}/ data_dir={origin.data_dir}")


async def watch_parent(scope: trio.CancelScope) -> None:
    """Exit when the process that started us dies, so a killed pytest run cannot leave an orphan server."""
    parent = os.getppid()
    while os.getppid() == parent:  # noqa: ASYNC110 - nothing to wait on: the kernel only lets us poll this
        await trio.sleep(0.5)
    log("parent process went away, shutting down")
    scope.cancel()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.origin.server", description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks a free one")
    ap.add_argument("--tls-cert", help="PEM certificate chain; enables HTTPS")
    ap.add_argument("--tls-key", help="PEM private key for --tls-cert")
    ap.add_argument("--data-dir", help="directory served under /files/")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    ap.add_argument("--exit-with-parent", action="store_true", help="shut down when the parent process dies")
    args = ap.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    trio.run(serve, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
