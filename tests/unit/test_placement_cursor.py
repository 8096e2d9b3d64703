"""Pure pieces of placement and progress: HRW over mountpaths, and a job's low-water-mark cursor."""

from __future__ import annotations


def test_hrw_spreads_over_long_mountpath_names():
    """Regression: mountpath ids longer than blake2b's 64-byte key limit must still give distinct weights."""
    from dld.store import hrw

    mps = ["/very/long/path/" + "x" * 80 + "/disk1", "/very/long/path/" + "x" * 80 + "/disk2"]
    picks = [hrw.pick(mps, f"ais/@/b/obj{i}") for i in range(1000)]
    assert 400 < picks.count(0) < 600
    assert picks == [hrw.pick(mps, f"ais/@/b/obj{i}") for i in range(1000)]  # stable


def test_job_cursor_with_out_of_order_completions():
    """The cursor is the low-water mark: it advances only over contiguous completed indices (bitmap-backed)."""
    import random

    from dld.jobs.model import AheadBitmap

    rng = random.Random(7)
    order = list(range(20000))
    rng.shuffle(order)
    ahead, cursor, done = AheadBitmap(), 0, set()
    for idx in order:
        done.add(idx)
        if idx == cursor:
            cursor = ahead.advance(cursor + 1)
        else:
            ahead.add(idx)
        expect = 0
        while expect in done:
            expect += 1
        assert cursor == expect
    assert cursor == 20000 and len(ahead.bits) < 20000 // 8 + 1
