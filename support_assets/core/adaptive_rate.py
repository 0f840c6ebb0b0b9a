"""The request rate every HTTP client adapts to what its API tolerates.

A client starts at its configured rate, the ceiling (``*_RATE_LIMIT_PER_SECOND``), generous so
that a tenant that allows it is read at full speed. A 429 slows it down to a little under half
(``SLOWDOWN``, so a ceiling that is a power of two of the API's limit does not settle exactly on
it) of the rate it was really sending at: the lower of its limit and the answers it received in
the last second, when at least ``MIN_ACCEPTED_MEASURED`` of them were accepted (a client allowed
200 a second that got 11 answers and then a 429 was refused at 12, not at 200; a 429 after a
quiet spell measures nothing and halves the limit). Requests already on their way when the
client slowed down say nothing new: a 429 to one of them does not slow it down again. After
``recover_after`` accepted requests in a row the rate grows back by a quarter, never above the
ceiling and never back towards a rate the API refused: recovery stops at ``RECOVERY_MARGIN`` of
the lowest refused rate. The rate settles under the API's limit instead of climbing into it
again and again, and never goes below ``floor``: by default a fiftieth of the ceiling (at
least 0.2 a second), so 429s that come whatever the rate (an API that refuses every so many
requests) cannot crawl a run to a halt; a tenant stricter than that is met at the floor, each
429 waited out, until its ceiling is set lower.

``AdaptiveRate`` is arithmetic on the answers it is told about (thread-safe, no I/O);
`ResilientClient` feeds it every answer and applies its rate to its own limiter.
"""

from __future__ import annotations

import threading
from collections import deque

#: Seconds of answers that tell the rate a client was really sending at.
WINDOW_SECONDS = 1.0


class AdaptiveRate:
    """The adapted request rate of one client, between ``floor`` and ``ceiling``.

    ``generation`` counts the slowdowns: a request records it when it goes (`generation`), and
    its 429 slows down only if no slowdown happened since.
    """

    SLOWDOWN = 0.45
    RECOVERY_MARGIN = 0.5
    RECOVERY_STEP = 1.25
    FLOOR_SHARE = 1 / 50
    MIN_FLOOR = 0.2
    MIN_ACCEPTED_MEASURED = 5

    def __init__(self, ceiling: float, floor: float | None = None, recover_after: int = 20) -> None:
        if ceiling <= 0:
            raise ValueError("the ceiling of an adaptive rate must be positive")
        self.ceiling = ceiling
        if floor is None:
            floor = max(self.MIN_FLOOR, ceiling * self.FLOOR_SHARE)
        self.floor = min(floor, ceiling)
        self.recover_after = max(1, recover_after)
        self.rate = ceiling
        #: The lowest rate at which the API answered 429, or None while it never did.
        self.refused_at: float | None = None
        self.slowdowns = 0
        self._calm = 0
        self._answers: deque[tuple[float, bool]] = deque()
        self._accepted_in_window = 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        """What a request records when it goes: the number of slowdowns so far."""
        return self.slowdowns

    @property
    def cap(self) -> float:
        """The highest rate recovery may reach: the ceiling, or under the lowest refused rate."""
        if self.refused_at is None:
            return self.ceiling
        return min(self.ceiling, max(self.floor, self.refused_at * self.RECOVERY_MARGIN))

    def _answered(self, now: float | None, accepted: bool) -> float | None:
        """Counts an answer at ``now``; the answers a second of the last second, or None when
        that measures nothing (untimed, or too few accepted)."""
        if now is None:
            return None
        answers = self._answers
        answers.append((now, accepted))
        self._accepted_in_window += accepted
        while answers and answers[0][0] <= now - WINDOW_SECONDS:
            self._accepted_in_window -= answers.popleft()[1]
        if self._accepted_in_window < self.MIN_ACCEPTED_MEASURED:
            return None
        return len(answers) / WINDOW_SECONDS

    def refused(self, generation: int | None = None, now: float | None = None) -> bool:
        """The API answered 429 (to a request sent at ``generation``, at ``now`` seconds):
        slows down unless it already did since the request went; True when the rate went down.
        """
        with self._lock:
            self._calm = 0
            sending = self._answered(now, accepted=False)
            if generation is not None and generation < self.slowdowns:
                return False
            refused_rate = self.rate if sending is None else min(self.rate, sending)
            self.refused_at = min(refused_rate, self.refused_at or refused_rate)
            slower = max(self.floor, refused_rate * self.SLOWDOWN)
            if slower >= self.rate:
                return False
            self.rate = slower
            self.slowdowns += 1
            return True

    def accepted(self, now: float | None = None) -> bool:
        """The API answered a request without refusing it: after a run of these the rate grows
        back a little; True when it did."""
        with self._lock:
            self._answered(now, accepted=True)
            self._calm += 1
            cap = self.cap
            if self._calm < self.recover_after or self.rate >= cap:
                return False
            self.rate = min(cap, self.rate * self.RECOVERY_STEP)
            self._calm = 0
            return True
