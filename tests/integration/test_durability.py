"""Durable jobs: kill -9 storms, resume of partial objects, validator changes, graceful SIGTERM, journal versions.

Kills are triggered by progress, not by the clock: after each restart the test waits until the job has moved a
seeded-random distance further and then sends SIGKILL, so every kill lands mid-work and a run is reproducible
from its seed.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys

import pytest

from tests.daemon import REPO, DaemonProc, poll
from tests.origin.content import expected_bytes, iter_expected

ZERO = "0001-01-01T00:00:00Z"
SEED = int(os.environ.get("DLD_CRASH_SEED", "20261124"))


def _tmp_files(d: DaemonProc) -> list[str]:
    return sorted(os.listdir(d.mountpath / ".dld" / "tmp"))


def _bucket_names(d: DaemonProc, bucket: str) -> list[str]:
    root = d.mountpath / "buckets" / "ais" / "_" / bucket
    out = []
    for dirpath, _dirs, files in os.walk(root):
        out.extend(os.path.relpath(os.path.join(dirpath, f), root) for f in files)
    return sorted(out)


def _sha(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def _expected_sha(name: str, size: int, version: int = 0) -> str:
    h = hashlib.sha256()
    for chunk in iter_expected(name, size, version):
        h.update(chunk)
    return h.hexdigest()


def _file_sha(path: os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _assert_consistent(st: dict, total: int) -> None:
    assert st["finished_time"] != ZERO and not st["aborted"]
    assert st["total"] == total
    assert st["error_cnt"] == 0, st.get("download_errors")
    assert st["finished_cnt"] + st["error_cnt"] == total
    assert st["scheduled_cnt"] == st["finished_cnt"] + st["error_cnt"]
    assert st["all_dispatched"]


def test_kill9_storm_small_objects(tmp_path, origin):
    """10,000 small objects, 12 kill -9 at seeded progress points: all objects once, byte-identical, no temp."""
    rng = random.Random(SEED)
    n, size = 10_000, 2048
    tag = f"storm{rng.randrange(1 << 30)}"
    d = DaemonProc(tmp_path / "dld").start()
    try:
        job = d.start_job({"type": "range", "bucket": {"name": tag},
                           "template": f"{origin.base_url}/obj/{tag}/o{{00000..09999}}?size={size}"})
        last = 0
        for _ in range(12):
            target = min(n - 1, last + rng.randrange(150, 800))

            def moved(t: int = target) -> bool:
                st = d.status(job, only_active=True)
                return st["finished_cnt"] >= t or st["finished_time"] != ZERO

            poll(moved, 60, what="progress before a kill")
            d.kill9()
            d.start()
            last = d.status(job, only_active=True)["finished_cnt"]
            assert d.status(job, only_active=True)["id"] == job  # stable ID across restarts
        st = d.wait(job, timeout=120)
        _assert_consistent(st, n)
        names = _bucket_names(d, tag)
        assert len(names) == n
        for i in range(0, n, 97):  # byte-compare a spread sample; sizes are checked for all below
            name = f"o{i:05d}"
            assert (d.object_file(tag, name)).read_bytes() == expected_bytes(f"{tag}/{name}", size)
        assert all(os.path.getsize(d.object_file(tag, nm)) == size for nm in names)
        assert _tmp_files(d) == []
        # The origin served every object, and at most a bounded number twice (those in flight at each kill).
        served = origin.stats()["per_object"]
        requests = sum(v["requests"] for k, v in served.items() if k.startswith(f"{tag}/"))
        assert n <= requests <= n + 12 * 64, requests
    finally:
        d.stop()


def test_kill9_storm_large_objects_resume_from_partial(tmp_path, origin):
    """3 × 200 MiB, 8 kill -9 mid-object: the origin serves only the remainders plus a bounded overlap."""
    rng = random.Random(SEED + 1)
    size = 200 * 1024 * 1024
    tag = f"big{rng.randrange(1 << 30)}"
    names = [f"{tag}-{i}" for i in range(3)]
    d = DaemonProc(tmp_path / "dld").start()
    try:
        job = d.start_job({"type": "multi", "bucket": {"name": tag},
                           "objects": {nm: origin.obj_url(nm, size=size) for nm in names},
                           # 60 MiB/s: a full pass takes ~10 s, so the seeded kills land mid-object.
                           "limits": {"bytes_per_hour": 60 * 1024 * 1024 * 3600}})
        kills = 0
        while kills < 8:
            poll(lambda: d.status(job, True)["current_tasks"] or d.status(job, True)["finished_time"] != ZERO, 60,
                 what="transfers under way after a restart")
            st = d.status(job, only_active=True)
            if st["finished_time"] != ZERO:
                break
            base = sum(int(t["downloaded"]) for t in st["current_tasks"])
            step = rng.randrange(8, 32) * 1024 * 1024

            def moved(b: int = base, s: int = step) -> bool:
                st = d.status(job, only_active=True)
                done = sum(int(t["downloaded"]) for t in st["current_tasks"])
                return done >= b + s or st["finished_time"] != ZERO

            poll(moved, 60, interval=0.01, what="bytes before a kill")
            d.kill9()
            kills += 1
            d.start()
        assert kills == 8, "the storm ended before enough kills landed mid-object"
        st = d.wait(job, timeout=180)
        _assert_consistent(st, 3)
        for nm in names:
            assert _file_sha(d.object_file(tag, nm)) == _expected_sha(nm, size)
        assert _tmp_files(d) == []
        per = origin.stats()["per_object"]
        served = sum(per[nm]["body_bytes"] for nm in names)
        # Each kill can lose what was in flight (socket buffers + one curl buffer): allow 24 MiB per kill.
        assert 3 * size <= served <= 3 * size + kills * 24 * 1024 * 1024, (served - 3 * size, kills)
        print(f"\nre-fetched after {kills} kills: {(served - 3 * size) / 2**20:.1f} MiB "
              f"({(served - 3 * size) / kills / 2**20:.2f} MiB per kill) of {3 * size / 2**20:.0f} MiB")
        assert any(r.startswith("bytes=") for nm in names for r in per[nm]["ranges"]), "no ranged resume seen"
    finally:
        d.stop()


# 64 MiB/s: a 64 MiB object takes about a second, so a kill reliably lands mid-object.
THROTTLE = {"bytes_per_hour": 64 * 1024 * 1024 * 3600}


def _kill_mid_object(d: DaemonProc, job: str) -> None:
    def started() -> bool:
        st = d.status(job, only_active=True)
        return any(int(t["downloaded"]) > 0 for t in st["current_tasks"])

    poll(started, 60, interval=0.005, what="the transfer to be under way")
    d.kill9()
    partials = _tmp_files(d)
    assert partials == [f"{job}.0"] and os.path.getsize(d.mountpath / ".dld" / "tmp" / partials[0]) > 0


def test_validator_change_between_kill_and_restart(tmp_path, origin):
    """The object changes while the daemon is dead: the result is the new version, whole (If-Range → 200)."""
    name = f"vchange{random.Random(SEED + 2).randrange(1 << 30)}"
    size = 64 * 1024 * 1024
    d = DaemonProc(tmp_path / "dld").start()
    try:
        job = d.start_job({"type": "single", "bucket": {"name": "v"}, "object_name": name,
                           "link": origin.obj_url(name, size=size), "limits": THROTTLE})
        _kill_mid_object(d, job)
        origin.set_version(name, 1)
        d.start()
        st = d.wait(job, timeout=120)
        _assert_consistent(st, 1)
        assert _file_sha(d.object_file("v", name)) == _expected_sha(name, size, version=1)
        assert _tmp_files(d) == []
    finally:
        d.stop()


def test_origin_without_range_support_restarts_from_zero(tmp_path, origin):
    name = f"norange{random.Random(SEED + 3).randrange(1 << 30)}"
    size = 64 * 1024 * 1024
    d = DaemonProc(tmp_path / "dld").start()
    try:
        job = d.start_job({"type": "single", "bucket": {"name": "nr"}, "object_name": name,
                           "link": origin.obj_url(name, size=size, norange=1), "limits": THROTTLE})
        _kill_mid_object(d, job)
        d.start()
        st = d.wait(job, timeout=120)
        _assert_consistent(st, 1)
        assert _file_sha(d.object_file("nr", name)) == _expected_sha(name, size)
        assert _tmp_files(d) == []
    finally:
        d.stop()


def test_sigterm_is_graceful_and_resumable(tmp_path, origin):
    """SIGTERM: exit 0 within the grace period, journal flushed, temp kept; the job then resumes and completes."""
    name = f"term{random.Random(SEED + 4).randrange(1 << 30)}"
    size = 48 * 1024 * 1024
    d = DaemonProc(tmp_path / "dld", env={"DLD_SHUTDOWN_GRACE_S": "0.5"}).start()
    try:
        # A throttled job is mid-transfer for a long time: the grace period cannot let it finish.
        job = d.start_job({"type": "single", "bucket": {"name": "t"}, "object_name": name,
                           "link": origin.obj_url(name, size=size), "limits": {"bytes_per_hour": 3600 * 16 << 20}})
        poll(lambda: any(int(t["downloaded"]) > 0 for t in d.status(job, True)["current_tasks"]), 30,
             what="transfer under way")
        assert d.stop(signal.SIGTERM, timeout=15) == 0
        assert _tmp_files(d) == [f"{job}.0"]
        d.start()
        st = d.wait(job, timeout=120)
        _assert_consistent(st, 1)
        assert _file_sha(d.object_file("t", name)) == _expected_sha(name, size)
        assert any(r.startswith("bytes=") for r in origin.object_stats(name)["ranges"])
    finally:
        d.stop()


def _serve_fails(tmp_path, data_dir) -> str:
    r = subprocess.run([sys.executable, "-m", "dld", "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
                       cwd=REPO, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    return r.stderr


def test_journal_from_newer_version_is_refused(tmp_path):
    data = tmp_path / "dld"
    data.mkdir()
    db = sqlite3.connect(data / "journal.sqlite")
    db.execute("PRAGMA user_version=99")
    db.commit()
    db.close()
    err = _serve_fails(tmp_path, data)
    assert "schema version 99, newer than this dld understands" in err


def test_corrupt_journal_is_refused(tmp_path):
    data = tmp_path / "dld"
    data.mkdir()
    (data / "journal.sqlite").write_bytes(b"this is not a database" * 100)
    err = _serve_fails(tmp_path, data)
    assert "is unusable" in err and "move it aside" in err


V1_SCHEMA = """
CREATE TABLE jobs(id TEXT PRIMARY KEY, seq INTEGER NOT NULL, spec TEXT NOT NULL, description TEXT NOT NULL,
    xaction_id TEXT NOT NULL, started_ns INTEGER NOT NULL, finished_ns INTEGER NOT NULL DEFAULT 0,
    aborted INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL, all_dispatched INTEGER NOT NULL DEFAULT 0,
    cursor INTEGER NOT NULL DEFAULT 0, finished_cnt INTEGER NOT NULL DEFAULT 0,
    scheduled_cnt INTEGER NOT NULL DEFAULT 0, skipped_cnt INTEGER NOT NULL DEFAULT 0,
    error_cnt INTEGER NOT NULL DEFAULT 0);
