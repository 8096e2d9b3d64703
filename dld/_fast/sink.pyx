# cython: language_level=3
"""The write sink: one call per received chunk writes it to the temp file and feeds the checksums.

Why Cython: pycurl calls the write callback once per chunk (up to CURLOPT_BUFFERSIZE, 512 KiB here; P7). Doing the
write and the hashing in one compiled call keeps Python out of the per-chunk path, and the ``write(2)`` runs
without the GIL. ``write`` returns None, never a count (P8: pycurl takes any other value as a short write).

blake3 is computed for every object (the stored content checksum). crc32c and md5 run only when the source gave a
value to check against (engine-notes §4: md5 alone caps a transfer at ~0.5 GB/s).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.errno cimport errno, EINTR
from posix.unistd cimport write as c_write

import os

from blake3 import blake3
import google_crc32c


cdef class Sink:
    """Appends received bytes to ``fd`` (opened by the caller, positioned at ``offset``) and hashes them."""

    cdef public int fd
    cdef public long long offset      # bytes in the file so far (resumed bytes included)
    cdef public long long received    # body bytes received in this attempt
    cdef public object b3
    cdef public object md5
    cdef public unsigned int crc32c
    cdef public bint want_crc32c
    cdef public bint abort            # set by the engine to end the transfer from inside the callback
    cdef public object error          # the OSError that stopped a write, if any

    def __init__(self, int fd, long long offset=0, object b3=None, bint want_crc32c=False, object md5=None):
        self.fd = fd
        self.offset = offset
        self.received = 0
        self.b3 = b3 if b3 is not None else blake3()
        self.md5 = md5
        self.crc32c = 0
        self.want_crc32c = want_crc32c
        self.abort = False
        self.error = None

    def reset(self):
        """Start the object over: truncate the file and the checksums (origin ignored Range, or changed)."""
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        self.offset = 0
        self.b3 = blake3()
        if self.md5 is not None:
            self.md5 = self.md5.__class__()
        self.crc32c = 0

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
        self.b3.update(data)
        if self.want_crc32c:
            self.crc32c = google_crc32c.extend(self.crc32c, data)
        if self.md5 is not None:
            self.md5.update(data)
        return None


def hash_file(int fd, long long length, object md5=None, bint want_crc32c=False):
    """Checksums of the first ``length`` bytes of an open file, read in 1 MiB pieces.

    Used when a transfer resumes from a partial file written by an earlier process: the hash state did not
    survive, the bytes did. Returns ``(blake3 hasher, crc32c int, md5 hasher or None)``.
    """
    h = blake3()
    cdef unsigned int crc = 0
    cdef long long pos = 0
    while pos < length:
        chunk = os.pread(fd, min(1 << 20, length - pos), pos)
        if not chunk:
            raise OSError(f"file shorter than expected: {pos} < {length}")
        h.update(chunk)
        if want_crc32c:
            crc = google_crc32c.extend(crc, chunk)
        if md5 is not None:
            md5.update(chunk)
        pos += len(chunk)
    return h, crc, md5
