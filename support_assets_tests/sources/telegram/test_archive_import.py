"""The Telegram history the old Lambda left (one JSON file per update in date folders), imported
with the real CLI from a folder and from S3 (moto's server), once per update_id, and read by
the marts: group questions and hand-offs appear in marts/bot_insights."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from dagster import DagsterInstance

from support_assets.definitions import build_definitions
from support_assets.sandbox.server import SandboxConfig
from support_assets.sources.telegram.archive_import import folder_date, parse_updates, update_time
from support_assets.sources.telegram.assets import BOT_INSIGHTS, normalise_question
from support_assets_tests.support.e2e_helpers import venv_executable
from support_assets_tests.support.s3_server import running_moto_s3
from support_assets_tests.support.telegram_helpers import materialize_landed, truth, zone

GROUP_ID = -1001999000111


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(seed=17, octadesk_tickets=5, octadesk_chats=5, telegram_updates=0)


def cli_import(archive: str, *extra: str) -> str:
    done = subprocess.run(
        [venv_executable("support-assets"), "telegram-import", archive, *extra],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def day_folder(update: dict[str, Any]) -> str:
    moment = update_time(update, dt.datetime.now(dt.UTC).date())
    return moment.date().isoformat()


def group_handoff(update_id: int, user_id: int, when: int) -> dict[str, Any]:
    """A customer asking for a person in the company's group (privacy mode: a command)."""
    text = "/atendente@aurora_atendimento_bot"
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id % 100_000,
            "from": {"id": user_id, "is_bot": False, "first_name": "Ana"},
            "chat": {"id": GROUP_ID, "type": "supergroup", "title": "Clientes Aurora"},
            "date": when,
            "text": text,
            "entities": [{"offset": 0, "length": len(text), "type": "bot_command"}],
        },
    }


def test_an_archive_imports_once_and_its_group_questions_reach_bot_insights(
    platform_env: dict[str, str],
    instance: DagsterInstance,
    admin: httpx.Client,
    tmp_path: Path,
) -> None:
    ids = admin.post("/telegram/generate", json={"count": 600, "spread_seconds": 2 * 86400})
    wanted = set(ids.raise_for_status().json()["update_ids"])
    world = [u for u in truth(admin)["updates"] if u["update_id"] in wanted]
    updates = [u["update"] for u in world]
    handoff = group_handoff(max(wanted) + 1, 424242, int(time.time()) - 3600)
    updates.append(handoff)

    archive = tmp_path / "archive" / "telegram"
    for update in updates:
        folder = archive / day_folder(update)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{update['update_id']}.json").write_text(json.dumps(update, ensure_ascii=False))
    # The Lambda wrote a retried update twice, and someone left a note in the bucket.
    copy = archive / "copies" / f"{updates[0]['update_id']}.json"
    copy.parent.mkdir()
    copy.write_text(json.dumps(updates[0]))
    (archive / "LEIA-ME.json").write_text('{"nota": "arquivo do bot"}')

    first = cli_import(str(archive))
    total = len(updates)
    assert f"{total + 2} file(s), {total + 1} update(s): landed {total}," in first, first
    assert "1 repeated in the archive, 1 file(s) not updates" in first, first
    assert "LEIA-ME.json: not a Telegram update (no integer update_id; keys: ['nota'])" in first
    landed = [r.payload["update_id"] for day in zone().days() for r in zone().read(day)]
    assert sorted(landed) == sorted(u["update_id"] for u in updates)
    assert {r.via for day in zone().days() for r in zone().read(day)} == {"archive"}

    again = cli_import(str(archive))
    assert f"landed 0, {total} already landed" in again, again
    assert len([r for day in zone().days() for r in zone().read(day)]) == total

    # The marts read the history: questions asked in the group, and the hand-off there.
    materialize_landed(instance)
    job = build_definitions().resolve_implicit_global_asset_job_def()
    config = {"ops": {"marts__bot_insights": {"config": {"top_questions": 50}}}}
    assert job.execute_in_process(
        instance=instance, asset_selection=[BOT_INSIGHTS], run_config=config
    ).success
    with duckdb.connect(platform_env["SUPPORT_DUCKDB_PATH"], read_only=True) as con:
        insights = con.execute("select * from marts.bot_insights").df()
    asked_in_groups = Counter(
        normalise_question(u["meta"]["question"])
        for u in world
        if u["meta"]["question"] and u["meta"]["chat_type"] in ("group", "supergroup")
    )
    assert asked_in_groups, "the sandbox's customers ask questions in groups"
    top = insights[insights["insight"] == "top_group_question"].set_index("question")
    assert {q: int(top.loc[q, "messages"]) for q in top.index} == dict(asked_in_groups)
    [group] = insights[insights["insight"] == "group_handoff"].itertuples()
    assert group.handed_to_human == 1 and group.conversations >= 1


def test_an_s3_archive_imports_once(platform_env: dict[str, str], tmp_path: Path) -> None:
    now = int(time.time())
    updates = [group_handoff(9_000_001 + n, 500 + n, now - 86400 * n) for n in range(3)]
    with running_moto_s3() as s3:
        bucket = s3.create_bucket()
        client = s3.client()
        for update in updates:
            key = f"bot/date={day_folder(update)}/{update['update_id']}.json"
            client.put_object(Bucket=bucket, Key=key, Body=json.dumps(update).encode())
        os.environ["SUPPORT_S3_ENDPOINT_URL"] = s3.endpoint_url
        try:
            first = cli_import(f"s3://{bucket}/bot", "--dry-run")
            assert "3 file(s), 3 update(s): would land 3," in first, first
            assert zone().days() == []
            assert "landed 3, 0 already landed" in cli_import(f"s3://{bucket}/bot")
            assert "landed 0, 3 already landed" in cli_import(f"s3://{bucket}/bot")
        finally:
            del os.environ["SUPPORT_S3_ENDPOINT_URL"]
    landed = {r.payload["update_id"]: r for day in zone().days() for r in zone().read(day)}
    assert set(landed) == {u["update_id"] for u in updates}
    for update in updates:
        record = landed[update["update_id"]]
        assert record.payload == update
        assert record.received_at == dt.datetime.fromtimestamp(update["message"]["date"], dt.UTC)


def test_update_times_and_files_the_archive_may_hold() -> None:
    assert folder_date("bucket/telegram/2024-03-01/17.json") == dt.date(2024, 3, 1)
    assert folder_date("bucket/date=2024-03-01/17.json") == dt.date(2024, 3, 1)
    assert folder_date("bucket/2024/03/01/17.json") == dt.date(2024, 3, 1)
    assert folder_date("bucket/misc/17.json") is None
    press = {"update_id": 5, "callback_query": {"id": "1", "data": "handoff"}}
    assert update_time(press, dt.date(2024, 3, 1)) == dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    assert update_time(press, None) is None
    message = {"update_id": 6, "message": {"date": 1709290800}}
    assert update_time(message, None) == dt.datetime(2024, 3, 1, 11, 0, tzinfo=dt.UTC)
    assert [u["update_id"] for u in parse_updates(b'[{"update_id": 1}, {"update_id": 2}]')] == [
        1,
        2,
    ]
    for content, reason in (
        (b"{oops", "not JSON"),
        (b'{"update_id": "7"}', "no integer update_id"),
        (b"[1, 2]", "keys: int"),
    ):
        with pytest.raises(ValueError, match=reason):
            parse_updates(content)
