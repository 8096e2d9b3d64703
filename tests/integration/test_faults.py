"""Origin failures, retries, resume, redirects and TLS: the real daemon against the real test origin (AIS §2.6,
with the deliberate differences of ``dld/transfer/retry.py``: body failures are retried and resumed with Range).

What each test asserts is observable from outside only: the job's status and errors, the stored bytes (API and
disk), and the origin's per-object statistics (request count, statuses, the Range headers it received, body bytes
it sent). Tests that need a tuned daemon (stall timeout, max attempts, a CA file) share one private daemon.
"""

from __future__ import annotations

import json
import socket
from datetime import datetime

import pytest

from tests.daemon import DaemonProc, poll
from tests.integration.helpers import assert_stored, uniq
from tests.origin.content import expected_bytes


@pytest.fixture
def d(dld_daemon):
    return dld_daemon


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, tls_origin):
    """A private daemon: stall timeout 2 s, 3 attempts per object, and the TLS origin's CA trusted."""
    dp = DaemonProc(tmp_path_factory.mktemp("dld-tuned"), "--ca-file", str(tls_origin.ca_path),
                    env={"DLD_STALL_TIMEOUT_S": "2", "DLD_MAX_ATTEMPTS": "3"}).start()
    yield dp
    dp.stop()


def _single(d, bucket, link, **extra):
    code, _, data = d.request("POST", "/v1/download", {"type": "single", "bucket": {"name": bucket}, "link": link,
                                                        **extra})
    assert code == 200, data
    return json.loads(data)["id"]


def _ts(go_time: str) -> float:
    frac = ""
    base = go_time.rstrip("Z")
    if "." in base:
        base, frac = base.split(".")
    return datetime.fromisoformat(base + "+00:00").timestamp() + (float("0." + frac) if frac else 0.0)


def _ok(d, jid, timeout=60.0):
    st = d.wait(jid, timeout=timeout)
    assert st["error_cnt"] == 0 and st["finished_cnt"] == 1, f"job failed: {st.get('download_errors')} / {st}"
    return st


def _fail(d, jid, timeout=60.0):
    st = d.wait(jid, timeout=timeout)
    assert st["error_cnt"] == 1 and st["finished_cnt"] == 0, st
    assert st["scheduled_cnt"] == 1 and st["total"] == 1
    (err,) = st["download_errors"]
    return err


# ---- fatal statuses: one request, exact AIS text -----------------------------------------------------------------

def test_404_is_err_not_found_without_retry(d, origin):
    bucket = uniq("f404")
    name = f"{bucket}/gone"
    link = origin.obj_url(name, status=404)
    err = _fail(d, _single(d, bucket, link))
    assert err == {"name": "gone", "error": f"ErrNotFound: {link} does not exist"}
    assert origin.object_stats(name)["requests"] == 1


@pytest.mark.parametrize("status", [401, 403, 407, 410])
def test_fatal_status_not_retried(d, origin, status):
    bucket = uniq(f"f{status}")
    name = f"{bucket}/o"
    link = origin.obj_url(name, status=status)
    err = _fail(d, _single(d, bucket, link))
    assert err == {"name": "o", "error": f'failed to download "{link}": status {status}'}
    stats = origin.object_stats(name)
    assert stats["requests"] == 1, stats
    assert stats["statuses"] == {str(status): 1}


# ---- retried statuses ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status,times", [(503, 2), (429, 1), (500, 1), (502, 1)])
def test_retryable_status_with_retry_after_then_success(d, origin, status, times):
    bucket = uniq(f"r{status}")
    name = f"{bucket}/o"
    size = 10_000
    st = _ok(d, _single(d, bucket, origin.obj_url(name, size=size, status=status, retry_after=1, times=times)))
    stats = origin.object_stats(name)
    assert stats["requests"] == times + 1, stats
    assert stats["statuses"] == {str(status): times, "200": 1}
    assert_stored(d, bucket, "o", expected_bytes(name, size))
    # Retry-After: 1 is a floor for each wait (the daemon's own backoff cap is 0.5 s in tests)
    elapsed = _ts(st["finished_time"]) - _ts(st["started_time"])
    assert elapsed >= times * 1.0 - 0.05, f"Retry-After ignored: job took {elapsed:.2f}s for {times} retries"


def test_default_max_attempts_is_10(d, origin):
    bucket = uniq("r10")
    name = f"{bucket}/o"
    link = origin.obj_url(name, status=503)
    err = _fail(d, _single(d, bucket, link), timeout=60)
    assert err["error"] == f'failed to download "{link}": status 503 (after 10 attempts)', err
    assert origin.object_stats(name)["requests"] == 10


