"""Job lifecycle against the real daemon (AIS §1.5, §1.7, §2.7–§2.10): counters, abort, remove, GC, restart, and the
per-job limits (``connections``, ``bytes_per_hour``).

Abort tests run on a private daemon so that "no temp file remains" can be checked on an otherwise idle mountpath;
GC and restart tests start their own daemons (``make_daemon``). Every wait is a deadline-bounded poll.
"""

from __future__ import annotations

import calendar
import json
import signal
import time
import uuid

import pytest

from tests.daemon import DaemonProc, poll
from tests.integration.helpers import (
    assert_err,
    assert_stored,
    is_finished,
    listing,
    tmp_files,
    uniq,
)
from tests.origin.content import expected_bytes


@pytest.fixture
def d(dld_daemon):
    return dld_daemon


@pytest.fixture(scope="module")
def solo(tmp_path_factory):
    """A private daemon for abort tests: its temp directory holds only what these tests leave behind."""
    dp = DaemonProc(tmp_path_factory.mktemp("dld-solo")).start()
    yield dp
    dp.stop()


def _start(d, body):
    code, _, data = d.request("POST", "/v1/download", body)
    assert code == 200, data
    return json.loads(data)["id"]


# ---- counters ------------------------------------------------------------------------------------------------------

def test_counters_consistent_at_the_end(d, origin):
    bucket = uniq("cnt")
    objs = {f"ok{i}": origin.obj_url(f"{bucket}/ok{i}", size=1000 + i) for i in range(6)}
    objs["nf-a"] = origin.obj_url(f"{bucket}/nf-a", status=404)
    objs["nf-b"] = origin.obj_url(f"{bucket}/nf-b", status=404)
    objs["forbidden"] = origin.obj_url(f"{bucket}/forbidden", status=403)
    jid = _start(d, {"type": "multi", "bucket": {"name": bucket}, "objects": objs})
    st = d.wait(jid)
    assert st["total"] == 9
    assert st["scheduled_cnt"] == 9 and st["finished_cnt"] == 6 and st["error_cnt"] == 3 and st["skipped_cnt"] == 0
    assert st["all_dispatched"] is True and st["aborted"] is False
    assert st["scheduled_cnt"] == st["finished_cnt"] + st["error_cnt"]
    assert len(st["finished_tasks"]) == 9  # successes and failures both went through a jogger
    errs = st["download_errors"]
    assert [e["name"] for e in errs] == ["forbidden", "nf-a", "nf-b"]  # sorted by name
    assert errs[0]["error"] == f'failed to download "{objs["forbidden"]}": status 403'
    assert errs[1]["error"] == f'ErrNotFound: {objs["nf-a"]} does not exist'
    assert listing(d, bucket) == [f"ok{i}" for i in range(6)]
    for i in range(6):
        assert_stored(d, bucket, f"ok{i}", expected_bytes(f"{bucket}/ok{i}", 1000 + i))
    # the list entry carries the same counters
    (entry,) = [j for j in d.api("GET", "/v1/download", {"regex": f"-> ais://{bucket}$"}) if j["id"] == jid]
    assert {k: entry[k] for k in ("finished_cnt", "scheduled_cnt", "error_cnt", "total", "finished_time")} == \
        {k: st[k] for k in ("finished_cnt", "scheduled_cnt", "error_cnt", "total", "finished_time")}


def test_counters_range_job(d, origin):
    bucket = uniq("cntr")
    tpl = origin.url(f"/obj/{bucket}/f{{000..149}}?size=256")
    jid = _start(d, {"type": "range", "bucket": {"name": bucket}, "template": tpl})
    st = d.wait(jid)
    assert (st["total"], st["scheduled_cnt"], st["finished_cnt"], st["error_cnt"]) == (150, 150, 150, 0), st
    assert len(st["finished_tasks"]) == 150
    assert len(listing(d, bucket)) == 150


# ---- abort -----------------------------------------------------------------------------------------------------------

def _wait_running(dp, jid, min_bytes=1):
    def running():
        st = dp.status(jid)
        cur = st.get("current_tasks") or []
        return st if cur and int(cur[0]["downloaded"]) >= min_bytes else None

    return poll(running, 10, what=f"job {jid} to show transferred bytes in current_tasks")


