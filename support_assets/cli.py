"""What each ``support-assets`` command does; ``cli_parser`` holds the command line itself."""

from __future__ import annotations

import argparse
import io
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from support_assets.cli_parser import build_parser

if TYPE_CHECKING:
    from dagster import Definitions

log = logging.getLogger("support_assets.cli")

#: How often the demo's sandbox moves its world on (a few changed and new records each time).

DAGSTER_YAML = """\
telemetry:
  enabled: false
nux:
  enabled: false
"""


def ensure_dagster_home(path: str | None = None) -> Path:
    """A project-local DAGSTER_HOME with telemetry and the welcome modal off."""
    home = Path(path or os.environ.get("DAGSTER_HOME") or ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _sandbox_config(args: argparse.Namespace):
    """The sandbox's world, and where the platform should look for it."""
    from support_assets.sandbox.server import SandboxConfig

    os.environ["SUPPORT_SANDBOX_URL"] = f"http://{args.host}:{args.port}"

    return SandboxConfig(
        seed=args.seed,
        octadesk_tickets=args.octadesk_tickets,
        octadesk_chats=args.octadesk_chats,
        latency_ms=args.latency_ms,
        divergent=args.divergent,
    )


def cmd_sandbox(args: argparse.Namespace) -> int:
    from support_assets.sandbox.server import serve

    mode = "divergent" if args.divergent else "documented"
    print(
        f"sandbox on http://{args.host}:{args.port} (seed {args.seed}, {mode} mode); "
        "Ctrl-C stops it"
    )
    serve(_sandbox_config(args), host=args.host, port=args.port, tick_seconds=args.tick_seconds)
    return 0


def materialize_all(selection: str | None = None, defs: Definitions | None = None) -> bool:
    """Runs the whole asset graph (or a selection) once in this process; True on success.

    ``defs``: the Definitions to run (default: the code location's, built at import)."""
    from dagster import AssetSelection, DagsterInstance

    if defs is None:
        from support_assets.definitions import defs

    instance = DagsterInstance.get()
    job = defs.resolve_implicit_global_asset_job_def()
    graph = defs.resolve_asset_graph()
    wanted = AssetSelection.from_string(selection) if selection else None
    keys = (wanted or AssetSelection.all()).resolve(graph)
    success = True
    # A run holds assets of one partitions definition; daily-partitioned ones run for their
    # latest partition (today), after the assets they depend on.
    for partitions_def, batch in _runs_by_partitioning(graph, keys):
        if _STOPPING.is_set():
            return False
        partition_key = partitions_def.get_last_partition_key() if partitions_def else None
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            asset_selection=None if wanted is None and len(batch) == len(keys) else list(batch),
            partition_key=partition_key,
        )
        for event in result.all_events:
            if event.is_step_failure:
                error = event.event_specific_data.error.message.strip()
                print(f"FAILED {event.step_key}: {error}")
        success = success and result.success
    return success


def _runs_by_partitioning(graph, keys):
    """Batches of ``keys`` that can share a run, in dependency order: each batch holds assets of
    one partitions definition none of whose remaining ancestors has another one."""
    remaining = set(keys)
    ancestors: dict = {}

    def upstream(key):
        if key not in ancestors:
            ancestors[key] = set()
            for parent in graph.get(key).parent_keys:
                if graph.has(parent):
                    ancestors[key] |= {parent} | upstream(parent)
        return ancestors[key]

    while remaining:
        definitions = sorted(
            {graph.get(k).partitions_def for k in remaining}, key=lambda d: d is not None
        )
        for partitions_def in definitions:
            batch = {
                k
                for k in remaining
                if graph.get(k).partitions_def == partitions_def
                and all(
                    graph.get(a).partitions_def == partitions_def for a in upstream(k) & remaining
                )
            }
            if batch:
                remaining -= batch
                yield partitions_def, sorted(batch, key=lambda k: k.to_user_string())
                break


def land_sandbox_telegram() -> None:
    """Poll the sandbox bot's waiting updates into the landing zone (demo data for Telegram)."""
    from support_assets.sources.telegram.webhook import run_poller, telegram_is_sandbox

    if telegram_is_sandbox():
        stats = run_poller(until_empty=True)
        print(f"landed {stats.updates} sandbox Telegram update(s) by polling")


