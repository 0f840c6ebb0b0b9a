"""The landing zone: durable JSON-lines appends by UTC day, readable while they grow."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from support_assets.io_managers.lake import LakeIOManager
from support_assets.io_managers.landing import LandingWriteError, LandingZone, ReadStats

NOON = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def zone_at(root: Path, **kwargs: object) -> LandingZone:
    return LandingZone.from_url(str(root), "telegram", **kwargs)


def update(update_id: int, text: str = "Cadê meu pedido? 📦") -> dict:
    return {"update_id": update_id, "message": {"message_id": update_id, "text": text}}


def test_appends_read_back_exactly_in_the_received_days_folder(tmp_path: Path) -> None:
    zone = zone_at(tmp_path)
    first = zone.append([update(1), update(2)], via="webhook", received_at=NOON)
    zone.append([update(3, "Olá, tudo bem? ção")], via="polling", received_at=NOON)

    assert first.records == 2 and first.day == NOON.date()
    folder = tmp_path / "landing" / "telegram" / "date=2026-11-23"
    assert Path(first.path).parent == folder
    assert zone.days() == [NOON.date()]
    records = list(zone.read(NOON.date()))
    assert [r.payload for r in records] == [update(1), update(2), update(3, "Olá, tudo bem? ção")]
    assert [r.via for r in records] == ["webhook", "webhook", "polling"]
    assert {r.received_at for r in records} == {NOON}
    # JSON lines, UTF-8 kept as is (not \u-escaped).
    text = Path(first.path).read_text(encoding="utf-8")
    assert "Cadê meu pedido? 📦" in text and text.endswith("\n")
    assert json.loads(text.splitlines()[0])["received_at"] == "2026-11-23T12:00:00.000000Z"


def test_the_root_is_the_lake_io_managers(tmp_path: Path) -> None:
    lake = LakeIOManager(url=f"file://{tmp_path}/lake")
    zone = LandingZone.from_lake(lake, "telegram")
    assert zone.base == f"{lake.root()}/landing/telegram"
    zone.append([update(1)], via="webhook", received_at=NOON)
    assert (tmp_path / "lake" / "landing" / "telegram" / "date=2026-11-23").is_dir()


def test_append_does_not_return_before_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data is fsync'd before append returns; if fsync fails, append raises (no ack)."""
    zone = zone_at(tmp_path)
    synced: list[int] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        real_fsync(fd)
        synced.append(os.fstat(fd).st_size)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    batch = zone.append([update(1)], via="webhook", received_at=NOON)
    size = Path(batch.path).stat().st_size
    assert size in synced, "the file's bytes were not fsync'd before append returned"

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(LandingWriteError):
        zone.append([update(2)], via="webhook", received_at=NOON)

    # The next append goes to a fresh segment and everything complete stays readable.
    monkeypatch.setattr(os, "fsync", real_fsync)
    again = zone.append([update(3)], via="webhook", received_at=NOON)
    assert again.path != batch.path
    ids = [r.payload["update_id"] for r in zone.read(NOON.date())]
    assert 1 in ids and 3 in ids


def test_a_torn_tail_from_a_crash_is_skipped_and_later_writers_use_new_files(
    tmp_path: Path,
) -> None:
    crashed = zone_at(tmp_path)
    batch = crashed.append([update(1), update(2)], via="webhook", received_at=NOON)
    with open(batch.path, "ab") as segment:  # the crash: half a line, never acknowledged
        segment.write(b'{"received_at": "2026-11-23T12:00:01.000000Z", "via": "webhook", "pay')

    restarted = zone_at(tmp_path)
    restarted.append([update(3)], via="webhook", received_at=NOON)
    stats = ReadStats()
    ids = [r.payload["update_id"] for r in restarted.read(NOON.date(), stats)]
    assert sorted(ids) == [1, 2, 3]
    assert stats.files == 2 and stats.incomplete_tails == 1 and stats.invalid_lines == 0


def test_concurrent_appends_all_land_once(tmp_path: Path) -> None:
    zone = zone_at(tmp_path)
    errors: list[BaseException] = []

    def writer(base: int) -> None:
        try:
            for k in range(40):
                zone.append([update(base + k)], via="webhook", received_at=NOON)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(1000 * t,)) for t in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    ids = [r.payload["update_id"] for r in zone.read(NOON.date())]
    assert sorted(ids) == sorted(1000 * t + k for t in range(12) for k in range(40))


def test_segments_roll_over_at_midnight_utc_and_by_size(tmp_path: Path) -> None:
    zone = zone_at(tmp_path, max_segment_bytes=300)
    before = dt.datetime(2026, 11, 23, 23, 59, 59, 900_000, tzinfo=dt.UTC)
    after = dt.datetime(2026, 11, 24, 0, 0, 0, 100_000, tzinfo=dt.UTC)
    zone.append([update(1)], via="webhook", received_at=before)
    zone.append([update(2)], via="webhook", received_at=after)
    for k in range(3, 9):
        zone.append([update(k)], via="webhook", received_at=after)
    assert zone.days() == [before.date(), after.date()]
    assert [r.payload["update_id"] for r in zone.read(before.date())] == [1]
    assert [r.payload["update_id"] for r in zone.read(after.date())] == list(range(2, 9))
    assert len(zone.files(after.date())) > 1
    files, size = zone.fingerprint(after.date())
    assert files == len(zone.files(after.date())) and size > 0


def test_object_stores_get_one_object_per_append() -> None:
    """A filesystem that is not the local disk (S3 later) cannot append: one object each."""
    fs = pafs._MockFileSystem()
    zone = LandingZone(fs, "bucket/lake", "telegram")
    assert not zone.durable_by_fsync
    zone.append([update(1), update(2)], via="webhook", received_at=NOON)
    zone.append([update(3)], via="webhook", received_at=NOON)
    assert len(zone.files(NOON.date())) == 2
    assert [r.payload["update_id"] for r in zone.read(NOON.date())] == [1, 2, 3]
