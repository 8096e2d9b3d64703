"""A full disk under a real daemon (data directory on a small tmpfs): clear errors, nothing lost, no crash.

Found by the checksum benchmark filling the disk: the journal's commit failed, SQLite had already rolled the
transaction back, our ROLLBACK then failed and the daemon died. Needs root for the tmpfs mount; skipped without.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.daemon import poll
from tests.origin.content import expected_bytes


@pytest.fixture
def small_disk(tmp_path: Path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(mnt: Path) -> Path:
    junk = mnt / "junk"
    fd = os.open(junk, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:
        pass
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    os.close(fd)
    return junk


def test_new_job_on_full_disk_is_507_and_works_once_space_is_back(small_disk, make_daemon, origin):
    d = make_daemon(data_dir=small_disk / "dld")
    junk = _fill(small_disk)
    tag = f"full{uuid.uuid4().hex[:8]}"
    status, _, data = d.request("POST", "/v1/download", {"type": "multi", "bucket": {"name": tag},
                                                         "objects": [origin.obj_url(f"{tag}/a", size=1000)]})
    assert status == 507, data
    assert b"no space left for the journal" in data and b"free space on its disk and retry" in data
    assert d.api("GET", "/v1/download", {}) is not None  # still serving
    junk.unlink()
    st = d.wait(d.start_job({"type": "multi", "bucket": {"name": tag},
                             "objects": [origin.obj_url(f"{tag}/a", size=1000)]}))
    assert st["finished_cnt"] == 1 and st["error_cnt"] == 0


def test_disk_filling_mid_job_fails_objects_not_the_daemon(small_disk, make_daemon, origin):
    d = make_daemon(data_dir=small_disk / "dld")
    tag = f"mid{uuid.uuid4().hex[:8]}"
    n, size = 60, 100_000
    job = d.start_job({"type": "range", "bucket": {"name": tag}, "limits": {"connections": 2},
                       "template": f"{origin.base_url}/obj/{tag}/o{{00..59}}?size={size}&delay_ms=40"})
    poll(lambda: d.status(job)["finished_cnt"] >= 5, 30, what="first objects")
    junk = _fill(small_disk)
    time.sleep(1.5)  # objects fail with ENOSPC, the journal's commits fail and are retried
    junk.unlink()
    st = d.wait(job, 60)
    log = d.log()
    assert "outcomes wait: no space left for the journal" in log and "journal writable again" in log, log
    assert st["finished_cnt"] + st["error_cnt"] == n
    assert st["finished_cnt"] >= 5
    for e in st.get("download_errors", []):
        assert "No space left on device" in e["error"] or "no space left" in e["error"], e
    for i in range(n):
        f = d.object_file(tag, f"o{i:02d}")
        if f.exists():  # every published object is whole
            assert f.read_bytes() == expected_bytes(f"{tag}/o{i:02d}", size)
    assert not list((small_disk / "dld").glob("**/.dld/tmp/*.*"))  # no temp files left behind
    # Everything reached the journal once space was back: a restart shows the same job.
    d.stop()
    d.start()
    again = d.status(job)
    assert (again["finished_cnt"], again["error_cnt"]) == (st["finished_cnt"], st["error_cnt"])