CREATE TABLE items(job_id TEXT NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL, link TEXT NOT NULL,
    PRIMARY KEY(job_id, idx)) WITHOUT ROWID;
CREATE TABLE outcomes(job_id TEXT NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL, link TEXT NOT NULL,
    outcome INTEGER NOT NULL, size INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL DEFAULT 0,
    blake3 TEXT NOT NULL DEFAULT '', etag TEXT NOT NULL DEFAULT '', last_modified TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '', start_ns INTEGER NOT NULL DEFAULT 0, end_ns INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(job_id, idx)) WITHOUT ROWID;
PRAGMA user_version=1;
"""


def test_journal_v1_is_migrated(tmp_path, make_daemon):
    data = tmp_path / "dld"
    data.mkdir()
    db = sqlite3.connect(data / "journal.sqlite")
    db.executescript(V1_SCHEMA)
    spec = ('{"kind":"single","bck":["ais","old",""],"description":"old job","timeout_ns":0,'
            '"progress_interval_ns":10000000000,"connections":0,"bytes_per_hour":0,"headers":{},"force":false,'
            '"link":"http://127.0.0.1:9/x","object_name":"x","from_remote":false,"template":"","subdir":"",'
            '"prefix":"","suffix":"","synchronize":false}')
    db.execute("INSERT INTO jobs(id, seq, spec, description, xaction_id, started_ns, finished_ns, total, "
               "all_dispatched, cursor, finished_cnt, scheduled_cnt) VALUES('dnl-OldJob123', 1, ?, 'old job', "
               "'X1', 1700000000000000000, 1700000001000000000, 1, 1, 1, 1, 1)", (spec,))
    db.commit()
    db.close()
    d = make_daemon(data_dir=data)
    st = d.status("dnl-OldJob123")
    assert st["description"] == "old job" and st["finished_cnt"] == 1
    db = sqlite3.connect(data / "journal.sqlite")
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    db.close()


@pytest.mark.slow
def test_kill9_soak(tmp_path, origin):
    """The storm again, longer (run with -m slow): 100,000 objects and 60 kills."""
    rng = random.Random(SEED + 5)
    n = 100_000
    tag = f"soak{rng.randrange(1 << 30)}"
    d = DaemonProc(tmp_path / "dld").start()
    try:
        job = d.start_job({"type": "range", "bucket": {"name": tag},
                           "template": f"{origin.base_url}/obj/{tag}/o{{000000..099999}}?size=1024"})
        for _ in range(60):
            target = d.status(job, True)["finished_cnt"] + rng.randrange(500, 3000)
            poll(lambda t=target: d.status(job, True)["finished_cnt"] >= t
                 or d.status(job, True)["finished_time"] != ZERO, 120)
            d.kill9()
            d.start()
        _assert_consistent(d.wait(job, timeout=600), n)
        assert len(_bucket_names(d, tag)) == n and _tmp_files(d) == []
    finally:
        d.stop()
