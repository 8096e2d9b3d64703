"""Retry policy for one object: classify how an attempt ended, and how long to wait before the next one.

Pure: no clock, no randomness of its own (the caller passes a ``random.Random``), no curl objects.

Rules (AIS §2.6, with its quirks fixed, §2.15.6):

* 404 → fatal ``ErrNotFound: <link> does not exist``; 401–407 and 410 → fatal; any other status ≥ 400 that is
  not 408, 425, 429 or 5xx → fatal (retrying a 400 cannot help). 408/425/429/5xx → retry.
* Timeouts, stalls (no body bytes for ``stall_timeout``), connection refused/reset, a body cut short, HTTP/2
  stream errors, TLS handshake hiccups → retry. A failure *while reading the body* is retried too, resuming with
  ``Range`` when the origin allows it (AIS treats these as fatal).
* DNS failures, bad URLs, unsupported schemes, certificate failures, too many redirects → fatal.

Backoff: exponential with full jitter (``uniform(0, min(cap, base·2^n))``, the AWS architecture-blog variant that
spreads a thundering herd best), but never less than the server's ``Retry-After``, honoured up to an hour.
"""

from __future__ import annotations

import email.utils
import random
from dataclasses import dataclass

import pycurl

RETRY_STATUSES = frozenset({408, 425, 429}) | frozenset(range(500, 600))
MAX_RETRY_AFTER_S = 3600.0

# curl error codes that mean "try again" and the words a user sees for them.
_RETRYABLE_CURL = {
    pycurl.E_COULDNT_CONNECT: "connection refused",
    pycurl.E_OPERATION_TIMEDOUT: "timed out",
    pycurl.E_RECV_ERROR: "connection reset while receiving",
    pycurl.E_SEND_ERROR: "connection reset while sending",
    pycurl.E_GOT_NOTHING: "server closed the connection without a response",
    pycurl.E_PARTIAL_FILE: "body shorter than Content-Length (connection closed early)",
    pycurl.E_HTTP2: "HTTP/2 error",
    getattr(pycurl, "E_HTTP2_STREAM", 92): "HTTP/2 stream error",
    pycurl.E_SSL_CONNECT_ERROR: "TLS handshake failed",
    getattr(pycurl, "E_PROXY", 97): "proxy error",
}
_FATAL_CURL = {
    pycurl.E_COULDNT_RESOLVE_HOST: "cannot resolve host",
    pycurl.E_COULDNT_RESOLVE_PROXY: "cannot resolve proxy",
    pycurl.E_URL_MALFORMAT: "malformed URL",
    pycurl.E_UNSUPPORTED_PROTOCOL: "unsupported protocol",
    getattr(pycurl, "E_PEER_FAILED_VERIFICATION", 60): "TLS certificate verification failed",
    pycurl.E_TOO_MANY_REDIRECTS: "too many redirects",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """How an attempt ended: ``retryable`` or not, and the per-object error text a user reads."""

    retryable: bool
    message: str


def classify_status(link: str, status: int) -> Verdict:
    """Verdict for an HTTP error status (≥ 400)."""
    if status == 404:
        return Verdict(False, f"ErrNotFound: {link} does not exist")
    return Verdict(status in RETRY_STATUSES, f'failed to download "{link}": status {status}')


def classify_curl(link: str, code: int, curl_message: str) -> Verdict:
    """Verdict for a transport-level failure (curl error other than an HTTP status)."""
    if code in _RETRYABLE_CURL:
        return Verdict(True, f'failed to download "{link}": {_RETRYABLE_CURL[code]} (curl {code}: {curl_message})')
    what = _FATAL_CURL.get(code, "transfer failed")
    return Verdict(False, f'failed to download "{link}": {what} (curl {code}: {curl_message})')


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None if absent/garbled."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, min(when.timestamp() - now_epoch, MAX_RETRY_AFTER_S))


def backoff(attempt: int, *, base: float, cap: float, retry_after: float | None, rng: random.Random) -> float:
    """Seconds to sleep after failed attempt number ``attempt`` (1-based)."""
    delay = rng.uniform(0, min(cap, base * (2 ** (attempt - 1))))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay
