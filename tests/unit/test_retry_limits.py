"""Tables for ``dld.transfer.retry`` (how an attempt ended, Retry-After, backoff) and ``dld.transfer.limits``
(the ``bytes_per_hour`` token bucket). Pure functions: times are explicit numbers, randomness is a seeded rng.
"""

from __future__ import annotations

import calendar
import math
import random
from email.utils import formatdate

import pycurl
import pytest

from dld.transfer import retry
from dld.transfer.limits import MIN_CHUNK, SECONDS_PER_HOUR, TokenBucket, chunk_size_for

LINK = "http://h.example/dir/obj.bin"

# ---- classify_status -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 402, 403, 405, 406, 407, 410])
def test_ais_fatal_statuses(status):
    """AIS fails these immediately (§2.6)."""
    v = retry.classify_status(LINK, status)
    assert v == retry.Verdict(False, f'failed to download "{LINK}": status {status}')


def test_404_is_err_not_found():
    assert retry.classify_status(LINK, 404) == retry.Verdict(False, f"ErrNotFound: {LINK} does not exist")


@pytest.mark.parametrize("status", [408, 425, 429, 500, 501, 502, 503, 504, 507, 599])
def test_retryable_statuses(status):
    v = retry.classify_status(LINK, status)
    assert v.retryable is True
    assert v.message == f'failed to download "{LINK}": status {status}'


@pytest.mark.parametrize("status", [400, 409, 411, 412, 413, 414, 415, 416, 417, 418, 422, 451])
def test_other_client_errors_are_fatal(status):
    """dld's documented rule: retrying the same request cannot fix a 4xx other than 408/425/429."""
    assert retry.classify_status(LINK, status).retryable is False


# ---- classify_curl ---------------------------------------------------------------------------------------------

CURL_TABLE = [
    (pycurl.E_COULDNT_CONNECT, True, "connection refused"),
    (pycurl.E_OPERATION_TIMEDOUT, True, "timed out"),
    (pycurl.E_RECV_ERROR, True, "connection reset while receiving"),
    (pycurl.E_SEND_ERROR, True, "connection reset while sending"),
    (pycurl.E_GOT_NOTHING, True, "server closed the connection without a response"),
    (pycurl.E_PARTIAL_FILE, True, "body shorter than Content-Length (connection closed early)"),
    (pycurl.E_HTTP2, True, "HTTP/2 error"),
    (92, True, "HTTP/2 stream error"),
    (pycurl.E_SSL_CONNECT_ERROR, True, "TLS handshake failed"),
    (pycurl.E_COULDNT_RESOLVE_HOST, False, "cannot resolve host"),
    (pycurl.E_COULDNT_RESOLVE_PROXY, False, "cannot resolve proxy"),
    (pycurl.E_URL_MALFORMAT, False, "malformed URL"),
    (pycurl.E_UNSUPPORTED_PROTOCOL, False, "unsupported protocol"),
    (60, False, "TLS certificate verification failed"),
    (pycurl.E_TOO_MANY_REDIRECTS, False, "too many redirects"),
    (9999, False, "transfer failed"),
]


@pytest.mark.parametrize("code,retryable,what", CURL_TABLE, ids=[f"curl{c[0]}" for c in CURL_TABLE])
def test_classify_curl(code, retryable, what):
    v = retry.classify_curl(LINK, code, "some curl text")
    assert v.retryable is retryable
    assert v.message == f'failed to download "{LINK}": {what} (curl {code}: some curl text)'


# ---- parse_retry_after -----------------------------------------------------------------------------------------

NOW = calendar.timegm((2026, 8, 19, 10, 0, 0))


