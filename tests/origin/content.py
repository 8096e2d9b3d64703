"""Deterministic object content shared by the test origin and the tests.

Why a content *function* and not stored files: tests must be able to say "download /obj/x?size=N" and then
byte-compare the result without the server telling them what it sent (a server bug must not be able to hide a
client bug). So the bytes at offset ``o`` of object ``name`` at ``version`` are a pure function of
``(name, version, o)``, independent of the requested size and of any Range header.

Construction: ``key = blake2b(name, version)[:16]``; the object is the AES-128-CTR keystream of that key (counter
block starting at zero) truncated to ``PERIOD`` bytes, repeated. A keystream is a prefix function, so a short
object is literally a prefix of a long one and small objects only cost the bytes they need; AES-NI makes that
~15 us for 64 KiB (SHAKE-256 took ~200 us, which would have cost a small-file benchmark a second of origin CPU
per 5,000 files). ``PERIOD`` is deliberately *not* a power of two: an off-by-one-block bug in segmented or resumed
downloads (whose boundaries are usually powers of two) lands on different bytes and is detected. Only an offset
error of an exact multiple of ``PERIOD`` would go unnoticed. ``cryptography`` comes with trustme (a test dep).

Generated periods are kept in a small byte-budgeted LRU, so serving a 1 GiB object is slicing one cached buffer.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from email.utils import formatdate

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = [
    "PERIOD",
    "ContentStore",
    "etag_for",
    "expected_bytes",
    "expected_slice",
    "iter_expected",
    "last_modified_for",
    "last_modified_ts",
]

#: Length of the repeating pattern. 1 MiB + 4099 (a prime), so it never lines up with power-of-two segment sizes.
PERIOD = (1 << 20) + 4099

#: Smallest prefix generated for a short object; avoids regenerating for every slightly larger request.
_MIN_GEN = 4096

#: Last-Modified of version 0 (2021-01-01T00:00:00Z); each version adds one day, so it is fixed per version.
_LM_BASE = 1_609_459_200


def _name_bytes(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def object_key(name: str, version: int = 0) -> bytes:
    """16-byte AES key for ``(name, version)``; different names or versions give unrelated content."""
    h = hashlib.blake2b(digest_size=16, person=b"dld-origin-v1")
    h.update(_name_bytes(name))
    h.update(b"|")
    h.update(str(int(version)).encode())
    return h.digest()


_ZERO_IV = bytes(16)


def generate(name: str, version: int, n: int) -> bytes:
    """The first ``n`` bytes (``n <= PERIOD``) of the object's pattern, computed from scratch."""
    enc = Cipher(algorithms.AES(object_key(name, version)), modes.CTR(_ZERO_IV)).encryptor()
    return enc.update(bytes(n))


def etag_for(name: str, version: int, size: int) -> str:
    """The quoted strong ETag the origin sends for ``/obj/<name>?size=<size>`` at ``version``.

    It depends on the size too, because ``/obj/x?size=10`` and ``/obj/x?size=20`` are different representations.
    """
    h = hashlib.blake2b(digest_size=12, person=b"dld-origin-etag")
    h.update(_name_bytes(name))
    h.update(f"|{int(version)}|{int(size)}".encode())
    return f'"{h.hexdigest()}"'


def last_modified_ts(version: int) -> int:
    """Unix time of the Last-Modified date of ``version`` (whole seconds, as HTTP dates are)."""
    return _LM_BASE + 86_400 * int(version)


def last_modified_for(version: int) -> str:
    """IMF-fixdate Last-Modified header value for ``version``."""
    return formatdate(last_modified_ts(version), usegmt=True)


class ContentStore:
    """Byte-budgeted LRU of generated patterns, handing out zero-copy slices of the object content.

    An entry is either a prefix (``len <= PERIOD``) for short objects, or the period written twice
    (``2 * PERIOD``) so that any slice of up to ``PERIOD`` bytes starting anywhere in the period is contiguous.
    Thread-safe: the server fills it on the event loop while digests are computed in worker threads, and the
    returned buffers are immutable ``bytes``.
    """

    def __init__(self, budget: int = 128 << 20) -> None:
        self._budget = budget
        self._used = 0
        self._entries: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def _buffer(self, name: str, version: int, need: int) -> bytes:
        """A buffer for ``(name, version)`` valid for offsets ``< need`` (``need > PERIOD`` means doubled)."""
        key = (name, version)
        with self._lock:
            buf = self._entries.get(key)
            if buf is not None:
                if len(buf) >= need or len(buf) == 2 * PERIOD:
                    self._entries.move_to_end(key)
                    return buf
                self._used -= len(buf)
                del self._entries[key]
        if need > PERIOD:
            base = buf[:PERIOD] if buf is not None and len(buf) >= PERIOD else None
            if base is None:
                base = generate(name, version, PERIOD)
            buf = base + base
        else:
            buf = generate(name, version, min(PERIOD, max(need, _MIN_GEN)))
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._used -= len(old)
            self._entries[key] = buf
            self._used += len(buf)
            while self._used > self._budget and len(self._entries) > 1:
                _, dropped = self._entries.popitem(last=False)
                self._used -= len(dropped)
        return buf

    def slices(
        self, name: str, version: int, offset: int, length: int, chunk_size: int = 1 << 20
    ) -> Iterator[memoryview]:
        """Yield memoryviews covering content bytes ``[offset, offset + length)``, each at most ``chunk_size``.

        The backing buffer is fetched eagerly (this is not a generator function), so the returned iterator can
        be consumed in another thread without touching the cache.
        """
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        chunk_size = max(1, min(chunk_size, PERIOD))
        end = offset + length
        if end <= PERIOD:
            buf = memoryview(self._buffer(name, version, end))
            return (buf[o : min(o + chunk_size, end)] for o in range(offset, end, chunk_size))
        buf = memoryview(self._buffer(name, version, 2 * PERIOD))

        def gen() -> Iterator[memoryview]:
            pos = offset
            while pos < end:
                n = min(chunk_size, end - pos)
                s = pos % PERIOD
                yield buf[s : s + n]
                pos += n

        return gen()


_STORE = ContentStore(budget=64 << 20)


def iter_expected(
    name: str, size: int, version: int = 0, *, offset: int = 0, chunk_size: int = 1 << 20
) -> Iterator[memoryview]:
    """Expected content ``[offset, size)`` of ``/obj/<name>?size=<size>`` in chunks; for hashing huge objects."""
    return _STORE.slices(name, version, offset, max(0, size - offset), chunk_size)


def expected_slice(name: str, offset: int, length: int, version: int = 0) -> bytes:
    """Expected bytes ``[offset, offset + length)`` of object ``name`` (independent of the object's size)."""
    return b"".join(_STORE.slices(name, version, offset, length))


def expected_bytes(name: str, size: int, version: int = 0) -> bytes:
    """The exact body of ``GET /obj/<name>?size=<size>`` when the object is at ``version``."""
    return expected_slice(name, 0, size, version)
