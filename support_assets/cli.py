"""``support-assets``: run the sandbox, materialize the graph headless, or open the demo."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from support_assets.settings import SANDBOX_HOST, SANDBOX_PORT

log = logging.getLogger("support_assets.cli")

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
    )


def cmd_sandbox(args: argparse.Namespace) -> int:
    from support_assets.sandbox.server import serve

    print(f"sandbox on http://{args.host}:{args.port} (seed {args.seed}); Ctrl-C stops it")
    serve(_sandbox_config(args), host=args.host, port=args.port)
    return 0


def materialize_all(selection: str | None = None) -> bool:
    """Runs the whole asset graph (or a selection) once in this process; True on success."""
    from dagster import AssetSelection, DagsterInstance

    from support_assets.definitions import defs

    instance = DagsterInstance.get()
    job = defs.resolve_implicit_global_asset_job_def()
    asset_selection = None
    if selection:
        asset_selection = AssetSelection.from_coercible(selection.split(",")).resolve(
            defs.resolve_asset_graph()
        )
    result = job.execute_in_process(
        instance=instance, raise_on_error=False, asset_selection=asset_selection
    )
    for event in result.all_events:
        if event.is_step_failure:
            print(f"FAILED {event.step_key}: {event.event_specific_data.error.message.strip()}")
    return result.success


def cmd_materialize(args: argparse.Namespace) -> int:
    ensure_dagster_home(args.dagster_home)
    if args.with_sandbox:
        from support_assets.sandbox.server import SandboxServer

        with SandboxServer(_sandbox_config(args), host=args.host, port=args.port):
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


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_demo(args: argparse.Namespace) -> int:
    """Sandbox + one full materialization + ``dagster dev``; Ctrl-C stops all of it."""
    from support_assets.sandbox.server import SandboxServer

    home = ensure_dagster_home(args.dagster_home)
    # A shell that starts us in the background leaves SIGINT ignored, and dagster dev would
    # inherit that and then ignore SIGTERM too; make Ctrl-C and SIGTERM both mean "stop".
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    with SandboxServer(_sandbox_config(args), host=args.host, port=args.port) as sandbox:
        print(f"sandbox on {sandbox.url}")
        if not materialize_all():
            print("the first materialization failed; the UI opens anyway to show why")
        print(f"Dagster UI on http://127.0.0.1:{args.ui_port} (DAGSTER_HOME={home}); Ctrl-C stops")
        ui = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagster",
                "dev",
                "-m",
                "support_assets.definitions",
                "-h",
                "127.0.0.1",
                "-p",
                str(args.ui_port),
            ],
            start_new_session=True,
        )
        try:
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


def _add_sandbox_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=SANDBOX_HOST)
    parser.add_argument("--port", type=int, default=SANDBOX_PORT)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--octadesk-tickets", type=int, default=500)
    parser.add_argument("--octadesk-chats", type=int, default=300)
    parser.add_argument("--latency-ms", type=int, default=0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="support-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sandbox = sub.add_parser("sandbox", help="serve the simulators of every external system")
    _add_sandbox_options(sandbox)
    sandbox.set_defaults(func=cmd_sandbox)

    materialize = sub.add_parser("materialize", help="run the whole asset graph once, headless")
    materialize.add_argument("--select", help="comma-separated asset keys (default: all)")
    materialize.add_argument("--dagster-home")
    materialize.add_argument(
        "--with-sandbox", action="store_true", help="serve the sandbox while it runs"
    )
    _add_sandbox_options(materialize)
    materialize.set_defaults(func=cmd_materialize)

    demo = sub.add_parser("demo", help="sandbox, a first materialization, and the Dagster UI")
    _add_sandbox_options(demo)
    demo.add_argument("--ui-port", type=int, default=3000)
    demo.add_argument("--dagster-home")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
