"""The polling path: getUpdates long polling lands every update, and an offset is never
confirmed before its batch is landed, even across crashes."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from dagster import DagsterInstance

from support_assets import cli
from support_assets.core.sandbox_defaults import SANDBOX_TELEGRAM_WEBHOOK_SECRET
from support_assets.io_managers.landing import LandedBatch, LandingWriteError, LandingZone
from support_assets.sandbox.server import SandboxConfig
from support_assets.sources.telegram.assets import RAW_UPDATES, STAGING_MESSAGES
from support_assets.sources.telegram.client import (
    TelegramPoller,
    TelegramResource,
    WebhookActiveError,
)
from support_assets.sources.telegram.resources import telegram_resource
from support_assets_tests.support.telegram_helpers import (
    lake_table,
    materialize_landed,
    truth,
    zone,
)

BATCH = 40


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        seed=31, octadesk_tickets=1, octadesk_chats=1, helpdesk_web_tickets=1, telegram_updates=150
    )


class Killed(BaseException):
    """The poller's process dies here (nothing after this line of the poller runs)."""


class WatchedLanding:
    """The real landing zone; records whether each batch was still unconfirmed at Telegram
    when it was landed, and dies after or fails before a chosen append."""

    def __init__(
        self,
        landing: LandingZone,
        admin: httpx.Client,
        *,
        killed_after: int | None = None,
        fails_before: int | None = None,
    ) -> None:
        self.landing, self.admin = landing, admin
        self.killed_after, self.fails_before = killed_after, fails_before
        self.appends = 0
        self.unconfirmed_when_landed: list[bool] = []

    def append(self, payloads: list[dict[str, Any]], **kwargs: Any) -> LandedBatch:
        self.appends += 1
        pending = set(truth(self.admin)["pending"])
        self.unconfirmed_when_landed.append(all(p["update_id"] in pending for p in payloads))
        if self.appends == self.fails_before:
            raise LandingWriteError("No space left on device (test)")
        batch = self.landing.append(payloads, **kwargs)
        if self.appends == self.killed_after:
            raise Killed
        return batch


def test_polling_lands_every_update_once_and_confirms_only_what_is_landed(
    platform_env: dict[str, str], instance: DagsterInstance, admin: httpx.Client
) -> None:
    world = [u["update_id"] for u in truth(admin)["updates"]]
    assert len(world) == 150
    telegram = TelegramResource(
        base_url=platform_env["TELEGRAM_API_BASE_URL"],
        bot_token=platform_env["TELEGRAM_BOT_TOKEN"],
        poll_limit=BATCH,
        poll_timeout_seconds=0,
    )

    # Session 1 dies right after landing its second batch, before confirming it.
    first = WatchedLanding(zone(), admin, killed_after=2)
    with pytest.raises(Killed):
        TelegramPoller(telegram, first).run(until_empty=True)
    assert truth(admin)["pending"] == world[BATCH:]  # batch 2 landed, still unconfirmed

    # Session 2 starts from Telegram's earliest unconfirmed update (batch 2 again), then
    # cannot land batch 3.
    second = WatchedLanding(zone(), admin, fails_before=2)
    with pytest.raises(LandingWriteError):
        TelegramPoller(telegram, second).run(until_empty=True)
    assert truth(admin)["pending"] == world[2 * BATCH :]  # batch 3 not landed: not confirmed

    third = WatchedLanding(zone(), admin)
    stats = TelegramPoller(telegram, third).run(until_empty=True)
    assert stats.updates == 150 - 2 * BATCH
    assert truth(admin)["pending"] == []
    telegram.close()

    for session in (first, second, third):
        assert all(session.unconfirmed_when_landed), "an offset was confirmed before landing"
    landed = Counter(r.payload["update_id"] for d in zone().days() for r in zone().read(d))
    assert sum(landed.values()) == 150 + BATCH  # batch 2 landed twice
    assert set(landed) == set(world)

    materialize_landed(instance)
    staging = lake_table(platform_env, STAGING_MESSAGES)
    assert sorted(staging.column("update_id").to_pylist()) == world
    kinds = {u["update_id"]: u["kind"] for u in truth(admin)["updates"]}
    ids, got_kinds = staging.column("update_id").to_pylist(), staging.column("kind").to_pylist()
    got = dict(zip(ids, got_kinds, strict=True))
    assert got == kinds
    assert {"chat_member", "message_reaction"} <= set(got.values())  # asked for explicitly
    assert set(lake_table(platform_env, RAW_UPDATES).column("via").to_pylist()) == {"polling"}


def test_polling_refuses_while_a_webhook_is_set_and_says_so(
    platform_env: dict[str, str], admin: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = "http://127.0.0.1:9/telegram/webhook"
    with telegram_resource().process_config_and_initialize_cm() as telegram:
        telegram.set_webhook(hook, SANDBOX_TELEGRAM_WEBHOOK_SECRET)
        with pytest.raises(WebhookActiveError, match="webhook is set"):
            TelegramPoller(telegram, zone()).run(until_empty=True)

    assert cli.main(["poll", "--once"]) == 2
    err = capsys.readouterr().err
    assert "refusing to poll" in err and "a webhook is set" in err and hook in err
    assert zone().days() == []
    assert len(truth(admin)["pending"]) == 150

    with telegram_resource().process_config_and_initialize_cm() as telegram:
        telegram.delete_webhook()
    assert cli.main(["poll", "--once"]) == 0
    assert "landed 150 update(s)" in capsys.readouterr().out
    assert truth(admin)["pending"] == []
    today = dt.datetime.now(dt.UTC).date()
    assert sum(1 for d in zone().days() if d <= today for _ in zone().read(d)) == 150


def test_a_running_poller_rides_out_a_failed_landing(
    platform_env: dict[str, str], admin: httpx.Client
) -> None:
    """`support-assets poll` runs on: a landing that fails is retried later (nothing was
    confirmed); it stops only when told to, confirming what it landed."""
    telegram = TelegramResource(
        base_url=platform_env["TELEGRAM_API_BASE_URL"],
        bot_token=platform_env["TELEGRAM_BOT_TOKEN"],
        poll_limit=BATCH,
        poll_timeout_seconds=1,
    )
    landing = WatchedLanding(zone(), admin, fails_before=1)
    poller = TelegramPoller(telegram, landing)
    stop = threading.Event()
    thread = threading.Thread(
        target=lambda: poller.run(stop=stop, error_pause_seconds=0.05), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 60
    while poller.stats.updates < 150:
        assert thread.is_alive(), "the poller stopped on a failed landing"
        assert time.monotonic() < deadline, "the poller did not land everything"
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert landing.appends > 150 // BATCH + 1  # the failed first append was retried
    assert truth(admin)["pending"] == []
    landed = Counter(r.payload["update_id"] for d in zone().days() for r in zone().read(d))
    assert sum(landed.values()) == 150 and len(landed) == 150
    telegram.close()