def cmd_materialize(args: argparse.Namespace) -> int:
    ensure_dagster_home(args.dagster_home)
    if args.with_sandbox:
        from support_assets.sandbox.server import SandboxServer

        config = _sandbox_config(args)
        with SandboxServer(config, args.host, args.port, tick_seconds=args.tick_seconds):
            land_sandbox_telegram()
            ok = materialize_all(args.select)
    else:
        ok = materialize_all(args.select)
    print("materialization " + ("succeeded" if ok else "FAILED"))
    return 0 if ok else 1


def _wait_for(url: str, seconds: float) -> bool:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


#: Set once Ctrl-C or SIGTERM arrived; a run in this process that Dagster interrupts returns
#: normally, so this is what tells the demo not to go on to the next step.
_STOPPING = threading.Event()


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    _STOPPING.set()
    raise KeyboardInterrupt


#: Settings the demo gives the platform unless the environment sets them: sensors that look
#: often, and runs in one process each (quicker to start on a small machine).
DEMO_SETTINGS = {"SUPPORT_SENSOR_INTERVAL_SECONDS": "30", "SUPPORT_EXECUTOR": "in_process"}


def _start_everything(ui_port: int) -> None:
    """Start every sensor and schedule on the demo's instance (see ``demo.py``)."""
    from support_assets.demo import DemoSetupError, start_everything

    try:
        started = start_everything(f"http://127.0.0.1:{ui_port}")
    except (DemoSetupError, OSError) as exc:
        print(f"could not start the sensors and schedules ({exc}); the UI stays open")
        return
    print(f"started {len(started)} sensors and schedules: {', '.join(sorted(started))}")


def _backfill_kpi_history() -> None:
    from support_assets.demo import backfill_kpi_history

    first, last, ok = backfill_kpi_history()
    state = "materialized" if ok else "FAILED (the UI shows why)"
    print(f"KPI history {first} to {last}, one partition a day, in one run: {state}")


def cmd_demo(args: argparse.Namespace) -> int:
    """Sandbox + one full materialization and the KPI history + ``dg dev`` (dagster-dg-cli) with
    every sensor and schedule running; Ctrl-C stops all of it."""
    from support_assets.demo import dg_dev_argv, history_start
    from support_assets.sandbox.server import SandboxServer

    home = ensure_dagster_home(args.dagster_home)
    # A shell that starts us in the background leaves SIGINT ignored, and dg dev would
    # inherit that and then ignore SIGTERM too; make Ctrl-C and SIGTERM both mean "stop".
    signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    config = _sandbox_config(args)
    # Read when the code location loads: here (the first materialization) and in dg dev.
    os.environ.setdefault("SUPPORT_KPI_START_DATE", history_start(config).isoformat())
    for name, value in DEMO_SETTINGS.items():
        os.environ.setdefault(name, value)
    sandbox_server = SandboxServer(
        config, host=args.host, port=args.port, tick_seconds=args.tick_seconds
    )
    with sandbox_server as sandbox:
        print(f"sandbox on {sandbox.url}")
        land_sandbox_telegram()
        if not materialize_all():
            print("the first materialization failed; the UI opens anyway to show why")
        if not _STOPPING.is_set():
            _backfill_kpi_history()
        if _STOPPING.is_set():
            print("stopping")
            return 0
        print(f"Dagster UI on http://127.0.0.1:{args.ui_port} (DAGSTER_HOME={home}); Ctrl-C stops")
        ui = subprocess.Popen(
            dg_dev_argv(str(Path(sys.executable).with_name("dg")), args.ui_port),
            start_new_session=True,
        )
        try:
            if _wait_for(f"http://127.0.0.1:{args.ui_port}/server_info", 180):
                _start_everything(args.ui_port)
            return ui.wait()
        except KeyboardInterrupt:
            print("stopping")
            return 0
        finally:
            if ui.poll() is None:
                os.killpg(ui.pid, signal.SIGTERM)
                try:
                    ui.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(ui.pid, signal.SIGKILL)