@pytest.mark.parametrize("value,expected", [
    (None, None),
    ("", None),
    ("0", 0.0),
    ("5", 5.0),
    ("  12 ", 12.0),
    ("120", 120.0),
    ("3600", 3600.0),
    ("99999", retry.MAX_RETRY_AFTER_S),  # capped at an hour
    ("soon", None),
    ("-5", None),
    ("1.5", None),  # delta-seconds are whole numbers
    ("5s", None),
    ("0x10", None),
    ("\u00b2", None),  # "²": a latin-1 byte an origin can send; str.isdigit() says True, float() refuses it
    ("\u00b9\u00b3", None),
])
def test_parse_retry_after_seconds_and_garbage(value, expected):
    assert retry.parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize("fmt", [
    "Wed, 19 Aug 2026 10:00:30 GMT",  # IMF-fixdate
    "Wednesday, 19-Aug-26 10:00:30 GMT",  # obsolete RFC 850
    "Wed Aug 19 10:00:30 2026",  # obsolete asctime
])
def test_parse_retry_after_http_dates(fmt):
    assert retry.parse_retry_after(fmt, NOW) == pytest.approx(30.0)


def test_parse_retry_after_date_in_past_and_far_future():
    assert retry.parse_retry_after(formatdate(NOW - 100, usegmt=True), NOW) == 0.0
    assert retry.parse_retry_after(formatdate(NOW + 86400, usegmt=True), NOW) == retry.MAX_RETRY_AFTER_S
    assert retry.parse_retry_after("Wed, 32 Aug 2026 10:00:30 GMT", NOW) is None


# ---- backoff ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("base,cap", [(0.5, 30.0), (0.05, 0.5), (1.0, 4.0)])
def test_backoff_bounds_full_jitter(base, cap):
    rng = random.Random(1234)
    for attempt in range(1, 16):
        bound = min(cap, base * 2 ** (attempt - 1))
        samples = [retry.backoff(attempt, base=base, cap=cap, retry_after=None, rng=rng) for _ in range(400)]
        assert all(0.0 <= s <= bound for s in samples), (attempt, max(samples), bound)
        # full jitter: spread over the whole interval, mean about half of it
        assert max(samples) > 0.9 * bound and min(samples) < 0.1 * bound
        assert sum(samples) / len(samples) == pytest.approx(bound / 2, rel=0.15)


def test_backoff_deterministic_with_seed():
    a = [retry.backoff(n, base=0.5, cap=30, retry_after=None, rng=random.Random(7)) for n in range(1, 8)]
    b = [retry.backoff(n, base=0.5, cap=30, retry_after=None, rng=random.Random(7)) for n in range(1, 8)]
    assert a == b


@pytest.mark.parametrize("retry_after", [0.0, 0.2, 3.0, 45.0, 3600.0])
def test_backoff_retry_after_is_a_floor(retry_after):
    rng = random.Random(99)
    for attempt in (1, 3, 8):
        bound = min(30.0, 0.5 * 2 ** (attempt - 1))
        for _ in range(200):
            dly = retry.backoff(attempt, base=0.5, cap=30.0, retry_after=retry_after, rng=rng)
            assert dly >= retry_after
            assert dly <= max(bound, retry_after)


def test_backoff_retry_after_above_cap_is_honoured():
    assert retry.backoff(1, base=0.5, cap=30.0, retry_after=120.0, rng=random.Random(0)) == 120.0


# ---- TokenBucket -----------------------------------------------------------------------------------------------

RATE_1K = int(1000 * SECONDS_PER_HOUR)  # 1000 bytes per second


def test_bucket_burst_is_bounded():
    """A quiet job may save up at most a second of budget (dld documents a quarter second), and at least 1 byte."""
    for bph in (5120, RATE_1K, 10**12):
        tb = TokenBucket(bph, now=0.0)
        assert 1.0 <= tb.burst <= max(tb.rate, 1.0)
        assert tb.tokens == tb.burst


