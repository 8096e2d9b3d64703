"""Per-job limits: a byte-rate token bucket for ``limits.bytes_per_hour``. Pure: time is passed in.

AIS refills its bucket to full once a minute, so a job bursts a minute's budget and then stalls for the rest of
the minute. This bucket refills continuously (``rate`` bytes per second, computed at every call) and holds at
most ``burst`` bytes (a quarter second of budget), so the long-run rate is the same and the short-run rate is smooth.

A chunk already received cannot be refused, so the bucket lets one chunk overdraw it (tokens go negative) and
then asks the transfer to pause until the debt is repaid. The transfer's chunk size is capped to about a quarter
second of budget (``chunk_size_for``) so the overdraft stays small.
"""

from __future__ import annotations

import math

SECONDS_PER_HOUR = 3600.0
MIN_CHUNK = 1024  # libcurl's smallest CURLOPT_BUFFERSIZE
BURST_S = 0.25  # budget a quiet job may save up: smooth at sub-second scale, yet no stutter between chunks


class TokenBucket:
    """Shared by all transfers of one job. ``take`` is called per received chunk."""

    def __init__(self, bytes_per_hour: int, now: float) -> None:
        self.rate = bytes_per_hour / SECONDS_PER_HOUR  # bytes per second
        self.burst = max(self.rate * BURST_S, 1.0)  # at most a quarter second of budget saved up
        self.tokens = self.burst
        self.stamp = now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def take(self, n: int, now: float) -> float:
        """Consume ``n`` bytes if any budget is left (possibly overdrawing) and return 0.0; otherwise consume
        nothing and return the seconds until the budget is positive again."""
        self._refill(now)
        if self.tokens > 0:
            self.tokens -= n
            return 0.0
        return (-self.tokens) / self.rate + 1e-3 if self.rate > 0 else math.inf


def chunk_size_for(bytes_per_hour: int, default: int) -> int:
    """CURLOPT_BUFFERSIZE for a throttled job: about 0.25 s of budget, within libcurl's bounds."""
    if bytes_per_hour <= 0:
        return default
    return int(min(default, max(MIN_CHUNK, bytes_per_hour / SECONDS_PER_HOUR / 4)))
