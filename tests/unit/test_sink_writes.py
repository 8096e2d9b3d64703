"""How the sink writes the file: in WRITE_BATCH pieces, inline and from the hashing queue's staging buffers.

The file lags the bytes taken by less than one batch until ``flush``; a write error stops the sink and surfaces
as a refused chunk or as ``flush`` raising, never as a silently short file.
"""

from __future__ import annotations

import errno
import gc
import os
import subprocess
import sys
import textwrap

import pytest
from blake3 import blake3
from dld._fast.sink import OFFLOAD_AFTER, WRITE_BATCH, Sink

CHUNK = 16384  # what libcurl hands the write callback at most


def _feed(s: Sink, data: bytes, chunk: int = CHUNK) -> None:
    for i in range(0, len(data), chunk):
        assert s.write(data[i:i + chunk]) is None


@pytest.fixture
def target(tmp_path):
    path = tmp_path / "obj"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    yield path, fd
    os.close(fd)


def test_inline_bytes_reach_the_file_a_batch_at_a_time(target):
    path, fd = target
    data = os.urandom(10 * CHUNK)
    s = Sink(fd)
    _feed(s, data[:7 * CHUNK])
    assert os.fstat(fd).st_size == 0  # 112 KiB: still in the batch
    _feed(s, data[7 * CHUNK:])
    assert os.fstat(fd).st_size == WRITE_BATCH == s.written
    assert s.offset == len(data)  # taken, whether written yet or not
    s.flush()
    assert s.written == s.offset
    assert path.read_bytes() == data
    assert s.content_digest() == blake3(data).hexdigest()


def test_offloaded_bytes_are_written_from_the_staging_buffers(target):
    path, fd = target
    data = os.urandom(OFFLOAD_AFTER + 3 * (2 << 20) + 5000)
    s = Sink(fd)
    s.enable(["crc32c"])
    _feed(s, data, chunk=CHUNK - 3)  # off the batch grid
    assert s.offloaded
    size = os.fstat(fd).st_size
    assert 0 < len(data) - size < WRITE_BATCH  # whole batches out, the rest waits for flush
    assert s.written == size
    assert path.read_bytes() == data[:size]
    s.flush()
    assert path.read_bytes() == data
    assert s.content_digest() == blake3(data).hexdigest()
    s.close()


def test_chunks_larger_than_a_batch_go_straight_through(target):
    path, fd = target
    data = os.urandom(3 * WRITE_BATCH + 1)
    s = Sink(fd, content_checksum=False)
    assert s.write(data[:100]) is None
    assert s.write(data[100:]) is None  # the 100 pending bytes go first, then this one write
    assert path.read_bytes() == data
    s.close()


def test_close_writes_what_is_pending(target):
    path, fd = target
    s = Sink(fd)
    s.write(b"x" * 20_000)
    s.close()
    assert path.read_bytes() == b"x" * 20_000


def test_a_collected_sink_writes_nothing_more(target):
    """Its fd may already be closed and reused by another file: a dropped sink must not write into it."""
    path, fd = target
    s = Sink(fd)
    _feed(s, os.urandom(OFFLOAD_AFTER + (2 << 20) + 50_000))
    assert s.offloaded
    size = os.fstat(fd).st_size
    del s
    gc.collect()
    assert os.fstat(fd).st_size == size


def test_reset_drops_pending_bytes(target):
    path, fd = target
    s = Sink(fd)
    s.write(b"old" * 1000)
    s.reset()
    s.write(b"new")
    s.flush()
    assert path.read_bytes() == b"new"
    assert s.content_digest() == blake3(b"new").hexdigest()


def test_a_failed_batch_refuses_the_next_chunk_and_flush_raises():
    fd = os.open("/dev/full", os.O_WRONLY)  # every write: ENOSPC
    try:
        s = Sink(fd)
        assert s.write(b"a" * CHUNK) is None  # batched: nothing written yet
        with pytest.raises(OSError) as e:
            s.flush()
        assert e.value.errno == errno.ENOSPC
        assert s.write(b"b" * CHUNK) == 0  # short write: libcurl ends the transfer
        assert s.error.errno == errno.ENOSPC
        s2 = Sink(fd)
        _feed(s2, b"c" * (WRITE_BATCH - CHUNK))
        assert s2.write(b"d" * CHUNK) == 0  # this one fills the batch, whose write fails
        assert s2.error.errno == errno.ENOSPC
        s2.close()  # never raises; the error stays readable
        assert s2.error.errno == errno.ENOSPC
    finally:
        os.close(fd)


def test_a_write_error_on_the_queue_path_stops_the_sink(tmp_path):
    """A file size limit (EFBIG) hit after the queue took over: the chunk that crossed it is refused, the file
    holds only whole batches, flush raises. In a fresh process: RLIMIT_FSIZE is per process."""
    code = textwrap.dedent(f'''
        import errno, os, resource, signal
        from dld._fast.sink import OFFLOAD_AFTER, WRITE_BATCH, Sink
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills us instead of failing the write
        limit = OFFLOAD_AFTER + 5 * WRITE_BATCH + 1000
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        fd = os.open({str(tmp_path / "big")!r}, os.O_WRONLY | os.O_CREAT, 0o600)
        s = Sink(fd)
        data = os.urandom(OFFLOAD_AFTER + 4 * (2 << 20))
        taken = 0
        for i in range(0, len(data), 16384):
            if s.write(data[i:i + 16384]) == 0:
                break
            taken += 16384
        assert s.offloaded and OFFLOAD_AFTER < taken < len(data), taken
        assert s.error.errno == errno.EFBIG, s.error
        try:
            s.flush()
            raise AssertionError("flush did not raise")
        except OSError as e:
            assert e.errno == errno.EFBIG
        s.close()
        assert os.fstat(fd).st_size == limit  # write(2) took what fit, then refused
        with open({str(tmp_path / "big")!r}, "rb") as f:
            assert f.read() == data[:limit]
        print("ok")
    ''')
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok")
