"""``support-assets``: run the sandbox, materialize the graph headless, or open the demo; receive
Telegram updates by webhook or polling."""

from __future__ import annotations

import argparse

from support_assets.core.sandbox_defaults import SANDBOX_HOST, SANDBOX_PORT

DEMO_TICK_SECONDS = 30.0


def _add_sandbox_options(parser: argparse.ArgumentParser, tick_seconds: float = 0) -> None:
    parser.add_argument("--host", default=SANDBOX_HOST)
    parser.add_argument("--port", type=int, default=SANDBOX_PORT)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--octadesk-tickets", type=int, default=500)
    parser.add_argument("--octadesk-chats", type=int, default=300)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument(
        "--divergent",
        action="store_true",
        help="simulators answer as real tenants do, not as documented: filters ignored, "
        "lists in envelopes, numbers for strings, totals missing (docs/sandbox.md)",
    )
    parser.add_argument(
        "--tick-seconds",
        type=float,
        default=tick_seconds,
        help="move the sandbox's world on (a few changed and new records) every that many "
        f"seconds; 0: never (default {tick_seconds:g})",
    )


def _add_sandbox_command(sub: argparse._SubParsersAction) -> None:
    """``sandbox``: serve the simulators."""
    sandbox = sub.add_parser("sandbox", help="serve the simulators of every external system")
    _add_sandbox_options(sandbox)


def _add_materialize_command(sub: argparse._SubParsersAction) -> None:
    """``materialize``: the asset graph once, headless."""
    materialize = sub.add_parser("materialize", help="run the whole asset graph once, headless")
    materialize.add_argument(
        "--select",
        help="a Dagster asset selection, e.g. 'group:octadesk' or 'key:\"raw/octadesk_tickets\"+' "
        "(default: everything)",
    )
    materialize.add_argument("--dagster-home")
    materialize.add_argument(
        "--with-sandbox", action="store_true", help="serve the sandbox while it runs"
    )
    _add_sandbox_options(materialize)


def _add_demo_command(sub: argparse._SubParsersAction) -> None:
    """``demo``: the whole platform running on the sandbox."""
    demo = sub.add_parser(
        "demo",
        help="sandbox, a first materialization, the Dagster UI, the KPI history backfilled and "
        "every sensor and schedule running",
    )
    _add_sandbox_options(demo, tick_seconds=DEMO_TICK_SECONDS)
    demo.add_argument("--ui-port", type=int, default=3000)
    demo.add_argument("--dagster-home")


def _add_webhook_command(sub: argparse._SubParsersAction) -> None:
    """``webhook``: the Telegram webhook receiver."""
    webhook = sub.add_parser(
        "webhook", help="receive Telegram updates (POST /telegram/webhook) into the landing zone"
    )
    webhook.add_argument("--host", default="127.0.0.1")
    webhook.add_argument("--port", type=int, default=8088)
    webhook.add_argument(
        "--sandbox",
        action="store_true",
        help="sandbox/demo only: without TELEGRAM_WEBHOOK_SECRET, use the sandbox's published one",
    )


def _add_poll_command(sub: argparse._SubParsersAction) -> None:
    """``poll``: the Telegram long-polling lander."""
    poll = sub.add_parser(
        "poll", help="land Telegram updates by getUpdates long polling (bots without a webhook)"
    )
    poll.add_argument(
        "--once", action="store_true", help="stop when no update is waiting (default: run on)"
    )


def _add_telegram_webhook_command(sub: argparse._SubParsersAction) -> None:
    """``telegram-webhook``: the bot's webhook registration."""
    telegram_webhook = sub.add_parser(
        "telegram-webhook", help="show, set or delete the bot's webhook registration"
    )
    telegram_webhook.add_argument("action", choices=["info", "set", "delete"])
    telegram_webhook.add_argument("--url", help="public HTTPS URL of the receiver (set)")
    telegram_webhook.add_argument("--drop-pending-updates", action="store_true")


def _add_telegram_import_command(sub: argparse._SubParsersAction) -> None:
    """``telegram-import``: an archive of Telegram updates into the landing zone."""
    telegram_import = sub.add_parser(
        "telegram-import",
        help="land an archive of Telegram updates (one JSON file per update, in date folders; "
        "a folder or s3://bucket/prefix) into the landing zone, each update_id once",
    )
    telegram_import.add_argument("archive", help="folder or s3://bucket/prefix of the archive")
    telegram_import.add_argument(
        "--dry-run", action="store_true", help="count what would land; write nothing"
    )


def _add_produce_events_command(sub: argparse._SubParsersAction) -> None:
    """``produce-events``: attendance events onto the service-events topic."""
    produce = sub.add_parser(
        "produce-events",
        help="publish realistic attendance events to the service-events topic (demos, tests)",
    )
    produce.add_argument("--count", type=int, default=100, help="events to publish")
    produce.add_argument(
        "--invalid-share", type=float, default=0.1, help="share broken on purpose (0-1)"
    )
    produce.add_argument("--seed", type=int, default=None, help="same seed, same events")
    produce.add_argument(
        "--no-subscribe",
        action="store_true",
        help="do not create the platform's durable subscription first (a topic keeps messages "
        "only for subscriptions that already exist)",
    )


COMMANDS = (
    _add_sandbox_command,
    _add_materialize_command,
    _add_demo_command,
    _add_webhook_command,
    _add_poll_command,
    _add_telegram_webhook_command,
    _add_telegram_import_command,
    _add_produce_events_command,
)
"""Each command's parser builder, in the order ``--help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The ``support-assets`` parser: one sub-command per builder of ``COMMANDS``."""
    parser = argparse.ArgumentParser(prog="support-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for add_command in COMMANDS:
        add_command(sub)
    return parser
