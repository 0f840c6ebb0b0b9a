"""The webhook receiver over real HTTP on loopback: secret, body limit, 200 only once durable."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from support_assets.core.sandbox_defaults import (
    SANDBOX_TELEGRAM_BOT_TOKEN,
    SANDBOX_TELEGRAM_WEBHOOK_SECRET,
)
from support_assets.io_managers.landing import LandingZone
from support_assets.sandbox.server import SandboxConfig, SandboxServer
from support_assets.sources.telegram.webhook import SECRET_HEADER, app_from_settings, build_app
from support_assets_tests.support.loopback import serve_app

SECRET = "s3cr3t_Token-for-tests"
UPDATE = {
    "update_id": 310000001,
    "message": {
        "message_id": 7,
        "from": {"id": 123, "is_bot": False, "first_name": "Ana"},
        "chat": {"id": 123, "type": "private", "first_name": "Ana"},
        "date": 1795400000,
        "text": "Cadê meu pedido? 📦",
    },
}


@pytest.fixture
def zone(tmp_path: Path) -> LandingZone:
    return LandingZone.from_url(str(tmp_path / "lake"), "telegram")


@pytest.fixture
def app(zone: LandingZone) -> Starlette:
    return build_app(zone, SECRET, max_body_bytes=4096)


@pytest.fixture
def receiver(app: Starlette) -> Iterator[httpx.Client]:
    with serve_app(app) as url:
        with httpx.Client(base_url=url, timeout=10) as client:
            yield client


def landed(zone: LandingZone) -> list[dict]:
    return [r.payload for day in zone.days() for r in zone.read(day)]


def post(client: httpx.Client, body: object, secret: str | None = SECRET, **kw) -> httpx.Response:
    headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    content = json.dumps(body).encode() if isinstance(body, dict) else body
    return client.post("/telegram/webhook", content=content, headers=headers, **kw)


def test_a_wrong_or_missing_secret_gets_403_and_lands_nothing(
    receiver: httpx.Client, zone: LandingZone, app: Starlette
) -> None:
    for secret in (None, "", "wrong", SECRET.upper(), SECRET + "x", SECRET[:-1]):
        response = post(receiver, UPDATE, secret=secret)
        assert response.status_code == 403, secret
    assert zone.days() == [] and landed(zone) == []
    # Counters stay in the process (health is public and shows none of them).
    assert app.state.counts["forbidden"] == 6 and "landed" not in app.state.counts

    assert post(receiver, UPDATE).status_code == 200
    assert landed(zone) == [UPDATE]


def test_the_simulator_with_a_wrong_secret_is_refused_until_it_is_fixed(
    tmp_path: Path, zone: LandingZone
) -> None:
    """Telegram with the wrong secret: every delivery is refused, nothing lands, nothing is
    confirmed; with the right one, everything arrives."""
    config = SandboxConfig(seed=3, octadesk_tickets=1, octadesk_chats=1, telegram_updates=25)
    app = build_app(zone, SANDBOX_TELEGRAM_WEBHOOK_SECRET)
    with SandboxServer(config) as sandbox, serve_app(app) as url:
        api = f"{sandbox.url}/telegram/bot{SANDBOX_TELEGRAM_BOT_TOKEN}"
        hook = {"url": f"{url}/telegram/webhook", "allowed_updates": [], "max_connections": 5}
        httpx.post(f"{api}/setWebhook", json={**hook, "secret_token": "not-the-secret"})
        deadline = time.monotonic() + 60
        while True:
            info = httpx.get(f"{api}/getWebhookInfo").json()["result"]
            failures = httpx.get(f"{sandbox.url}/_admin/telegram/delivery").json()
            if failures["failed_attempts"] >= 25:
                break
            assert time.monotonic() < deadline, "the simulator did not retry"
            time.sleep(0.05)
        assert "403" in info["last_error_message"]
        assert info["pending_update_count"] > 0
        assert landed(zone) == []

        httpx.post(
            f"{api}/setWebhook", json={**hook, "secret_token": SANDBOX_TELEGRAM_WEBHOOK_SECRET}
        )
        while not httpx.get(f"{sandbox.url}/_admin/telegram/delivery").json()["idle"]:
            assert time.monotonic() < deadline, "deliveries did not finish"
            time.sleep(0.05)
        truth = httpx.get(f"{sandbox.url}/_admin/telegram/truth").json()
    expected = {
        u["update_id"]
        for u in truth["updates"]
        if u["kind"] not in ("chat_member", "message_reaction")  # Telegram's default
    }
    assert {u["update_id"] for u in landed(zone)} == expected


def test_bodies_over_the_limit_get_413_and_non_updates_400(
    receiver: httpx.Client, zone: LandingZone
) -> None:
    big = {**UPDATE, "message": {**UPDATE["message"], "text": "x" * 5000}}
    assert post(receiver, big).status_code == 413

    def chunks():  # no Content-Length: the limit applies to the bytes actually streamed
        for _ in range(10):
            yield b" " * 1000

    assert post(receiver, chunks()).status_code == 413
    for body in (b"not json", b"[1, 2]", b'{"message": {}}', b'{"update_id": "7"}', b""):
        assert post(receiver, body).status_code == 400, body
    assert landed(zone) == []


def test_200_only_once_the_update_is_durable(
    receiver: httpx.Client, zone: LandingZone, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An update answered 200 is already on disk and fsync'd; if it cannot be made durable the
    answer is 503 (Telegram retries), never 200."""
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (real_fsync(fd), synced.append(fd))[0])
    assert post(receiver, UPDATE).status_code == 200
    assert landed(zone) == [UPDATE] and synced

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    second = {**UPDATE, "update_id": UPDATE["update_id"] + 1}
    response = post(receiver, second)
    assert response.status_code == 503
    assert app.state.counts["landing_failed"] == 1
    assert receiver.get("/health").status_code == 503  # until a landing succeeds again

    monkeypatch.setattr(os, "fsync", real_fsync)
    assert post(receiver, second).status_code == 200  # Telegram's retry
    assert receiver.get("/health").json() == {"ok": True}
    assert [u["update_id"] for u in landed(zone)].count(second["update_id"]) >= 1


