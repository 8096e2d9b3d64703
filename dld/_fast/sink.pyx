# cython: language_level=3
"""The write sink: one call per received chunk writes it to the temp file and feeds the checksums.

Why Cython: pycurl calls the write callback once per chunk (up to CURLOPT_BUFFERSIZE, 512 KiB here; P7). Doing the
write and the hashing in one compiled call keeps Python out of the per-chunk path, and the ``write(2)`` runs
without the GIL. ``write`` returns None, never a count (P8: pycurl takes any other value as a short write).

blake3 is computed for every object (the stored content checksum). The verification algorithms (crc32c, crc32,
md5, sha256, sha512) run only when the source gave a value to check against (engine-notes §4: md5 alone caps a
transfer at ~0.5 GB/s); ``enable`` switches them on when the response headers arrive and hashes the bytes already
in the file (a resumed transfer) so the value covers the whole object. crc32c comes from the ``crc32c`` package
(hardware instructions, ~25 GB/s here). Hashing stays inline: a hashing thread was measured and lost, because each
hand-off made it re-take the GIL and convoy with the trio thread (engine-notes P9; docs/performance.md).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.errno cimport errno, EINTR
from libc.stdint cimport uint32_t, uint64_t
from posix.unistd cimport write as c_write

import hashlib
import os
import zlib

from blake3 import blake3
import crc32c as _crc32c

_HASHLIB = {"md5": hashlib.md5, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
cdef class Sink:
    """Appends received bytes to ``fd`` (opened by the caller, positioned at ``offset``) and hashes them."""

    cdef public int fd
    cdef public long long offset      # bytes in the file so far (resumed bytes included)
    cdef public long long received    # body bytes received in this attempt
    cdef public object b3
    cdef public dict hashers          # algorithm -> hashlib object (md5/sha256/sha512)
    cdef public unsigned int crc32c
    cdef public bint want_crc32c
    cdef public unsigned int crc32
    cdef public bint want_crc32
    cdef public bint abort            # set to end the transfer from inside the callback
    cdef public object error          # the OSError that stopped a write, if any

    def content_digest(self):
        """The blake3 of everything written, hex; "" when content checksumming is off."""
        return self.b3.hexdigest() if self.b3 is not None else ""

    def __init__(self, int fd, long long offset=0, object b3=None, bint content_checksum=True):
        self.fd = fd
        self.offset = offset
        self.received = 0
        self.b3 = (b3 if b3 is not None else blake3()) if content_checksum else None
        self.hashers = {}
        self.crc32c = 0
        self.want_crc32c = False
        self.crc32 = 0
        self.want_crc32 = False
        self.abort = False
        self.error = None

    cdef _hash(self, object data):
        if self.b3 is not None:
            self.b3.update(data)
        if self.want_crc32c:
            self.crc32c = _crc32c.crc32c(data, self.crc32c, gil_release_mode=-1)
        if self.want_crc32:
            self.crc32 = zlib.crc32(data, self.crc32)
        if self.hashers:
            for h in self.hashers.values():
                h.update(data)

    def reset(self):
        """Start the object over: truncate the file and the checksums (origin ignored Range, or changed)."""
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        self.offset = 0
        self.b3 = blake3() if self.b3 is not None else None
        self.hashers = {}
        self.crc32c = 0
        self.want_crc32c = False
        self.crc32 = 0
        self.want_crc32 = False

    def enable(self, algorithms):
        """Compute these verification algorithms too, over the bytes already in the file and all that follow."""
        new = [a for a in algorithms if a not in self.hashers
               and not (a == "crc32c" and self.want_crc32c) and not (a == "crc32" and self.want_crc32)]
        if not new:
            return
        for a in new:
            if a == "crc32c":
                self.want_crc32c = True
            elif a == "crc32":
                self.want_crc32 = True
            else:
                self.hashers[a] = _HASHLIB[a]()
        if self.offset:
            c32c, c32, hs = _hash_prefix(self.fd, self.offset, "crc32c" in new, "crc32" in new,
                                         {a: self.hashers[a] for a in new if a in self.hashers})
            if "crc32c" in new:
                self.crc32c = c32c
            if "crc32" in new:
                self.crc32 = c32

    def digests(self):
        """The verification algorithms' values so far, as lowercase hex (crc32c/crc32 as 8 hex digits)."""
        out = {a: h.hexdigest() for a, h in self.hashers.items()}
        if self.want_crc32c:
            out["crc32c"] = f"{self.crc32c:08x}"
        if self.want_crc32:
            out["crc32"] = f"{self.crc32:08x}"
        return out

    def write(self, bytes data):
        cdef const char* p = PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef Py_ssize_t done = 0
        cdef Py_ssize_t r = 0
        cdef int err = 0
        if self.abort:
            return 0  # pycurl: short write → CURLE_WRITE_ERROR, the transfer ends
        with nogil:
            while done < n:
                r = c_write(self.fd, p + done, n - done)
                if r < 0:
                    if errno == EINTR:
                        continue
                    err = errno
                    break
                done += r
        if err:
            self.error = OSError(err, os.strerror(err))
            return 0
        self.offset += n
        self.received += n
        self._hash(data)
        return None


def _hash_prefix(int fd, long long length, bint crc32c, bint crc32, dict hashers, object b3=None):
    cdef unsigned int c32c = 0
    cdef unsigned int c32 = 0
    cdef long long pos = 0
    while pos < length:
        chunk = os.pread(fd, min(1 << 20, length - pos), pos)
        if not chunk:
            raise OSError(f"file shorter than expected: {pos} < {length}")
        if b3 is not None:
            b3.update(chunk)
        if crc32c:
            c32c = _crc32c.crc32c(chunk, c32c, gil_release_mode=-1)
        if crc32:
            c32 = zlib.crc32(chunk, c32)
        for h in hashers.values():
            h.update(chunk)
        pos += len(chunk)
    return c32c, c32, hashers


def hash_file(int fd, long long length):
    """The blake3 hasher of the first ``length`` bytes of an open file, read in 1 MiB pieces.

    Used when a transfer resumes from a partial file written by an earlier process: the hash state did not
    survive, the bytes did.
    """
    h = blake3()
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
