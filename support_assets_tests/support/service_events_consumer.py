"""``python -m support_assets_tests.support.service_events_consumer``: one run of
service_events_job in this process, as a separate process the crash test can SIGKILL.

With ``--pause-before-ack MARKER`` the consumer stops at the point that matters: a batch has
been written to the documents store (the IO manager asked for the next one) and not yet
acknowledged. It writes the batch size to MARKER and sleeps until it is killed. With
``--after-acks K`` the first K batches are acknowledged (and confirmed) before that. Settings come
from the environment, as in a deployment.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pause-before-ack", type=Path, default=None)
    parser.add_argument(
        "--after-acks", type=int, default=0, help="batches acknowledged before the pause"
    )
    args = parser.parse_args(argv)

    if args.pause_before_ack is not None:
        from support_assets.sources.service_events.stomp import ServiceConsumer

        marker: Path = args.pause_before_ack
        acknowledge = ServiceConsumer.ack
        acks = [0]

        def pause_instead_of_ack(self: ServiceConsumer, messages: list, wait: bool = True) -> None:
            if acks[0] < args.after_acks:
                acks[0] += 1
                return acknowledge(self, messages, wait)
            self.wait_for_acks()  # the earlier batches' acknowledgements are confirmed
            marker.write_text(str(len(messages)))
            while True:  # until SIGKILL
                time.sleep(60)

        ServiceConsumer.ack = pause_instead_of_ack  # type: ignore[method-assign]

    from dagster import DagsterInstance

    from support_assets.definitions import build_definitions

    job = build_definitions().resolve_job_def("service_events_job")
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
