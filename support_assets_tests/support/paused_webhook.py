"""`support-assets webhook` that hangs forever on one update, just before or just after landing
it, so a test can SIGKILL the receiver at that point.

Run as ``python -m support_assets_tests.support.paused_webhook STAGE UPDATE_ID MARKER <CLI
arguments>``: STAGE is ``before_landing`` or ``after_landing``; once the receiver reaches STAGE
for update UPDATE_ID it writes ``"<STAGE> <UPDATE_ID>\\n"`` to the file MARKER and never answers
that request. It wraps :meth:`LandingZone.append`, which the receiver calls for every update,
and leaves the receiver's own code as it runs in production.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Sequence
from typing import Any

from support_assets import cli
from support_assets.io_managers.landing import LandedBatch, LandingZone

STAGES = ("before_landing", "after_landing")
logger = logging.getLogger(__name__)


def pause_landing(stage: str, update_id: int, marker: str) -> None:
    """Make every :class:`LandingZone` of this process hang at ``stage`` of ``update_id``'s
    landing, once, after writing ``marker``."""
    append = LandingZone.append
    fired = threading.Event()

    def hang() -> None:
        logger.warning("test pause: hanging %s of update %d", stage, update_id)
        with open(marker, "w") as out:
            out.write(f"{stage} {update_id}\n")
        threading.Event().wait()

    def paused_append(zone: LandingZone, payloads: Sequence[Any], **kwargs: Any) -> LandedBatch:
        ids = {p.get("update_id") for p in payloads if isinstance(p, dict)}
        hit = update_id in ids and not fired.is_set()
        if hit:
            fired.set()
        if hit and stage == "before_landing":
            hang()
        batch = append(zone, payloads, **kwargs)
        if hit and stage == "after_landing":
            hang()
        return batch

    LandingZone.append = paused_append  # type: ignore[method-assign]


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("update_id", type=int)
    parser.add_argument("marker")
    pause = parser.parse_args(args[:3])
    pause_landing(pause.stage, pause.update_id, pause.marker)
    return cli.main(args[3:])


if __name__ == "__main__":
    sys.exit(main())
