"""``/v1/objects/<bucket>/<name>``: GET (whole or one byte range), HEAD and DELETE of stored objects, as AIS does.

Theory of operation
-------------------
* The object name is the rest of the path after the bucket, ``/``-joined (names may contain ``/``); the bucket's
  provider and namespace come from the query, as for ``/v1/buckets`` (``buckets.bucket_from_request``). Names with
  ``.``/``..`` components, a trailing ``/`` or NUL are refused: they cannot be stored objects, and the store maps a
  name straight to a file path.
* Metadata goes out as AIS's ``ais-*`` headers (``object_headers``): Content-Length is the size (the SDK reads the
  size from it, on HEAD too), ``ais-checksum-type: blake3`` + hex value (the SDK and CLI treat the type as an opaque
  string; AIS has no blake3 type of its own), ``ais-atime`` in Unix nanoseconds, ``ais-version``, ``ais-present:
  true`` (the SDK HEADs for it before resuming a broken read at an offset), and one ``Ais-Custom-Md: k=v`` header
  per custom key, as AIS adds them. GET carries the same headers: the SDK's reader takes the object's attributes
  from the GET response.
* GET bodies stream from the file in 1 MiB ``pread`` chunks from an async generator: memory stays flat for any
  size, and the file descriptor opened before the response starts keeps serving the same bytes even if the object
  is replaced or deleted meanwhile (the store publishes by rename). The headers describe that same file: the size
  is taken from ``fstat`` of the open descriptor, and the metadata is re-read if it does not match.
* One ``Range: bytes=a-b | a- | -n`` is honoured (206 + Content-Range); several ranges, or a range past the end,
  get 416, as AIS answers. A Range header in another unit is ignored (200, whole object) per RFC 9110.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from ..errors import BadRequest, MethodNotAllowed, NotFound, RangeNotSatisfiable
from ..store.meta import Bck, ObjectMeta
from .buckets import bucket_from_request, bucket_not_found
from .http import Request, Response

PREFIX = "/v1/objects"
CHUNK = 1 << 20
ALLOW = "GET, HEAD, DELETE"


# ---- names and ranges --------------------------------------------------------------------------------------------


def validate_object_name(name: str) -> None:
    """Refuse names that cannot be stored objects (and could escape the bucket directory)."""
    if not name:
        raise BadRequest("missing object name")
    if "\x00" in name:
        raise BadRequest(f'object name "{name!r}" is invalid: contains NUL')
    if name.endswith("/"):
        raise BadRequest(f'object name "{name}" is invalid: ends with "/"')
    if any(c in (".", "..") for c in name.split("/")):
        raise BadRequest(f'object name "{name}" is invalid: contains a "." or ".." path component')


_RANGE = re.compile(r"(\d*)-(\d*)")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range ``(first, last)`` a ``Range`` header asks of an object of ``size`` bytes.

    Returns None when the whole object is to be sent (no header, or a unit other than ``bytes``).

    Raises:
        RangeNotSatisfiable: several ranges, a malformed range, or one that selects no byte of the object.
    """
    if header is None or not header.strip():
        return None
    unit, sep, spec = header.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    spec = spec.strip()
    if "," in spec:
        raise RangeNotSatisfiable(f'multi-range requests are not supported: "{header}"', size)
    m = _RANGE.fullmatch(spec)
    if m is None or (not m.group(1) and not m.group(2)):
        raise RangeNotSatisfiable(f'invalid range "{header}"', size)
    a, b = m.group(1), m.group(2)
    if not a:  # suffix: the last n bytes
        n = int(b)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(f'range "{header}" not satisfiable: object size is {size}', size)
        return max(0, size - n), size - 1
    first = int(a)
    last = int(b) if b else size - 1
    if b and last < first:
        raise RangeNotSatisfiable(f'invalid range "{header}": last byte before first', size)
    if first >= size:
        raise RangeNotSatisfiable(f'range "{header}" not satisfiable: object size is {size}', size)
    return first, min(last, size - 1)


# ---- headers -----------------------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^\x20-\x7e]")


def header_safe(v: str) -> str:
    """A value that can go into an HTTP header: control and non-ASCII characters percent-encoded (UTF-8)."""
    return _UNSAFE.sub(lambda m: quote(m.group(0), safe=""), v) if _UNSAFE.search(v) else v


def quote_etag(v: str) -> str:
    """AIS sends a stored ETag quoted; one stored with its quotes (or weak) is sent as is."""
    return v if v.startswith(('"', 'W/"')) else f'"{v}"'


