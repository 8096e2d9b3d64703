# cython: language_level=3
"""The write sink: one call per received chunk writes it to the temp file and feeds the checksums.

Why Cython: pycurl calls the write callback once per chunk (at most 16 KiB: libcurl's CURL_MAX_WRITE_SIZE, whatever
CURLOPT_BUFFERSIZE says). Doing the write and the hashing in one compiled call keeps Python out of the per-chunk
path. The GIL is let go around the hashing and the ``write(2)``s, not for a chunk that is only copied (into a batch
or a staging buffer): re-taking it after every chunk's copy cost ~3 % of the trio thread. ``write`` returns None, never a
count (P8: pycurl takes any other value as a short write).

blake3 is computed for every object (the stored content checksum) with the official C implementation, vendored in
``vendor/blake3`` (SIMD picked at run time); crc32c, when the source gave one to check, with ``csrc/crc32c.c``
(three interleaved hardware streams). For an object's first ``OFFLOAD_AFTER`` bytes both run inline, without the
GIL. After that a pool of C threads shared by all transfers takes them over (``csrc/offload.c``): the callback
copies each chunk into a 2 MiB staging buffer and a pool thread hashes full buffers, aligned, on another core,
never taking the GIL, so it cannot convoy with the trio thread as a Python hashing thread did (engine-notes P9;
docs/performance.md).

The file is written ``WRITE_BATCH`` (128 KiB) at a time, not per chunk: on ext4 with large page-cache folios every
``write(2)`` walks all the folio's buffer heads, so 16 KiB writes cost ~30 % more kernel time per byte. Inline, the
chunks gather in a batch buffer; offloaded, they are written from the staging buffer they were copied into anyway.
So the file lags the bytes taken by up to one batch: ``flush`` (after every attempt) writes the rest, and a write
error shows up at the batch that hit it, as ``error`` and a refused chunk, or as ``flush`` raising.

The other verification algorithms (crc32, md5, sha256, sha512) are rare (Azure Content-MD5, RFC 9530 digests)
and run inline through zlib/hashlib. ``enable`` switches verification on when the response headers arrive and
hashes the bytes already in the file (a resumed transfer) so the value covers the whole object.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

import hashlib
import os
import zlib

cdef extern from "csrc/b3stream.h" nogil:
    ctypedef struct dld_b3:
        pass
    void dld_b3_init(dld_b3 *s)
    void dld_b3_update(dld_b3 *s, const void *data, size_t len)
    void dld_b3_finalize(const dld_b3 *s, uint8_t *out)

cdef extern from "csrc/crc32c.h" nogil:
    uint32_t dld_crc32c(uint32_t crc, const void *data, size_t len)
    uint32_t dld_crc32c_portable(uint32_t crc, const void *data, size_t len)

cdef extern from "csrc/offload.h" nogil:
    ctypedef struct dld_offload:
        pass
    enum: DLD_WRITE_BATCH
    int dld_write_all(int fd, const void *data, size_t len)
    dld_offload *dld_offload_start(int fd, dld_b3 *b3, int want_crc32c, uint32_t crc)
    int dld_offload_feed(dld_offload *q, const void *data, size_t len)
    int dld_offload_blocks(const dld_offload *q, size_t len)
    int dld_offload_flush(dld_offload *q)
    int dld_offload_drain(dld_offload *q)
    void dld_offload_close_file(dld_offload *q)
    size_t dld_offload_unwritten(dld_offload *q)
    uint32_t dld_offload_crc32c(dld_offload *q)
    void dld_offload_set_crc32c(dld_offload *q, int want, uint32_t crc)
    void dld_offload_stop(dld_offload *q)
    void dld_offload_stats(long *queues, int *threads, long *by_producers)
    void dld_offload_configure(int threads)

#: Bytes of an object hashed inline before its hashing queue starts: below this, allocating the staging buffers
#: and handing them over costs more than the hashing it would move (~0.3 ms per MiB).
cdef long long _OFFLOAD_AFTER = 1 << 20
OFFLOAD_AFTER = _OFFLOAD_AFTER
WRITE_BATCH = DLD_WRITE_BATCH

# Batch buffers of finished sinks, for the next ones: thousands of small objects a second would otherwise each
# malloc and free 128 KiB, which glibc serves with mmap/munmap (its threshold) and page faults. Touched with the
# GIL held only.
cdef enum:
    _SPARE_MAX = 64
cdef unsigned char *_spare[_SPARE_MAX]
cdef int _n_spare = 0


cdef unsigned char *_take_batch():
    global _n_spare
    if _n_spare:
        _n_spare -= 1
        return _spare[_n_spare]
    return <unsigned char *>malloc(DLD_WRITE_BATCH)


cdef void _give_batch(unsigned char *b):
    global _n_spare
    if _n_spare < _SPARE_MAX:
        _spare[_n_spare] = b
        _n_spare += 1
    else:
        free(b)


def crc32c(const unsigned char[::1] data not None, unsigned int value=0):
    """CRC-32C of ``data`` appended to a message whose CRC-32C is ``value``; releases the GIL."""
    cdef size_t n = data.shape[0]
    cdef uint32_t c = value
    if n:
        with nogil:
            c = dld_crc32c(c, &data[0], n)
    return c


def crc32c_portable(const unsigned char[::1] data not None, unsigned int value=0):
    """The same through the byte-wise table (tests check the hardware path against it)."""
    cdef size_t n = data.shape[0]
    return dld_crc32c_portable(value, &data[0], n) if n else value


_HASHLIB = {"md5": hashlib.md5, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


cdef class Blake3:
    """A blake3 hasher on the vendored C implementation, fed through ``csrc/b3stream.c`` (full SIMD width on
    pieces off the chunk grid); ``update`` releases the GIL."""

    cdef dld_b3 h

    def __cinit__(self):
        dld_b3_init(&self.h)

    def update(self, const unsigned char[::1] data not None):
        cdef size_t n = data.shape[0]
        if n:
            with nogil:
                dld_b3_update(&self.h, &data[0], n)

    def digest(self):
        cdef uint8_t out[32]
        dld_b3_finalize(&self.h, out)
        return bytes(out[:32])

    def hexdigest(self):
        return self.digest().hex()


@cython.no_gc_clear  # __dealloc__ drains the queue, which hashes into _b3: _b3 must not be cleared first
cdef class Sink:
    """Appends received bytes to ``fd`` (opened by the caller, positioned at ``offset``) and hashes them.

    ``close`` hands back the hashing queue (if one started); so does collecting the sink.
    """

    cdef public int fd
    cdef public long long offset      # bytes in the file so far (resumed bytes included)
    cdef public long long received    # body bytes received in this attempt
    cdef public bint abort            # set to end the transfer from inside the callback
    cdef public object error          # the OSError that stopped a write, if any
    cdef Blake3 _b3                   # None when content checksumming is off
    cdef bint _want_crc32c
    cdef uint32_t _crc32c             # while offloaded, the queue's value is the current one (see _sync)
    cdef bint _want_crc32
    cdef unsigned int _crc32
    cdef dict _hashers                # md5/sha256/sha512 -> hashlib object
    cdef dld_offload *_q              # the hashing queue, once the object passed OFFLOAD_AFTER
    cdef bint _inline_only            # starting the queue failed (memory): do not try per chunk
    cdef unsigned char *_batch        # inline: bytes taken, not yet written (NULL: none yet, or the queue has them)
    cdef size_t _pending
    cdef int _errno                   # the write error that stopped the file (sticky; mirrored in ``error``)

    def __init__(self, int fd, long long offset=0, Blake3 b3=None, bint content_checksum=True):
        self.fd = fd
        self.offset = offset
        self.received = 0
        self.abort = False
        self.error = None
        self._b3 = (b3 if b3 is not None else Blake3()) if content_checksum else None
        self._want_crc32c = False
        self._crc32c = 0
        self._want_crc32 = False
        self._crc32 = 0
        self._hashers = {}

    def __dealloc__(self):
        self._stop()

    cdef void _release_batch(self):
        if self._batch != NULL:
            _give_batch(self._batch)
            self._batch = NULL

    cdef int _flush_batch(self) noexcept nogil:
        cdef size_t n = self._pending
        self._pending = 0
        if n and not self._errno:
            self._errno = dld_write_all(self.fd, self._batch, n)
        return self._errno

    cdef int _append(self, const unsigned char *p, size_t n) noexcept nogil:
        """Take n bytes for the file (inline): into the batch, which goes out when full."""
        if self._errno:
            return self._errno
        if self._batch == NULL or n >= DLD_WRITE_BATCH:
            if self._flush_batch():
                return self._errno
            self._errno = dld_write_all(self.fd, p, n)
            return self._errno
        if self._pending + n > DLD_WRITE_BATCH:
            self._flush_batch()
        memcpy(self._batch + self._pending, p, n)
        self._pending += n
        if self._pending == DLD_WRITE_BATCH:
            self._flush_batch()
        return self._errno

    cdef bint _batch_takes(self, size_t n) noexcept nogil:
        """Whether n more bytes only go into the batch (no write due)."""
        return self._batch != NULL and self._pending + n < DLD_WRITE_BATCH

    cdef int _flush_all(self) noexcept nogil:
        if self._flush_batch():
            return self._errno
        if self._q != NULL:
            self._errno = dld_offload_flush(self._q)
        return self._errno

    cdef void _note_error(self):
        if self._errno and self.error is None:
            self.error = OSError(self._errno, os.strerror(self._errno))

    def flush(self):
        """Write out every byte taken (call before the file is read or the object is judged).

        Raises:
            OSError: a write failed (now, or at an earlier batch); the file is missing bytes.
        """
        with nogil:
            self._flush_all()
        self._note_error()
        if self.error is not None:
            raise self.error

    cdef void _sync(self):
        """Wait until everything fed to the queue is hashed (and written); then the sink's own fields are current."""
        cdef int err = 0
        if self._q != NULL:
            with nogil:
                err = dld_offload_drain(self._q)
            if err and not self._errno:
                self._errno = err
            self._crc32c = dld_offload_crc32c(self._q)

    cdef void _stop(self):
        """Free the queue and the batch buffer without writing more (``close`` flushes first; a collected sink's
        fd may be gone)."""
        cdef dld_offload *q = self._q
        if q != NULL:
            dld_offload_close_file(q)
            self._sync()
            self._q = NULL
            with nogil:
                dld_offload_stop(q)
        self._release_batch()

    def close(self):
        """Write out what is pending and hand back the hashing queue and buffers; the digests stay readable.

        Never raises: a write error is left in ``error`` (``flush`` is where callers learn of it).
        """
        with nogil:
            self._flush_all()
        self._stop()
        self._note_error()

    @property
    def written(self):
        """Bytes in the file: ``offset`` less what waits in a batch for its write."""
        cdef size_t unwritten = self._pending
        if self._q != NULL:
            unwritten += dld_offload_unwritten(self._q)
        return self.offset - unwritten

    @property
    def offloaded(self):
        """Whether the hashing pool took this object over (tests use it to cover both paths)."""
        return self._q != NULL

    def content_digest(self):
        """The blake3 of everything written, hex; "" when content checksumming is off."""
        if self._b3 is None:
            return ""
        self._sync()
        return self._b3.hexdigest()

    def reset(self):
        """Start the object over: truncate the file and the checksums (origin ignored Range, or changed)."""
        self._pending = 0  # not written yet: nothing to take back
        self._sync()
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        self.offset = 0
        if self._b3 is not None:
            dld_b3_init(&self._b3.h)
        self._want_crc32c = False
        self._crc32c = 0
        self._want_crc32 = False
        self._crc32 = 0
        self._hashers = {}
        if self._q != NULL:
            dld_offload_set_crc32c(self._q, 0, 0)

    def enable(self, algorithms):
        """Compute these verification algorithms too, over the bytes already in the file and all that follow."""
        new = [a for a in algorithms if a not in self._hashers
               and not (a == "crc32c" and self._want_crc32c) and not (a == "crc32" and self._want_crc32)]
        if not new:
            return
        with nogil:
            self._flush_all()  # the prefix is hashed from the file
        self._note_error()
        self._sync()
        hashers = {a: _HASHLIB[a]() for a in new if a in _HASHLIB}
        c32c, c32 = _hash_prefix(self.fd, self.offset, "crc32c" in new, "crc32" in new, hashers)
        self._hashers.update(hashers)
        if "crc32c" in new:
            self._want_crc32c, self._crc32c = True, c32c
            if self._q != NULL:
                dld_offload_set_crc32c(self._q, 1, c32c)
        if "crc32" in new:
            self._want_crc32, self._crc32 = True, c32

    def digests(self):
        """The verification algorithms' values so far, as lowercase hex (crc32c/crc32 as 8 hex digits)."""
        out = {a: h.hexdigest() for a, h in self._hashers.items()}
        if self._want_crc32c:
            self._sync()
            out["crc32c"] = f"{self._crc32c:08x}"
        if self._want_crc32:
            out["crc32"] = f"{self._crc32:08x}"
        return out

    def write(self, bytes data):
        cdef const unsigned char* p = <const unsigned char *>PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef int err = 0
        cdef dld_b3 *b3 = NULL
        cdef dld_offload *q
        if self.abort or self._errno:
            self._note_error()
            return 0  # pycurl: short write → CURLE_WRITE_ERROR, the transfer ends
        if self._b3 is not None:
            b3 = &self._b3.h
        if (self._q == NULL and self.offset >= _OFFLOAD_AFTER and (b3 != NULL or self._want_crc32c)
                and not self._inline_only):
            with nogil:
                err = self._flush_batch()  # the file stays in order: the queue writes after these
            if not err:
                self._q = dld_offload_start(self.fd, b3, self._want_crc32c, self._crc32c)
                self._inline_only = self._q == NULL  # then hashing stays inline: slower, still right
                if self._q != NULL:
                    self._release_batch()
        elif self._q == NULL and self._batch == NULL:
            self._batch = _take_batch()  # NULL (no memory): chunks are written as they come
        q = self._q
        # The GIL is let go around hashing and wherever this call may block (a write(2), a hand-over, a wait for
        # the pool), not for a chunk that is only copied: past the first MiB of a big object that is most of them,
        # and re-taking the GIL after each cost ~3 % of the trio thread.
        if err:
            pass
        elif q != NULL:
            if dld_offload_blocks(q, n):
                with nogil:
                    err = dld_offload_feed(q, p, n)
            else:
                err = dld_offload_feed(q, p, n)
            if err:
                self._errno = err
        elif b3 == NULL and not self._want_crc32c and self._batch_takes(n):
            err = self._append(p, n)  # a copy into the batch
        else:
            with nogil:
                if b3 != NULL:
                    dld_b3_update(b3, p, n)
                if self._want_crc32c:
                    self._crc32c = dld_crc32c(self._crc32c, p, n)
                err = self._append(p, n)
        if err:
            self._note_error()
            return 0
        self.offset += n
        self.received += n
        if self._want_crc32:
            self._crc32 = zlib.crc32(data, self._crc32)
        if self._hashers:
            for h in self._hashers.values():
                h.update(data)
        return None


