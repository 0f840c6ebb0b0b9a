"""A receiver killed between receiving an update and answering loses nothing: `support-assets
webhook` runs as a real process, is SIGKILLed once after landing an update and once before
landing one, and Telegram's (the simulator's) redeliveries fill every gap, with no duplicate
left in staging."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance

from support_assets.core.sandbox_defaults import SANDBOX_TELEGRAM_WEBHOOK_SECRET
from support_assets.sandbox.server import SandboxConfig
from support_assets.sources.telegram.assets import STAGING_MESSAGES
from support_assets.sources.telegram.resources import telegram_resource
from support_assets_tests.support.telegram_helpers import (
    lake_table,
    materialize_landed,
    truth,
    wait_idle,
    zone,
)

pytestmark = pytest.mark.slow

CLI = str(Path(sys.executable).parent / "support-assets")
PAUSED = [sys.executable, "-m", "support_assets_tests.support.paused_webhook"]


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        seed=41, octadesk_tickets=1, octadesk_chats=1, helpdesk_web_tickets=1, telegram_updates=0
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receivers:
    """Starts `support-assets webhook` processes on one port and kills them."""

    def __init__(self, port: int, logs: Path) -> None:
        self.port, self.logs = port, logs
        self.processes: list[subprocess.Popen] = []

    def start(self, *pause: str) -> subprocess.Popen:
        """A receiver; with ``pause`` (stage, update id, marker file) one that hangs there."""
        command = [*PAUSED, *pause] if pause else [CLI]
        log = open(self.logs / f"receiver-{len(self.processes)}.log", "w")
        process = subprocess.Popen(
            [*command, "webhook", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, self.output(process)
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).is_success:
                    return process
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, self.output(process)
            time.sleep(0.05)

    def output(self, process: subprocess.Popen) -> str:
        index = self.processes.index(process)
        return (self.logs / f"receiver-{index}.log").read_text()

    def kill(self, process: subprocess.Popen) -> None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.kill(process)


@pytest.fixture
def receivers(tmp_path: Path) -> Iterator[Receivers]:
    started = Receivers(free_port(), tmp_path)
    try:
        yield started
    finally:
        started.close()


def wait_for_marker(path: Path) -> str:
    deadline = time.monotonic() + 60
    while not (path.exists() and path.read_text().endswith("\n")):
        assert time.monotonic() < deadline, f"the receiver never reached the pause ({path})"
        time.sleep(0.02)
    return path.read_text()


def landed_ids() -> Counter[int]:
    landing = zone()
    return Counter(r.payload["update_id"] for day in landing.days() for r in landing.read(day))


def test_a_receiver_killed_before_answering_loses_nothing_and_duplicates_nothing(
    platform_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    receivers: Receivers,
    tmp_path: Path,
) -> None:
    first = admin.post("/telegram/generate", json={"count": 60}).json()["update_ids"]
    after_landing = first[10]

    # 1. The receiver lands update `after_landing`, then dies before its 200.
    marker = tmp_path / "paused-after"
    killed_after = receivers.start("after_landing", str(after_landing), str(marker))
    with telegram_resource().process_config_and_initialize_cm() as telegram:
        telegram.set_webhook(
            f"http://127.0.0.1:{receivers.port}/telegram/webhook",
            SANDBOX_TELEGRAM_WEBHOOK_SECRET,
            max_connections=4,
        )
    assert wait_for_marker(marker) == f"after_landing {after_landing}\n"
    assert landed_ids()[after_landing] == 1  # durable...
    assert after_landing in truth(admin)["pending"]  # ...but never confirmed to Telegram
    receivers.kill(killed_after)

    # 2. Another receiver reads update `before_landing` and dies before landing it.
    second = admin.post("/telegram/generate", json={"count": 60}).json()["update_ids"]
    before_landing = second[0]
    marker = tmp_path / "paused-before"
    killed_before = receivers.start("before_landing", str(before_landing), str(marker))
    assert wait_for_marker(marker) == f"before_landing {before_landing}\n"
    assert landed_ids()[before_landing] == 0
    assert before_landing in truth(admin)["pending"]
    receivers.kill(killed_before)

    # 3. A healthy receiver; Telegram redelivers whatever was not answered.
    receivers.start()
    status = wait_idle(admin)
    assert status["pending"] == 0 and status["failed_attempts"] > 0

    landed = landed_ids()
    assert set(landed) == set(first) | set(second)
    assert landed[after_landing] == 2  # landed before the kill, and again on redelivery
    assert landed[before_landing] == 1  # only on redelivery

    materialize_landed(instance)
    staging = lake_table(platform_env, STAGING_MESSAGES).column("update_id").to_pylist()
    assert sorted(staging) == sorted(first + second)  # nothing lost, nothing twice