def test_max_attempts_respected(tuned, origin):
    bucket = uniq("r3")
    name = f"{bucket}/o"
    link = origin.obj_url(name, status=500)
    err = _fail(tuned, _single(tuned, bucket, link))
    assert err["error"].startswith(f'failed to download "{link}": status 500'), err
    assert "after 3 attempts" in err["error"], err
    assert origin.object_stats(name)["requests"] == 3


def test_connection_refused_retried_up_to_max_attempts(tuned):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    bucket = uniq("refused")
    link = f"http://127.0.0.1:{port}/x"
    err = _fail(tuned, _single(tuned, bucket, link))
    assert err["error"].startswith(f'failed to download "{link}"'), err
    assert "after 3 attempts" in err["error"], err


# ---- body failures: retried and resumed ---------------------------------------------------------------------------

def _range_start(r: str) -> int:
    assert r.startswith("bytes=") and r.endswith("-"), r
    return int(r[len("bytes="):-1])


def _assert_resumed_once(st, stats, size, first_bytes, start_max=None):
    """One resumed request, from where the first one stopped; only the missing tail sent again; then done."""
    assert stats["ranges"], f"the retry did not ask for a Range: {stats}"
    start = _range_start(stats["ranges"][0])
    if start_max is None:
        assert start == first_bytes, f"resumed at {start}, the origin had sent {first_bytes} bytes"
    else:
        assert 0 < start <= start_max, f"resumed at {start}, the origin had sent {start_max} bytes"
    assert stats["body_bytes"] == first_bytes + (size - start), stats  # not 2 x size
    (task,) = st["finished_tasks"]
    assert task["downloaded"] == str(size), task
    assert task.get("total") == str(size), f"finished task total must be the object size: {task}"
    assert stats["requests"] == 2 and len(stats["ranges"]) == 1, f"a complete resumed body was retried: {stats}"
    assert set(stats["statuses"]) == {"200", "206"}, stats


def test_reset_mid_body_resumes_with_range(d, origin):
    bucket = uniq("reset")
    name = f"{bucket}/o"
    size, n = 300_000, 100_000
    st = _ok(d, _single(d, bucket, origin.obj_url(name, size=size, reset=n, times=1)))
    assert_stored(d, bucket, "o", expected_bytes(name, size))
    stats = origin.object_stats(name)
    assert stats["faults"] == {"reset": 1}
    _assert_resumed_once(st, stats, size, n, start_max=n)


def test_short_body_is_retried_and_resumed(d, origin):
    bucket = uniq("short")
    name = f"{bucket}/o"
    size, n = 200_000, 70_000
    st = _ok(d, _single(d, bucket, origin.obj_url(name, size=size, short=n, times=1)))
    assert_stored(d, bucket, "o", expected_bytes(name, size))
    stats = origin.object_stats(name)
    assert stats["faults"] == {"short": 1}
    _assert_resumed_once(st, stats, size, n)


def test_short_body_small_object(d, origin):
    """A short body of a small object (one write): the same rule, resumed from what was written."""
    bucket = uniq("shorts")
    name = f"{bucket}/o"
    st = _ok(d, _single(d, bucket, origin.obj_url(name, size=5000, short=1000, times=1)))
    assert_stored(d, bucket, "o", expected_bytes(name, 5000))
    _assert_resumed_once(st, origin.object_stats(name), 5000, 1000)


def test_stall_is_detected_retried_and_completes(tuned, origin):
    bucket = uniq("stall")
    name = f"{bucket}/o"
    size, n = 200_000, 50_000
    st = _ok(tuned, _single(tuned, bucket, origin.obj_url(name, size=size, stall=n, times=1)), timeout=30)
    assert_stored(tuned, bucket, "o", expected_bytes(name, size))
    stats = origin.object_stats(name)
    assert stats["faults"] == {"stall": 1}
    _assert_resumed_once(st, stats, size, n)


def test_a_body_that_stays_stalled_fails_after_its_attempts_naming_the_stall(tuned, origin):
    """The engine's own check (curl_trio: stall_s), not libcurl's 5-second average: its message names the limit."""
    bucket = uniq("stall-fail")
    name = f"{bucket}/o"
    err = _fail(tuned, _single(tuned, bucket, origin.obj_url(name, size=100_000, stall=10_000)), timeout=40)
    assert err["error"].endswith("timed out (curl 28: no data for 2 s) (after 3 attempts)"), err
    assert origin.object_stats(name)["requests"] == 3


def test_throttle_pauses_longer_than_the_stall_timeout_are_not_stalls(tuned, origin):
    """300 bytes/s: the token bucket pauses the transfer ~3.3 s after each 1 KiB chunk, longer than the tuned
    daemon's 2 s stall timeout; those pauses are ours, so the object arrives in one request."""
    bucket = uniq("slow")
    name = f"{bucket}/o"
    _ok(tuned, _single(tuned, bucket, origin.obj_url(name, size=2100), limits={"bytes_per_hour": 300 * 3600}),
        timeout=40)
    assert_stored(tuned, bucket, "o", expected_bytes(name, 2100))
    assert origin.object_stats(name)["requests"] == 1