def configure_hashing(int threads):
    """At most ``threads`` threads hash big objects, shared by all transfers (0: one per core but one)."""
    dld_offload_configure(threads)


def offload_stats():
    """(queues alive, pool threads started, buffers their producers hashed themselves): for tests."""
    cdef long queues = 0
    cdef int threads = 0
    cdef long by_producers = 0
    dld_offload_stats(&queues, &threads, &by_producers)
    return queues, threads, by_producers


def _hash_prefix(int fd, long long length, bint want_crc32c, bint want_crc32, dict hashers, Blake3 b3=None):
    """Hash the first ``length`` bytes of an open file, read in 1 MiB pieces; returns (crc32c, crc32)."""
    cdef uint32_t c32c = 0
    cdef unsigned int c32 = 0
    cdef long long pos = 0
    cdef const unsigned char[::1] mv
    while pos < length:
        chunk = os.pread(fd, min(1 << 20, length - pos), pos)
        if not chunk:
            raise OSError(f"file shorter than expected: {pos} < {length}")
        mv = chunk
        with nogil:
            if b3 is not None:
                dld_b3_update(&b3.h, &mv[0], mv.shape[0])
            if want_crc32c:
                c32c = dld_crc32c(c32c, &mv[0], mv.shape[0])
        if want_crc32:
            c32 = zlib.crc32(chunk, c32)
        for h in hashers.values():
            h.update(chunk)
        pos += len(chunk)
    return c32c, c32