def test_health(receiver: httpx.Client, zone: LandingZone, app: Starlette) -> None:
    health = receiver.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["ok"] is True and zone.durable_by_fsync
    assert app.state.landing.base == zone.base
    assert receiver.get("/telegram/webhook").status_code == 405


def test_health_shows_nothing_private_and_makes_no_storage_call(
    receiver: httpx.Client, zone: LandingZone, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/health is on the public port: no path, bucket, limits or counters, and no call to the
    lake per request (on S3 each would be a billed request anyone could trigger)."""
    assert post(receiver, UPDATE).status_code == 200
    calls: list[str] = []

    class CountingFileSystem:
        def __init__(self, real: object) -> None:
            self.real = real

        def __getattr__(self, name: str) -> object:
            calls.append(name)
            return getattr(self.real, name)

    monkeypatch.setattr(zone, "fs", CountingFileSystem(zone.fs))
    for _ in range(5):
        response = receiver.get("/health")
        assert response.status_code == 200 and response.json() == {"ok": True}
        text = response.text
        assert zone.base not in text and "lake" not in text and "count" not in text
    assert calls == []


def test_the_secret_is_compared_as_exact_bytes(zone: LandingZone) -> None:
    """A configured secret with a trailing newline (a secrets file) is refused at start-up, and a
    supplied secret with anything around it is refused per request."""
    for bad in (SECRET + "\n", SECRET + "\r\n", " " + SECRET, SECRET + "\x00"):
        with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET"):
            build_app(zone, bad)
    with serve_app(build_app(zone, SECRET)) as url, httpx.Client(base_url=url) as client:
        for supplied in (SECRET + " x", (SECRET + "\u00e9").encode()):  # bytes as sent
            assert post(client, UPDATE, secret=supplied).status_code == 403
        assert post(client, UPDATE).status_code == 200


def test_the_receiver_never_falls_back_to_the_sandbox_secret(tmp_path: Path) -> None:
    """A careful deployment runs the receiver without TELEGRAM_BOT_TOKEN in its environment: it
    must not accept the sandbox's published secret then."""
    env = {"SUPPORT_LAKE_URL": str(tmp_path / "lake")}
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET is not set"):
        app_from_settings(env)
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET is not set"):
        app_from_settings({**env, "TELEGRAM_BOT_TOKEN": "123:abc"})
    sandbox = app_from_settings(env, sandbox=True)  # explicitly asked for
    with serve_app(sandbox) as url, httpx.Client(base_url=url) as client:
        assert post(client, UPDATE, secret=SANDBOX_TELEGRAM_WEBHOOK_SECRET).status_code == 200
    configured = app_from_settings({**env, "TELEGRAM_WEBHOOK_SECRET": SECRET})
    with serve_app(configured) as url, httpx.Client(base_url=url) as client:
        assert post(client, UPDATE, secret=SANDBOX_TELEGRAM_WEBHOOK_SECRET).status_code == 403
        assert post(client, UPDATE).status_code == 200


def test_health_is_503_when_the_landing_zone_cannot_be_written(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the lake should be")
    zone = LandingZone.from_url(str(blocked), "telegram")
    with serve_app(build_app(zone, SECRET)) as url:
        assert httpx.get(f"{url}/health").status_code == 503
        response = httpx.post(
            f"{url}/telegram/webhook", json=UPDATE, headers={SECRET_HEADER: SECRET}
        )
        assert response.status_code == 503  # not landed, so not acknowledged