def test_bucket_burst_then_empty():
    tb = TokenBucket(RATE_1K, now=0.0)
    b = tb.burst
    assert tb.rate == pytest.approx(1000.0)
    assert tb.take(int(b * 0.4), 0.0) == 0.0
    assert tb.take(b - int(b * 0.4), 0.0) == 0.0
    wait = tb.take(1, 0.0)  # exactly empty: no budget left, wait a moment
    assert 0 < wait <= 0.002
    assert tb.take(1, 0.1) == 0.0  # a tenth of a second refilled 100 bytes


def test_bucket_overdraft_and_repayment_time():
    tb = TokenBucket(RATE_1K, now=10.0)
    debt = 5000 - tb.burst
    assert tb.take(5000, 10.0) == 0.0  # one chunk may overdraw (it was already received)
    wait = tb.take(1, 10.0)
    assert wait == pytest.approx(debt / 1000, abs=0.002)  # the debt at 1000 B/s
    assert tb.take(1, 11.0) == pytest.approx(debt / 1000 - 1.0, abs=0.002)  # asking early: the remaining debt
    assert tb.take(1, 10.0 + wait) == 0.0  # repaid exactly when it said


def test_bucket_saves_at_most_one_burst():
    tb = TokenBucket(RATE_1K, now=0.0)
    tb.take(int(tb.burst), 0.0)
    assert tb.take(int(tb.burst) + 500, 100.0) == 0.0  # 100 s idle saves one burst, not 100000 bytes
    assert tb.take(1, 100.0) == pytest.approx(0.5, abs=0.003)


def test_bucket_clock_going_backwards_adds_nothing():
    tb = TokenBucket(RATE_1K, now=50.0)
    tb.take(2000, 50.0)
    assert tb.take(1, 40.0) == pytest.approx((2000 - tb.burst) / 1000, abs=0.002)


def test_bucket_ais_5kib_per_hour():
    """The AIS integration scenario: 5 KiB/hour, 1 KiB chunks: the first chunk is immediate, the next waits ~12 min."""
    bph = 5 * 1024
    chunk = chunk_size_for(bph, 512 * 1024)
    assert chunk == MIN_CHUNK
    tb = TokenBucket(bph, now=0.0)
    assert tb.take(chunk, 0.0) == 0.0
    wait = tb.take(chunk, 0.0)
    assert wait == pytest.approx((chunk - tb.burst) / (bph / 3600), rel=0.01)
    assert wait > 600
    # in the first 5 s at most two chunks can have been consumed (AIS test: < 7 KiB after 10 s)
    consumed, t = chunk, 0.0
    while t < 5.0:
        w = tb.take(chunk, t)
        if w == 0:
            consumed += chunk
        else:
            t += min(w, 0.1)
    assert consumed < 7 * 1024


def _simulate(bph: int, seconds: float) -> int:
    chunk = chunk_size_for(bph, 512 * 1024)
    tb = TokenBucket(bph, now=0.0)
    t, consumed = 0.0, 0
    while t < seconds:
        w = tb.take(chunk, t)
        if w == 0.0:
            consumed += chunk
        else:
            t += w
    return consumed


@pytest.mark.parametrize("bph", [360_000, 36_000_000, 1_000_000_000, 10_000_000_000])
def test_bucket_long_run_rate_within_one_percent(bph):
    consumed = _simulate(bph, SECONDS_PER_HOUR)
    assert consumed == pytest.approx(bph, rel=0.01), (consumed, bph)


@pytest.mark.parametrize("bph,expected", [
    (0, 512 * 1024),
    (-1, 512 * 1024),
    (5120, MIN_CHUNK),
    (3600 * 4096, MIN_CHUNK),  # 4096 B/s → a quarter second is 1024
    (36_000_000, 2500),
    (3600 * 4 * 100_000, 100_000),
    (10**15, 512 * 1024),
])
def test_chunk_size_for(bph, expected):
    assert chunk_size_for(bph, 512 * 1024) == expected


def test_zero_rate_bucket_never_refills():
    tb = TokenBucket(0, now=0.0)
    assert tb.take(10, 0.0) == 0.0
    assert math.isinf(tb.take(1, 1e9))