def object_headers(bck: Bck, name: str, meta: ObjectMeta, size: int | None = None) -> list[tuple[str, str]]:
    """The AIS object-attribute headers shared by HEAD and GET (AIS ``cmn.ToHeader`` plus the V1 HEAD extras).

    ``size`` overrides ``meta.size`` for Content-Length (GET of a range, or the size of the file actually opened).
    """
    h: list[tuple[str, str]] = [
        ("Content-Length", str(meta.size if size is None else size)),
        ("Content-Type", header_safe(meta.custom.get("Content-Type", "")) or "application/octet-stream"),
        ("Accept-Ranges", "bytes"),
    ]
    if meta.blake3:
        h += [("Ais-Checksum-Type", "blake3"), ("Ais-Checksum-Value", meta.blake3)]
    if meta.atime_ns > 0:
        h.append(("Ais-Atime", str(meta.atime_ns)))
    if meta.version:
        h.append(("Ais-Version", str(meta.version)))
    for k in sorted(meta.custom):
        h.append(("Ais-Custom-Md", f"{header_safe(k)}={header_safe(meta.custom[k])}"))
    if etag := meta.custom.get("ETag"):
        h.append(("ETag", header_safe(quote_etag(etag))))
    if lm := meta.custom.get("Last-Modified"):
        h.append(("Last-Modified", header_safe(lm)))
    h += [("Ais-Present", "true"), ("Ais-Mirror-Copies", "1"), ("Ais-Bucket-Name", bck.name),
          ("Ais-Bucket-Provider", bck.provider)]
    if header_safe(name) == name:  # the SDK falls back to the name it asked for when this is absent
        h.append(("Ais-Name", name))
    return h


# ---- handlers ----------------------------------------------------------------------------------------------------


def _object_from_request(req: Request) -> tuple[Bck, str]:
    items = req.path_items(PREFIX)
    if len(items) < 2:
        raise BadRequest(f"invalid URL path {req.path}: expecting {PREFIX}/<bucket>/<object>")
    bck = bucket_from_request(req, items[0])
    name = "/".join(items[1:])
    validate_object_name(name)
    return bck, name


def object_not_found(bck: Bck, name: str) -> NotFound:
    """AIS's wording; ``ais://bucket/`` in it makes the SDK raise ``ErrObjNotFound`` (not ``ErrBckNotFound``)."""
    return NotFound(f"{bck.cname}/{name} does not exist")


async def handle(req: Request, ctx: Any) -> Response:
    """Every request under ``/v1/objects``."""
    if req.method not in ("GET", "HEAD", "DELETE"):
        raise MethodNotAllowed(f"{req.method} {req.path}: dld serves objects read-only (GET, HEAD) and DELETE",
                               allow=ALLOW)
    bck, name = _object_from_request(req)
    store = ctx.store
    if req.method == "DELETE":
        if not store.delete(bck, name):
            raise _missing(store, bck, name)
        return Response.empty(200)
    if req.method == "HEAD":
        meta = store.head(bck, name)
        if meta is None:
            raise _missing(store, bck, name)
        return Response(200, object_headers(bck, name, meta), b"")
    return _get(req, store, bck, name)


def _missing(store: Any, bck: Bck, name: str) -> NotFound:
    return object_not_found(bck, name) if store.bucket_exists(bck) else bucket_not_found(bck)


def _open(store: Any, bck: Bck, name: str) -> tuple[io.FileIO, int, ObjectMeta]:
    """Open the object and return ``(file, size, meta)`` describing the same file.

    The object can be replaced between reading its metadata and opening it; a size mismatch shows that and the
    metadata is read again (a few tries, then the open file's size wins and the rest of the metadata is best
    effort). A ``FileIO`` rather than a bare descriptor: if the response body is dropped before it is ever iterated
    (client gone), collecting the generator closes the file.
    """
    for attempt in range(4):
        meta = store.head(bck, name)
        if meta is None:
            raise _missing(store, bck, name)
        try:
            f = io.FileIO(store.object_path(bck, name), "r")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            continue  # deleted or replaced just now: look again
        size = os.fstat(f.fileno()).st_size
        if size == meta.size or attempt == 3:
            return f, size, meta
        f.close()
    raise _missing(store, bck, name)


def _get(req: Request, store: Any, bck: Bck, name: str) -> Response:
    f, size, meta = _open(store, bck, name)
    try:
        rng = parse_range(req.header("range"), size)
    except RangeNotSatisfiable:
        f.close()
        raise
    if rng is None:
        first, last, status = 0, size - 1, 200
        headers = object_headers(bck, name, meta, size)
    else:
        (first, last), status = rng, 206
        headers = object_headers(bck, name, meta, last - first + 1)
        headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
    return Response(status, headers, stream_file(f, first, last - first + 1))


async def stream_file(f: io.FileIO, offset: int, length: int, chunk: int = CHUNK) -> AsyncIterator[bytes]:
    """Yield ``length`` bytes of ``f`` from ``offset`` in ``chunk``-sized pieces; closes ``f`` when done.

    Reads are synchronous: a 1 MiB read from a local disk is short next to sending it, and keeps this free of
    thread hand-offs. A file that ends early (truncated under us) ends the body early; the client sees fewer
    bytes than Content-Length and treats it as a broken transfer, which it is.
    """
    try:
        fd = f.fileno()
        pos, end = offset, offset + length
        while pos < end:
            data = os.pread(fd, min(chunk, end - pos), pos)
            if not data:
                return
            pos += len(data)
            yield data
    finally:
        f.close()