def test_norange_reset_restarts_from_zero(d, origin):
    bucket = uniq("norange")
    name = f"{bucket}/o"
    size, n = 250_000, 80_000
    _ok(d, _single(d, bucket, origin.obj_url(name, size=size, reset=n, times=1, norange=1)))
    assert_stored(d, bucket, "o", expected_bytes(name, size))
    stats = origin.object_stats(name)
    assert stats["requests"] == 2 and stats["statuses"] == {"200": 2}, stats
    assert stats["body_bytes"] == n + size, stats


def test_novalidators_reset_restarts_without_range(d, origin):
    """Without ETag/Last-Modified a range of a possibly changed object cannot be trusted: start over."""
    bucket = uniq("noval")
    name = f"{bucket}/o"
    size, n = 250_000, 80_000
    _ok(d, _single(d, bucket, origin.obj_url(name, size=size, reset=n, times=1, novalidators=1)))
    assert_stored(d, bucket, "o", expected_bytes(name, size))
    stats = origin.object_stats(name)
    assert stats["ranges"] == [], stats
    assert stats["requests"] == 2 and stats["body_bytes"] == n + size, stats


def test_version_change_between_attempts_restarts(tuned, origin):
    """The object changes while the first attempt is stalled: the resume's If-Range no longer matches, the origin
    sends the new version whole, and the stored object is exactly the new version, never a splice of two."""
    bucket = uniq("ver")
    name = f"{bucket}/o"
    size, n = 300_000, 100_000
    jid = _single(tuned, bucket, origin.obj_url(name, size=size, stall=n, times=1))
    poll(lambda: origin.object_stats(name)["faults"].get("stall"), 15, what="the first attempt to stall")
    origin.set_version(name, 1)
    _ok(tuned, jid, timeout=30)
    assert_stored(tuned, bucket, "o", expected_bytes(name, size, 1))
    stats = origin.object_stats(name)
    assert [_range_start(r) for r in stats["ranges"]] == [n], stats
    assert stats["statuses"] == {"200": 2}, stats


# ---- redirects ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirects_followed(d, origin, code):
    bucket = uniq(f"redir{code}")
    name = f"{bucket}/o"
    _ok(d, _single(d, bucket, origin.obj_url(name, size=20_000, redirect=3, redirect_status=code)))
    assert_stored(d, bucket, "o", expected_bytes(name, 20_000))
    stats = origin.object_stats(name)
    assert stats["statuses"] == {str(code): 3, "200": 1}, stats


def test_redirect_to_other_object_keeps_link_name(d, origin):
    bucket = uniq("redirto")
    other = f"{bucket}/target"
    link = origin.obj_url(f"{bucket}/alias.bin", redirect_to=f"/obj/{other}?size=7777")
    _ok(d, _single(d, bucket, link))
    assert_stored(d, bucket, "alias.bin", expected_bytes(other, 7777))


def test_too_many_redirects_is_fatal(d, origin):
    bucket = uniq("redir-loop")
    name = f"{bucket}/o"
    link = origin.obj_url(name, redirect=50)
    err = _fail(d, _single(d, bucket, link))
    assert "redirect" in err["error"], err
    assert "after" not in err["error"], f"too many redirects must not be retried: {err}"
    assert origin.object_stats(name)["requests"] <= 11


# ---- TLS ------------------------------------------------------------------------------------------------------------

def test_tls_without_ca_fails_verification(d, tls_origin):
    bucket = uniq("tlsno")
    name = f"{bucket}/o"
    link = tls_origin.obj_url(name, size=1000)
    err = _fail(d, _single(d, bucket, link))
    assert "certificate" in err["error"].lower(), err
    assert "after" not in err["error"], f"a certificate failure must not be retried: {err}"


def test_tls_with_ca_file_succeeds(tuned, tls_origin):
    bucket = uniq("tlsyes")
    name = f"{bucket}/o"
    size = 300_000
    _ok(tuned, _single(tuned, bucket, tls_origin.obj_url(name, size=size)))
    assert_stored(tuned, bucket, "o", expected_bytes(name, size))


def test_tls_reset_resumes(tuned, tls_origin):
    bucket = uniq("tlsreset")
    name = f"{bucket}/o"
    size, n = 300_000, 100_000
    st = _ok(tuned, _single(tuned, bucket, tls_origin.obj_url(name, size=size, reset=n, times=1)))
    assert_stored(tuned, bucket, "o", expected_bytes(name, size))
    _assert_resumed_once(st, tls_origin.object_stats(name), size, n, start_max=n)