def cmd_webhook(args: argparse.Namespace) -> int:
    from support_assets.sources.telegram.webhook import serve

    print(f"Telegram webhook receiver on http://{args.host}:{args.port}/telegram/webhook")
    try:
        serve(args.host, args.port, sandbox=args.sandbox)
    except ValueError as exc:  # a missing or malformed TELEGRAM_WEBHOOK_SECRET
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    from support_assets.sources.telegram.client import WebhookActiveError
    from support_assets.sources.telegram.webhook import run_poller

    try:
        stats = run_poller(until_empty=args.once)
    except WebhookActiveError as exc:
        print(f"refusing to poll: {exc}", file=sys.stderr)
        return 2
    print(f"landed {stats.updates} update(s) in {stats.batches} batch(es)")
    return 0


def cmd_telegram_webhook(args: argparse.Namespace) -> int:
    import json

    from support_assets.sources.telegram.webhook import manage_webhook

    info = manage_webhook(args.action, args.url, drop_pending_updates=args.drop_pending_updates)
    print(json.dumps(info, indent=2, ensure_ascii=False))
    return 0


def cmd_telegram_import(args: argparse.Namespace) -> int:
    """Land the old Lambda's archive of Telegram updates (a folder or s3://) once per update."""
    from support_assets.io_managers.landing import LandingZoneResource
    from support_assets.io_managers.s3 import s3_resource_from_settings
    from support_assets.sources.telegram.archive_import import archive_filesystem, import_archive
    from support_assets.sources.telegram.assets import telegram_partition_keys

    fs, root = archive_filesystem(args.archive, s3_resource_from_settings(os.environ))
    try:
        stats = import_archive(
            fs, root, LandingZoneResource.from_settings("telegram").zone(), dry_run=args.dry_run
        )
    except FileNotFoundError as exc:
        print(f"cannot read the archive: {exc}", file=sys.stderr)
        return 2
    verb = "would land" if args.dry_run else "landed"
    print(
        f"{stats.files} file(s), {stats.updates} update(s): {verb} {stats.landed}, "
        f"{stats.already_landed} already landed, {stats.duplicates_in_archive} repeated in the "
        f"archive, {stats.invalid_files} file(s) not updates"
    )
    for sample in stats.invalid_samples:
        print(f"  not an update: {sample}")
    keys = telegram_partition_keys(stats.days)
    if keys:
        print(
            f"materialize telegram_job for partitions {keys[0]}..{keys[-1]} ({len(keys)} days), "
            "e.g. a backfill from the UI"
        )
    skipped = len(stats.days) - len(keys)
    if skipped:
        print(f"{skipped} day(s) fall outside the Telegram partitions and stay in the landing zone")
    return 0


def cmd_produce_events(args: argparse.Namespace) -> int:
    """Publish generated attendance events to the service-events topic (STOMP_* settings)."""
    from collections import Counter

    from support_assets.sandbox.service_events import generate_events
    from support_assets.sources.service_events.resources import stomp_resource
    from support_assets.sources.service_events.stomp import BrokerUnavailable

    events = generate_events(args.count, args.invalid_share, seed=args.seed)
    try:
        with stomp_resource().process_config_and_initialize_cm() as stomp:
            if not args.no_subscribe and stomp.ensure_subscription():
                print(f"durable subscription {stomp.subscription} is registered")
            sent = stomp.publish(event.body for event in events)
    except BrokerUnavailable as exc:
        print(f"cannot publish: {exc}", file=sys.stderr)
        return 2
    defects = Counter(e.defect for e in events if not e.valid)
    valid = sum(e.valid for e in events)
    print(
        f"published {sent} persistent events to {stomp.describe()}: {valid} valid, "
        f"{sent - valid} invalid on purpose {dict(sorted(defects.items()))}"
    )
    return 0


HANDLERS = {
    "sandbox": cmd_sandbox,
    "materialize": cmd_materialize,
    "demo": cmd_demo,
    "webhook": cmd_webhook,
    "poll": cmd_poll,
    "telegram-webhook": cmd_telegram_webhook,
    "telegram-import": cmd_telegram_import,
    "produce-events": cmd_produce_events,
}
"""What each command of ``build_parser`` runs."""


def main(argv: Sequence[str] | None = None) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # progress lines show at once, piped or not
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    return HANDLERS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