def _assert_aborted_clean(dp, jid, bucket, running_names):
    t0 = time.monotonic()
    try:
        st = dp.wait(jid, timeout=5)
    except AssertionError:
        st = dp.wait(jid, timeout=60)
        raise AssertionError(f"abort took {time.monotonic() - t0:.1f}s to finish the job (limit 5s): {st}") from None
    assert st["aborted"] is True and is_finished(st), st
    assert not st.get("current_tasks"), st
    errs = st.get("download_errors") or []
    assert sorted(e["name"] for e in errs) == sorted(running_names), errs
    for e in errs:
        assert e["error"].endswith("context canceled"), e
    assert listing(dp, bucket) == [], "an aborted transfer must not publish an object"
    for n in running_names:
        assert not dp.object_file(bucket, n).exists()
        code, _, _ = dp.request("GET", f"/v1/objects/{bucket}/{n}")
        assert code == 404
    poll(lambda: tmp_files(dp) == [], 10, what=f"temp files to be removed: {tmp_files(dp)}")
    return st


def _task_age(st) -> float:
    cur = st.get("current_tasks") or []
    if not cur:
        return 0.0
    base, _, frac = cur[0]["start_time"].rstrip("Z").partition(".")
    started = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + float("0." + (frac or "0"))
    return time.time() - started


@pytest.mark.parametrize("paused_for", [0.0, 1.5], ids=["right-away", "while-paused"])
def test_abort_throttled_transfer(solo, origin, paused_for):
    """A throttled transfer spends its time paused (5 KiB/hour: one 1 KiB chunk, then a 12-minute debt); abort must
    reach it there, right after the first chunk and after it has been paused a while."""
    bucket = uniq("abth")
    jid = _start(solo, {"type": "single", "bucket": {"name": bucket}, "limits": {"bytes_per_hour": 5120},
                        "link": origin.obj_url(f"{bucket}/big", size=1 << 20)})
    _wait_running(solo, jid)
    if paused_for:
        poll(lambda: _task_age(solo.status(jid)) >= paused_for, 10, what=f"the task to run {paused_for}s")
    assert tmp_files(solo), "a running transfer writes into the temp directory"
    code, _, data = solo.request("DELETE", "/v1/download/abort", {"id": jid})
    assert code == 200 and data == b""
    _assert_aborted_clean(solo, jid, bucket, ["big"])


def test_abort_stalled_transfer(solo, origin):
    bucket = uniq("abst")
    jid = _start(solo, {"type": "single", "bucket": {"name": bucket},
                        "link": origin.obj_url(f"{bucket}/stuck", size=1 << 20, stall=4096)})
    _wait_running(solo, jid, 4096)
    t0 = time.monotonic()
    solo.api("DELETE", "/v1/download/abort", {"id": jid})
    _assert_aborted_clean(solo, jid, bucket, ["stuck"])
    assert time.monotonic() - t0 < 10, "abort must not wait for the stall timeout"


def test_abort_drops_queued_tasks(solo, origin):
    bucket = uniq("abq")
    objs = [origin.obj_url(f"{bucket}/s{i:02d}", size=100_000, stall=100) for i in range(12)]
    jid = _start(solo, {"type": "multi", "bucket": {"name": bucket}, "limits": {"connections": 2}, "objects": objs})
    poll(lambda: len(solo.status(jid).get("current_tasks") or []) == 2, 20, what="two running tasks")
    running = [t["name"] for t in solo.status(jid)["current_tasks"]]
    solo.api("DELETE", "/v1/download/abort", {"id": jid})
    st = _assert_aborted_clean(solo, jid, bucket, running)
    assert st["error_cnt"] == 2 and st["finished_cnt"] == 0, st  # queued tasks are dropped, not counted


def test_abort_twice_and_unknown(solo, origin):
    bucket = uniq("ab2")
    jid = _start(solo, {"type": "single", "bucket": {"name": bucket},
                        "link": origin.obj_url(f"{bucket}/s", size=100_000, stall=10)})
    _wait_running(solo, jid, 10)
    solo.api("DELETE", "/v1/download/abort", {"id": jid})
    solo.api("DELETE", "/v1/download/abort", {"id": jid})
    st = solo.wait(jid)
    assert st["aborted"] is True
    assert_err(solo.request("DELETE", "/v1/download/abort", {"id": "dnl-unknownJob"}), 404)


# ---- remove ------------------------------------------------------------------------------------------------------------

