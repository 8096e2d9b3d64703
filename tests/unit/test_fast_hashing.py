"""The C hashing in dld/_fast: vendored BLAKE3, our CRC-32C, and the sink's hashing pool.

Oracles are independent implementations: the ``blake3`` package (Rust) and ``google_crc32c``.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading

import google_crc32c
import pytest
from blake3 import blake3
from dld._fast.sink import OFFLOAD_AFTER, Blake3, Sink, crc32c, crc32c_portable, offload_stats

PATTERN = bytes(i % 251 for i in range(300_000))  # the BLAKE3 test-vector input


# ---- CRC-32C ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "want"), [
    (b"", 0),
    (b"123456789", 0xE3069283),                    # the check value of the Castagnoli CRC
    (b"\0" * 32, 0x8A9136AA),                      # RFC 3720 (iSCSI) B.4
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
])
def test_crc32c_known_values(data, want):
    assert crc32c(data) == want
    assert crc32c_portable(data) == want


# Around the interleaved paths' edges: 8-byte words, three 256-byte streams, three 8 KiB streams.
LENGTHS = [1, 7, 8, 9, 255, 256, 767, 768, 769, 1000, 3 * 8192 - 1, 3 * 8192, 3 * 8192 + 1, 6 * 8192 + 777, 300_000]


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("misalign", [0, 1, 3, 7])
def test_crc32c_matches_google_crc32c(n, misalign):
    data = memoryview(PATTERN)[misalign:misalign + n]
    want = google_crc32c.value(bytes(data))
    assert crc32c(data) == want
    assert crc32c_portable(data) == want


@pytest.mark.parametrize("split", [0, 1, 8, 768, 24576, 100_001, 300_000])
def test_crc32c_continues_from_a_previous_value(split):
    a, b = PATTERN[:split], PATTERN[split:]
    assert crc32c(b, crc32c(a)) == google_crc32c.value(PATTERN)


# ---- BLAKE3 ----------------------------------------------------------------------------------------------------

def test_blake3_empty():
    assert Blake3().hexdigest() == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"


@pytest.mark.parametrize("n", [0, 1, 1023, 1024, 1025, 2048, 2049, 3072, 3073, 4096, 4097, 5120, 5121, 6144, 6145,
                               7168, 7169, 8192, 8193, 16384, 31744, 102400, 300_000])
def test_blake3_matches_the_rust_implementation(n):
    h = Blake3()
    h.update(PATTERN[:n])
    assert h.hexdigest() == blake3(PATTERN[:n]).hexdigest()


def test_blake3_in_odd_pieces():
    h = Blake3()
    pos = 0
    for size in (1, 1023, 1, 4096, 53, 16384, 99_999):
        h.update(memoryview(PATTERN)[pos:pos + size])
        pos += size
    assert h.hexdigest() == blake3(PATTERN[:pos]).hexdigest()


def _pieces(kind: str, total: int, rng) -> list[int]:
    if kind == "libcurl":      # 53 bytes, then 16 KiB pieces: the sink's usual pattern
        sizes = [53]
    elif kind == "aligned":    # whole groups
        sizes = []
    elif kind == "bytes":      # one byte at a time for a while
        sizes = [1] * 3000
    else:                      # anything
        sizes = []
    while sum(sizes) < total:
        sizes.append(16384 if kind in ("libcurl", "aligned") else rng.choice([1, 63, 1023, 1024, 1025, 15000,
                                                                                16384, 16385, 40000]))
    return sizes


@pytest.mark.parametrize("kind", ["libcurl", "aligned", "bytes", "random"])
@pytest.mark.parametrize("seed", range(4))
def test_blake3_stream_in_any_pieces_with_digests_along_the_way(kind, seed):
    """csrc/b3stream.c hashes 16-chunk groups in place; any piece sizes must give blake3 of the concatenation,
    and reading the digest midway must not disturb what follows."""
    import random

    rng = random.Random(seed)
    data = PATTERN[:rng.randrange(100_000, 300_000)]
    h, pos = Blake3(), 0
    for size in _pieces(kind, len(data), rng):
        piece = data[pos:pos + size]
        h.update(piece)
        pos += len(piece)
        if rng.random() < 0.05:
            assert h.hexdigest() == blake3(data[:pos]).hexdigest()
    assert h.hexdigest() == blake3(data).hexdigest()


# ---- the sink's hashing thread ---------------------------------------------------------------------------------

BIG = os.urandom(3 * OFFLOAD_AFTER + 4 * (2 << 20) + 12345)  # inline part, then several staging buffers


def _chunks(data: bytes, first: int = 53, size: int = 16384) -> list[bytes]:
    """As libcurl delivers a body: at most 16 KiB per call, shifted by what shared the first read."""
    return [data[:first]] + [data[i:i + size] for i in range(first, len(data), size)]


def _write_all(s: Sink, data: bytes) -> None:
    for c in _chunks(data):
        assert s.write(c) is None


def test_big_object_is_hashed_by_the_thread_and_matches(tmp_path):
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        s = Sink(fd)
        s.enable(["crc32c", "md5"])
        _write_all(s, BIG)
        assert s.offloaded
        assert s.content_digest() == blake3(BIG).hexdigest()
        assert s.digests()["crc32c"] == f"{google_crc32c.value(BIG):08x}"
        s.close()
        assert not s.offloaded
        assert s.content_digest() == blake3(BIG).hexdigest()  # still readable after close
        assert (tmp_path / "f").read_bytes() == BIG
    finally:
        os.close(fd)


def test_enable_and_reset_while_the_thread_runs(tmp_path):
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        s = Sink(fd)
        half = len(BIG) // 2
        _write_all(s, BIG[:half])
        assert s.offloaded
        s.enable(["crc32c"])  # late: the prefix comes from the file, the rest from the thread
        _write_all(s, BIG[half:])
        assert s.digests() == {"crc32c": f"{google_crc32c.value(BIG):08x}"}
        assert s.content_digest() == blake3(BIG).hexdigest()
        s.reset()  # the origin started over: same thread, fresh state
        other = BIG[::-1]
        _write_all(s, other)
        assert s.digests() == {}
        assert s.content_digest() == blake3(other).hexdigest()
        s.close()
    finally:
        os.close(fd)


def test_crc32c_alone_uses_the_thread_and_nothing_at_all_does_not(null_fd):
    s = Sink(null_fd, content_checksum=False)
    s.enable(["crc32c"])
    _write_all(s, BIG)
    assert s.offloaded and s.content_digest() == ""
    assert s.digests() == {"crc32c": f"{google_crc32c.value(BIG):08x}"}
    s.close()
    s = Sink(null_fd, content_checksum=False)
    _write_all(s, BIG)
    assert not s.offloaded and s.digests() == {}


def test_small_objects_stay_inline(null_fd):
    s = Sink(null_fd)
    data = BIG[:OFFLOAD_AFTER]
    _write_all(s, data)
    assert not s.offloaded
    assert s.content_digest() == blake3(data).hexdigest()


def test_many_sinks_at_once_from_several_threads(null_fd):
    """Interleaved writes into 6 sinks, from 3 Python threads at once: every digest stays its own."""
    bodies = [os.urandom(OFFLOAD_AFTER + 3 * (2 << 20) + k * 1001) for k in range(6)]
    results: dict[int, str] = {}

    def run(ids: list[int]) -> None:
        sinks = {k: Sink(null_fd) for k in ids}
        chunks = {k: _chunks(bodies[k], first=k + 1) for k in ids}
        for i in range(max(len(c) for c in chunks.values())):
            for k in ids:
                if i < len(chunks[k]):
                    sinks[k].write(chunks[k][i])
        for k in ids:
            results[k] = sinks[k].content_digest()
            sinks[k].close()

    threads = [threading.Thread(target=run, args=([k, k + 3],)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {k: blake3(b).hexdigest() for k, b in enumerate(bodies)}


def test_a_sink_dropped_without_close_frees_its_queue_and_the_pool_stays_bounded(null_fd):
    queues_before, _, _ = offload_stats()
    for _ in range(20):
        s = Sink(null_fd)
        _write_all(s, BIG[:OFFLOAD_AFTER + 100_000])
        assert s.offloaded
        cycle = {"sink": s}
        cycle["self"] = cycle  # make the cyclic collector free it, not refcounting
        del s, cycle
    gc.collect()
    queues, threads, _ = offload_stats()
    assert queues == queues_before
    assert 1 <= threads <= max(1, (os.cpu_count() or 1) - 1)


def test_producers_hash_their_own_buffers_when_the_pool_is_busy():
    """One pool thread, eight transfers fed from eight Python threads: the pool cannot keep up, so producers take
    their oldest buffers back (catch_up) instead of sleeping; every digest still comes out right. In a fresh
    process: threads that started stay, so only a fresh pool has exactly one."""
    code = textwrap.dedent('''
        import os, threading
        from blake3 import blake3
        from dld._fast.sink import OFFLOAD_AFTER, Sink, configure_hashing, offload_stats
        configure_hashing(1)
        fd = os.open("/dev/null", os.O_WRONLY)
        bodies = [os.urandom(OFFLOAD_AFTER + 12 * (2 << 20) + k * 4099) for k in range(8)]
        out = {}
        def run(k):
            s = Sink(fd)
            s.enable(["crc32c"])
            b = bodies[k]
            for i in range(0, len(b), 16384):
                s.write(b[i:i + 16384])
            out[k] = (s.content_digest(), s.digests()["crc32c"])
            s.close()
        ts = [threading.Thread(target=run, args=(k,)) for k in range(8)]
        for t in ts: t.start()
        for t in ts: t.join()
        import google_crc32c
        assert out == {k: (blake3(b).hexdigest(), f"{google_crc32c.value(b):08x}") for k, b in enumerate(bodies)}
        queues, threads, by_producers = offload_stats()
        assert (queues, threads) == (0, 1), (queues, threads)
        assert by_producers > 0
        print("ok", by_producers)
    ''')
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok")
