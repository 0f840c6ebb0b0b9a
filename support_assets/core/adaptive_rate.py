"""The request rate every HTTP client adapts to what its API tolerates.

A client starts at its configured rate, the ceiling (``*_RATE_LIMIT_PER_SECOND``), generous so
that a tenant that allows it is read at full speed. Each 429 slows it down to a little under
half (``SLOWDOWN``), so a ceiling that is a power of two of the API's limit does not settle
exactly on it; a few 429s in a row, without an accepted request between them (requests that
were already on their way when the first came back), slow it down further, up to
``MAX_SLOWDOWNS_IN_A_ROW`` times. After ``recover_after`` accepted requests in a row it grows
back by a quarter, never above the ceiling and never back towards a rate the API refused:
recovery stops at ``RECOVERY_MARGIN`` of the lowest refused rate. The rate settles under the
API's limit instead of climbing into it again and again, and never goes below ``floor``.

``AdaptiveRate`` is pure arithmetic (thread-safe); `ResilientClient` feeds it every answer and
applies its rate to its own limiter.
"""

from __future__ import annotations

import threading


class AdaptiveRate:
    """The adapted request rate of one client, between ``floor`` and ``ceiling``."""

    SLOWDOWN = 0.45
    RECOVERY_MARGIN = 0.5
    RECOVERY_STEP = 1.25
    MAX_SLOWDOWNS_IN_A_ROW = 3

    def __init__(self, ceiling: float, floor: float = 0.2, recover_after: int = 20) -> None:
        if ceiling <= 0:
            raise ValueError("the ceiling of an adaptive rate must be positive")
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.recover_after = max(1, recover_after)
        self.rate = ceiling
        #: The lowest rate at which the API answered 429, or None while it never did.
        self.refused_at: float | None = None
        self.slowdowns = 0
        self._calm = 0
        self._refused_in_a_row = 0
        self._lock = threading.Lock()

    @property
    def cap(self) -> float:
        """The highest rate recovery may reach: the ceiling, or under the lowest refused rate."""
        if self.refused_at is None:
            return self.ceiling
        return min(self.ceiling, max(self.floor, self.refused_at * self.RECOVERY_MARGIN))

    def refused(self) -> bool:
        """The API answered 429: slows down; True when the rate went down."""
        with self._lock:
            self._calm = 0
            self._refused_in_a_row += 1
            self.refused_at = min(self.rate, self.refused_at or self.rate)
            if self._refused_in_a_row > self.MAX_SLOWDOWNS_IN_A_ROW:
                return False
            slower = max(self.floor, self.rate * self.SLOWDOWN)
            if slower >= self.rate:
                return False
            self.rate = slower
            self.slowdowns += 1
            return True

    def accepted(self) -> bool:
        """The API answered a request without refusing it: after a run of these the rate grows
        back a little; True when it did."""
        with self._lock:
            self._refused_in_a_row = 0
            self._calm += 1
            cap = self.cap
            if self._calm < self.recover_after or self.rate >= cap:
                return False
            self.rate = min(cap, self.rate * self.RECOVERY_STEP)
            self._calm = 0
            return True