def test_remove_after_finish(d, origin):
    bucket = uniq("rm")
    jid = _start(d, {"type": "multi", "bucket": {"name": bucket},
                     "objects": [origin.obj_url(f"{bucket}/a", size=10), origin.obj_url(f"{bucket}/b", status=404)]})
    d.wait(jid)
    code, _, data = d.request("DELETE", "/v1/download/remove", {"id": jid})
    assert code == 200 and data == b""
    assert_err(d.request("GET", "/v1/download", {"id": jid}), 404)
    assert jid not in {j["id"] for j in d.api("GET", "/v1/download", {})}
    assert_err(d.request("DELETE", "/v1/download/remove", {"id": jid}), 404)
    assert_err(d.request("DELETE", "/v1/download/abort", {"id": jid}), 404)
    # the downloaded object stays
    assert_stored(d, bucket, "a", expected_bytes(f"{bucket}/a", 10))


# ---- GC ------------------------------------------------------------------------------------------------------------------

def test_gc_removes_finished_jobs_never_running_ones(make_daemon, origin):
    dp = make_daemon(env={"DLD_GC_AFTER_S": "1", "DLD_GC_INTERVAL_S": "0.2"})
    bucket = uniq("gc")
    running = _start(dp, {"type": "single", "bucket": {"name": bucket},
                          "link": origin.obj_url(f"{bucket}/stuck", size=100_000, stall=10)})
    done = _start(dp, {"type": "single", "bucket": {"name": bucket}, "link": origin.obj_url(f"{bucket}/ok", size=10)})
    st = dp.wait(done)
    finished_at = time.monotonic()
    assert st["finished_cnt"] == 1, st

    poll(lambda: dp.request("GET", "/v1/download", {"id": done})[0] == 404, 15, what="GC of the finished job")
    assert time.monotonic() - finished_at > 0.5, "GC removed the job before gc_after_s"
    ids = {j["id"] for j in dp.api("GET", "/v1/download", {})}
    assert done not in ids and running in ids
    st = dp.status(running)  # has been running longer than gc_after_s, and is still there
    assert not is_finished(st)
    # a second finished job, GC'd while the running one still stays
    done2 = _start(dp, {"type": "single", "bucket": {"name": bucket}, "link": origin.obj_url(f"{bucket}/ok2", size=10)})
    dp.wait(done2)
    poll(lambda: dp.request("GET", "/v1/download", {"id": done2})[0] == 404, 15, what="GC of the second job")
    assert dp.request("GET", "/v1/download", {"id": running})[0] == 200
    # once aborted (so finished), it is collected too
    dp.api("DELETE", "/v1/download/abort", {"id": running})
    poll(lambda: dp.request("GET", "/v1/download", {"id": running})[0] == 404, 15, what="GC of the aborted job")
    assert_stored(dp, bucket, "ok", expected_bytes(f"{bucket}/ok", 10))


# ---- restart ---------------------------------------------------------------------------------------------------------------

def test_restart_keeps_finished_jobs(make_daemon, origin, tmp_path):
    data_dir = tmp_path / "restart"
    dp = make_daemon(data_dir=data_dir)
    bucket = uniq("rs")
    objs = {"a": origin.obj_url(f"{bucket}/a", size=3000), "b": origin.obj_url(f"{bucket}/b", size=4000),
            "c": origin.obj_url(f"{bucket}/c", status=404), "d": origin.obj_url(f"{bucket}/d", status=403)}
    j1 = _start(dp, {"type": "multi", "bucket": {"name": bucket}, "objects": objs, "description": f"{bucket} multi"})
    j2 = _start(dp, {"type": "single", "bucket": {"name": bucket}, "link": origin.obj_url(f"{bucket}/s", size=10)})
    before = {j: dp.wait(j) for j in (j1, j2)}
    list_before = {j["id"]: j for j in dp.api("GET", "/v1/download", {})}
    assert dp.stop(signal.SIGTERM) == 0, "SIGTERM must be a clean exit"

    dp2 = make_daemon(data_dir=data_dir)
    for j, st in before.items():
        after = dp2.status(j)
        for k in ("id", "description", "started_time", "finished_time", "finished_cnt", "scheduled_cnt",
                  "skipped_cnt", "error_cnt", "total", "all_dispatched", "aborted"):
            assert after[k] == st[k], (k, after[k], st[k])
        assert after.get("finished_tasks") == st.get("finished_tasks")
        assert after.get("download_errors") == st.get("download_errors")
    list_after = {j["id"]: j for j in dp2.api("GET", "/v1/download", {})}
    for j in (j1, j2):
        a, b = dict(list_after[j]), dict(list_before[j])
        a.pop("xaction_id"), b.pop("xaction_id")
        assert a == b
    assert [e["name"] for e in before[j1]["download_errors"]] == ["c", "d"]
    assert_stored(dp2, bucket, "a", expected_bytes(f"{bucket}/a", 3000))
    # still removable after the restart
    dp2.api("DELETE", "/v1/download/remove", {"id": j1})
    assert_err(dp2.request("GET", "/v1/download", {"id": j1}), 404)


