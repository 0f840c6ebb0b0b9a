"""Telegram history: the archive the old webhook Lambda left (one JSON file per update, under
date folders, in S3 or a folder) landed into the platform's landing zone, each ``update_id``
once, so the marts cover the time before the switch.

``support-assets telegram-import <archive>`` reads every ``*.json`` file under the archive's
root (any folder layout: ``2024-03-01/``, ``date=2024-03-01/``, ``2024/03/01/``), each holding
one update (a list of updates is accepted too). An update lands on the UTC day of its own date
(the message's ``date``; for kinds without one, such as a button press, the date of its
folder), with ``via`` ``archive``. Before a day is written, the ids already in that day's
landing files (from any earlier import, the webhook or the poller) are read and skipped, so a
second import of the same archive lands nothing. Files that are not updates are reported with
the reason and left alone; nothing is deleted from the archive.
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow.fs as pafs
from dagster_aws.s3 import S3Resource

from support_assets.io_managers.lake import LakeIOManager
from support_assets.io_managers.landing import LandingZone
from support_assets.sources.telegram.raw_updates import landed_update_ids

VIA = "archive"
_FOLDER_DATE = re.compile(r"(?<!\d)(\d{4})[-/](\d{2})[-/](\d{2})(?!\d)")
#: Invalid files reported by name (the rest only counted).
INVALID_SAMPLE = 20


@dataclass
class ImportStats:
    """What an import read and did."""

    files: int = 0
    updates: int = 0
    duplicates_in_archive: int = 0
    already_landed: int = 0
    landed: int = 0
    invalid_files: int = 0
    invalid_samples: list[str] = field(default_factory=list)
    days: list[dt.date] = field(default_factory=list)

    def invalid(self, path: str, reason: str) -> None:
        self.invalid_files += 1
        if len(self.invalid_samples) < INVALID_SAMPLE:
            self.invalid_samples.append(f"{path}: {reason}")


def archive_filesystem(url: str, s3: S3Resource | None = None) -> tuple[pafs.FileSystem, str]:
    """The archive's filesystem and root, resolved as the lake's are (``s3://`` through ``s3``,
    dagster-aws's resource, or a folder)."""
    lake = LakeIOManager(url=url, s3=s3 or S3Resource())
    return lake.filesystem(), lake.root()


def archive_files(fs: pafs.FileSystem, root: str) -> Iterator[str]:
    """Every ``*.json`` file under ``root``, in path order."""
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=False))
    paths = [i.path for i in infos if i.type == pafs.FileType.File and i.path.endswith(".json")]
    yield from sorted(paths)


def folder_date(path: str) -> dt.date | None:
    """The last date written in the file's folders (``2024-03-01``, ``2024/03/01``)."""
    matches = list(_FOLDER_DATE.finditer(posixpath.dirname(path)))
    for match in reversed(matches):
        try:
            return dt.date(*(int(g) for g in match.groups()))
        except ValueError:
            continue
    return None


def update_time(update: dict[str, Any], fallback: dt.date | None) -> dt.datetime | None:
    """When the update happened: the ``date`` of its object (message, post, member change),
    else midnight UTC of ``fallback`` (its folder's date)."""
    for key, value in update.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        stamp = value.get("date")
        if isinstance(stamp, int) and not isinstance(stamp, bool) and stamp > 0:
            return dt.datetime.fromtimestamp(stamp, dt.UTC)
    if fallback is None:
        return None
    return dt.datetime.combine(fallback, dt.time(), dt.UTC)


def parse_updates(content: bytes) -> list[dict[str, Any]]:
    """The updates of one file, or ValueError saying why it holds none."""
    try:
        data = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    items = data if isinstance(data, list) else [data]
    updates = []
    for item in items:
        update_id = item.get("update_id") if isinstance(item, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            shape = sorted(item) if isinstance(item, dict) else type(item).__name__
            raise ValueError(f"not a Telegram update (no integer update_id; keys: {shape})")
        updates.append(item)
    return updates


def _read_archive(
    fs: pafs.FileSystem, root: str, stats: ImportStats
) -> dict[dt.date, dict[int, tuple[dt.datetime, dict[str, Any]]]]:
    """Updates by UTC day and id (the first copy of an id wins)."""
    by_day: dict[dt.date, dict[int, tuple[dt.datetime, dict[str, Any]]]] = defaultdict(dict)
    seen: set[int] = set()
    for path in archive_files(fs, root):
        stats.files += 1
        with fs.open_input_stream(path) as stream:
            content = stream.read()
        try:
            updates = parse_updates(content)
        except ValueError as exc:
            stats.invalid(path, str(exc))
            continue
        for update in updates:
            moment = update_time(update, folder_date(path))
            if moment is None:
                stats.invalid(path, "no date in the update and none in its folders")
                continue
            stats.updates += 1
            if update["update_id"] in seen:
                stats.duplicates_in_archive += 1
                continue
            seen.add(update["update_id"])
            by_day[moment.date()][update["update_id"]] = (moment, update)
    return by_day


def import_archive(
    fs: pafs.FileSystem, root: str, zone: LandingZone, *, dry_run: bool = False
) -> ImportStats:
    """Land every update of the archive not landed yet (see the module docstring)."""
    stats = ImportStats()
    by_day = _read_archive(fs, root, stats)
    for day in sorted(by_day):
        landed = landed_update_ids(zone, day)
        new = [(t, u) for i, (t, u) in sorted(by_day[day].items()) if i not in landed]
        stats.already_landed += len(by_day[day]) - len(new)
        if not new:
            continue
        stats.days.append(day)
        if not dry_run:
            zone.append_timed([(u, t) for t, u in new], via=VIA)
        stats.landed += len(new)
    zone.close()
    return stats