def hash_file(int fd, long long length):
    """The blake3 hasher of the first ``length`` bytes of an open file.

    Used when a transfer resumes from a partial file written by an earlier process (the hash state did not
    survive, the bytes did) and by ``object verify``.
    """
    h = Blake3()
    _hash_prefix(fd, length, False, False, {}, h)
    return h


# ---- crc32c combination --------------------------------------------------------------------------------------
# crc(A||B) from crc(A), crc(B) and len(B), as zlib's crc32_combine does (GF(2) matrix squaring), for the
# Castagnoli polynomial. A download split into segments verifies against the source's whole-object crc32c
# without reading the file again.

cdef uint32_t _gf2_times(uint32_t* mat, uint32_t vec) noexcept nogil:
    cdef uint32_t s = 0
    cdef int i = 0
    while vec:
        if vec & 1:
            s ^= mat[i]
        vec >>= 1
        i += 1
    return s


cdef void _gf2_square(uint32_t* square, uint32_t* mat) noexcept nogil:
    cdef int n
    for n in range(32):
        square[n] = _gf2_times(mat, mat[n])


def crc32c_combine(unsigned int crc1, unsigned int crc2, unsigned long long len2):
    """crc32c of the concatenation A||B, given crc32c(A), crc32c(B) and len(B)."""
    cdef uint32_t even[32]
    cdef uint32_t odd[32]
    cdef uint32_t row = 1
    cdef int n
    cdef uint32_t c1 = crc1
    if len2 == 0:
        return crc1
    odd[0] = 0x82F63B78  # reflected Castagnoli polynomial
    for n in range(1, 32):
        odd[n] = row
        row <<= 1
    _gf2_square(even, odd)
    _gf2_square(odd, even)
    while True:
        _gf2_square(even, odd)
        if len2 & 1:
            c1 = _gf2_times(even, c1)
        len2 >>= 1
        if len2 == 0:
            break
        _gf2_square(odd, even)
        if len2 & 1:
            c1 = _gf2_times(odd, c1)
        len2 >>= 1
        if len2 == 0:
            break
    return c1 ^ crc2