# ---- limits ------------------------------------------------------------------------------------------------------------------

def _max_concurrency(d, jid, timeout=30.0):
    peak = 0
    deadline = time.monotonic() + timeout
    while True:
        st = d.status(jid, only_active=True)
        peak = max(peak, len(st.get("current_tasks") or []))
        if is_finished(st):
            return peak, d.status(jid)
        assert time.monotonic() < deadline, f"job {jid} did not finish in {timeout}s"
        time.sleep(0.01)


def test_connections_limit(d, origin):
    bucket = uniq("conn")
    objs = [origin.obj_url(f"{bucket}/o{i:02d}", size=2000, delay_ms=150) for i in range(20)]
    jid = _start(d, {"type": "multi", "bucket": {"name": bucket}, "limits": {"connections": 2}, "objects": objs})
    peak, st = _max_concurrency(d, jid)
    assert st["finished_cnt"] == 20 and st["error_cnt"] == 0, st
    assert peak <= 2, f"saw {peak} concurrent tasks with limits.connections=2"
    assert peak == 2, "limits.connections=2 should still run two at a time"
    assert len(listing(d, bucket)) == 20


def test_without_connections_limit_more_run_at_once(d, origin):
    """Control for the test above: the same polling sees more than 2 tasks when nothing limits them."""
    bucket = uniq("noconn")
    objs = [origin.obj_url(f"{bucket}/o{i:02d}", size=2000, delay_ms=400) for i in range(8)]
    jid = _start(d, {"type": "multi", "bucket": {"name": bucket}, "objects": objs})
    peak, st = _max_concurrency(d, jid)
    assert st["finished_cnt"] == 8
    assert peak > 2, peak


def test_bytes_per_hour_limit(d, origin):
    bucket = uniq("bph")
    jid = _start(d, {"type": "single", "bucket": {"name": bucket}, "limits": {"bytes_per_hour": 5120},
                     "link": origin.obj_url(f"{bucket}/o", size=100 * 1024)})
    seen = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < 4.0:
        st = d.status(jid, only_active=True)
        assert not is_finished(st), f"a 100 KiB object finished under a 5 KiB/hour limit: {st}"
        for t in st.get("current_tasks") or []:
            seen.append(int(t["downloaded"]))
            assert int(t["downloaded"]) < 7 * 1024, f"downloaded {t['downloaded']} bytes at 5 KiB/hour"
        time.sleep(0.1)
    assert seen and max(seen) > 0, "the throttled task never showed progress in 4 s (AIS: the first read is immediate)"
    d.api("DELETE", "/v1/download/abort", {"id": jid})
    t0 = time.monotonic()
    try:
        st = d.wait(jid, timeout=5)
    except AssertionError:
        st = d.wait(jid, timeout=60)
        raise AssertionError(f"abort of the throttled job took {time.monotonic() - t0:.1f}s (limit 5s)") from None
    assert st["aborted"] is True


def test_abort_of_a_finished_job_leaves_it_finished(dld_daemon, origin):
    """AIS flips a finished job to "Aborted" (§2.15.8, listed as a quirk); dld answers 200 and changes nothing."""
    d = dld_daemon
    bucket = f"abfin-{uuid.uuid4().hex[:8]}"
    jid = d.start_job({"type": "single", "bucket": {"name": bucket}, "object_name": "o",
                       "link": origin.obj_url(f"{bucket}-o", size=100)})
    before = d.wait(jid)
    assert before["finished_cnt"] == 1 and before["aborted"] is False
    d.api("DELETE", "/v1/download/abort", {"id": jid})
    d.api("DELETE", "/v1/download/abort", {"id": jid})
    after = d.status(jid)
    assert after["aborted"] is False and after["finished_time"] == before["finished_time"]
    assert after["finished_cnt"] == 1
