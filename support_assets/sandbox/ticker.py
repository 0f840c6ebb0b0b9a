"""The sandbox's world on a timer: every few seconds a few records change and a few are created.

Off unless asked for (`support-assets sandbox --tick-seconds N`, on by default only in the demo),
so tests keep a world that moves only when they move it. Each tick first brings the worlds' record
clocks up to a minute before the sandbox's clock (each record a tick writes is a few seconds after
the last, so they carry the current time and stay in the past), then advances Octadesk
(tickets and chats: what `octadesk_changes_sensor` notices), the web helpdesk and Ploomes, with
the same counts every tick; which records change is deterministic from the seed and the tick.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from support_assets.sandbox.base import sandbox_now_ms

logger = logging.getLogger(__name__)

#: How far behind the sandbox's clock a tick starts writing (more than one tick's records take).
LAG_MS = 60_000
#: What one tick changes and creates, per simulator.
OCTADESK_TICK = {"update": 3, "create": 2, "chats_update": 2, "chats_create": 1}
HELPDESK_WEB_TICK = {"update": 2, "update_numbers": [], "create": 1, "seconds": 0}
PLOOMES_TICK = {"contacts": 1, "tasks": 1, "interactions": 0, "update_contacts": 1, "minutes": 0}


def tick_worlds(simulators: dict[str, Any]) -> dict[str, Any]:
    """Advance every world that can move on its own once; returns what each reported."""
    start = sandbox_now_ms() - LAG_MS
    done: dict[str, Any] = {}
    octadesk = simulators["octadesk"].world
    with octadesk.lock:
        octadesk.clock_ms = max(octadesk.clock_ms, start)
        done["octadesk"] = octadesk.advance(**OCTADESK_TICK)
    web = simulators["helpdesk_web"].world
    with web.lock:
        web.record_clock_ms = max(web.record_clock_ms, start)
        done["helpdesk_web"] = web.advance(**HELPDESK_WEB_TICK)
    ploomes = simulators["ploomes"].world
    with ploomes.lock:
        ploomes.clock_ms = max(ploomes.clock_ms, start)
        done["ploomes"] = ploomes.advance(**PLOOMES_TICK)
    return done


class WorldTicker:
    """Calls `tick_worlds` every `seconds` in a daemon thread until `stop()`."""

    def __init__(self, simulators: dict[str, Any], seconds: float) -> None:
        if seconds <= 0:
            raise ValueError("tick seconds must be positive")
        self.simulators, self.seconds = simulators, seconds
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-ticker", daemon=True)

    def start(self) -> WorldTicker:
        self._thread.start()
        logger.info("sandbox world moves on every %s s", self.seconds)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                done = tick_worlds(self.simulators)
            except Exception:  # a tick that fails must not stop the sandbox or later ticks
                logger.exception("sandbox tick failed")
                continue
            self.ticks += 1
            octadesk = done["octadesk"]
            logger.info(
                "sandbox tick %d: Octadesk %d ticket(s) changed, %d created, clock %s",
                self.ticks,
                len(octadesk["updated"]),
                len(octadesk["created"]),
                octadesk["clock"],
            )
