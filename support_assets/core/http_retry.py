"""How hard the HTTP layer tries: which answers are retried, backoff with jitter, ``Retry-After``,
the token-bucket rate limit per API, and the counters a run reports."""

from __future__ import annotations

import email.utils
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from support_assets.core.http_errors import RetryableHttpError

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RateLimiter:
    """Thread-safe token bucket: at most ``rate`` requests a second, bursts up to ``burst``."""

    def __init__(self, rate: float | None, burst: int = 1) -> None:
        self.rate = rate if rate and rate > 0 else None
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def adjust(self, rate: float, burst: int | None = None) -> None:
        """Another rate (and burst) from now on: the adaptive rate's decision."""
        with self._lock:
            self.rate = rate if rate > 0 else self.rate
            if burst is not None:
                self.burst = max(1, burst)
                self._tokens = min(self._tokens, float(self.burst))

    def pause_for(self, seconds: float) -> None:
        """No request goes for ``seconds`` (the API answered 429 with a ``Retry-After``)."""
        with self._lock:
            self._tokens = min(self._tokens, 0.0) - seconds * (self.rate or 0.0)

    def acquire(self) -> float:
        """Blocks until a request may go; returns the seconds waited."""
        if self.rate is None:
            return 0.0
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return waited
                delay = (1 - self._tokens) / self.rate
            time.sleep(delay)
            waited += delay


@dataclass
class RetryPolicy:
    """How hard to try: attempts, exponential backoff with full jitter, cap on Retry-After."""

    max_attempts: int = 6
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    retry_after_cap: float = 120.0
    #: 429s that said how long to wait are waited out, not counted as failed attempts; this
    #: many of them in one request still end it.
    max_rate_limited_waits: int = 30

    def gives_up(self, exc: BaseException | None, counts: dict[str, int]) -> bool:
        """Counts one failed try of a request; True when it is the last one allowed."""
        if isinstance(exc, RetryableHttpError) and exc.is_rate_limit_with_wait:
            counts["waited"] = counts.get("waited", 0) + 1
            return counts["waited"] >= self.max_rate_limited_waits
        counts["failed"] = counts.get("failed", 0) + 1
        return counts["failed"] >= self.max_attempts

    def wait_seconds(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap)
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


@dataclass
class RequestStats:
    """Counters a run reports as metadata."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    #: Requests that waited for the client's own rate limit before they went.
    throttled: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "throttled": self.throttled,
        }
