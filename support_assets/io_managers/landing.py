"""The lake's landing zone: raw records appended durably as JSON lines, by the UTC day received.

Layout: ``<lake root>/landing/<source>/date=YYYY-MM-DD/<UTC time>-<pid>-<random>.jsonl``; every
line is ``{"received_at": "...Z", "via": "webhook", "payload": {...}}`` with the payload exactly
as parsed from the source (UTF-8, nothing dropped). Files are only ever appended to or created,
never rewritten, so a reader may read a file while it grows: it takes the complete lines and
leaves a partial last line for the next read.

:meth:`LandingZone.append` returns only once the records are durable, so a caller may
acknowledge the source after it (a webhook answers 200, a poller confirms an offset):

* on a local filesystem (a folder, ``file://``) records go to a segment file of this process,
  written with ``O_APPEND`` and ``fsync``'d before returning. Concurrent appends share one
  fsync (group commit). A new segment's folder is fsync'd too, so the file itself survives a
  power cut. Segments roll over at midnight UTC, at ``max_segment_bytes`` and after
  ``max_segment_seconds``, so a sensor sees new files and older files stop changing. A failed
  write or fsync abandons the segment (nothing is ever written after a torn line) and raises;
* on an object store (S3, through the same ``pyarrow.fs`` filesystem the lake uses, configured
  by dagster-aws's ``S3Resource``) each
  append is one object, durable when the upload completes; there is no append to an object.

Everything goes through the filesystem and root the lake IO manager resolves
(:meth:`LandingZone.from_url`), so the landing zone lives wherever the lake does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import posixpath
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow.fs as pafs
from dagster import ConfigurableResource
from dagster_aws.s3 import S3Resource
from pydantic import Field

from support_assets.core.settings import setting
from support_assets.io_managers.lake import LakeIOManager
from support_assets.io_managers.landing_writers import (
    DATE_FOLDER,
    SUFFIX,
    LandingWriteError,
    LocalSegmentWriter,
    ObjectWriter,
    fsync_dir,
    landing_file_name,
    local_os_path,
)
from support_assets.io_managers.s3 import s3_resource_from_settings

LANDING_PREFIX = "landing"
#: Folder (under the source's landing folder) of bodies that could not be landed as records;
#: readers and the sensor never list it (it is not a ``date=`` folder).
QUARANTINE_FOLDER = "_quarantine"


def landing_line(record: Mapping[str, Any]) -> str:
    """One JSON line; text JSON cannot carry as UTF-8 (a lone surrogate) goes as ``\\u``
    escapes, so the line stays valid UTF-8 and reads back to the same value."""
    try:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        line.encode("utf-8")
        return line
    except UnicodeEncodeError:
        return json.dumps(record, ensure_ascii=True, separators=(",", ":"))


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def format_received_at(moment: dt.datetime) -> str:
    """UTC, microseconds, ``Z``: ``2026-11-23T17:09:00.123456Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_received_at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)


@dataclass(frozen=True)
class LandingFile:
    """One landing file as listed: its path in the filesystem and its size in bytes."""

    path: str
    size: int


@dataclass(frozen=True)
class LandedBatch:
    """Where an append went."""

    day: dt.date
    path: str
    records: int
    received_at: dt.datetime


@dataclass(frozen=True)
class LandedRecord:
    """One line read back."""

    received_at: dt.datetime
    via: str
    payload: Any
    file: str
    line: int


@dataclass
class ReadStats:
    """What a read met: files, complete lines, partial tails left for later, broken lines."""

    files: int = 0
    bytes: int = 0
    lines: int = 0
    incomplete_tails: int = 0
    invalid_lines: int = 0
    invalid_samples: list[str] = field(default_factory=list)


# ---- the zone ---------------------------------------------------------------------------------


class LandingZone:
    """Durable appends and reads of one source's landing files (see the module docstring)."""

    def __init__(
        self,
        filesystem: pafs.FileSystem,
        root: str,
        source: str,
        *,
        max_segment_bytes: int = 64 * 1024 * 1024,
        max_segment_seconds: float = 300.0,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        if not source or "/" in source:
            raise ValueError(f"bad landing source name: {source!r}")
        self.fs = filesystem
        self.root = root.rstrip("/")
        self.source = source
        self.base = posixpath.join(self.root, LANDING_PREFIX, source)
        self.max_segment_bytes = max_segment_bytes
        self.max_segment_seconds = max_segment_seconds
        self.clock = clock
        os_base = local_os_path(filesystem, self.base)
        self._writer: LocalSegmentWriter | ObjectWriter = (
            LocalSegmentWriter(self, os_base) if os_base is not None else ObjectWriter(self)
        )

    @classmethod
    def from_lake(cls, lake: LakeIOManager, source: str, **kwargs: Any) -> LandingZone:
        """The landing zone inside ``lake``: same filesystem, same root."""
        return cls(lake.filesystem(), lake.root(), source, **kwargs)

    @classmethod
    def from_url(
        cls, url: str, source: str, *, s3: S3Resource | None = None, **kwargs: Any
    ) -> LandingZone:
        """The landing zone of the lake at ``url``, resolved exactly as the lake IO manager does
        (an ``s3://`` lake through ``s3``, dagster-aws's resource)."""
        lake = LakeIOManager(url=url, s3=s3 or S3Resource())
        return cls.from_lake(lake, source, **kwargs)

    @property
    def durable_by_fsync(self) -> bool:
        return isinstance(self._writer, LocalSegmentWriter)

    def folder(self, day: dt.date) -> str:
        return posixpath.join(self.base, f"{DATE_FOLDER}{day.isoformat()}")

    # ---- writing -------------------------------------------------------------------------------

    def append(
        self, payloads: Sequence[Any], *, via: str, received_at: dt.datetime | None = None
    ) -> LandedBatch:
        """Append ``payloads`` as one batch; returns once they are durable.

        Raises :class:`LandingWriteError` when they may not be: do not acknowledge them then.
        """
        moment = (received_at or self.clock()).astimezone(dt.UTC)
        stamp = format_received_at(moment)
        lines = [landing_line({"received_at": stamp, "via": via, "payload": p}) for p in payloads]
        if not lines:
            return LandedBatch(moment.date(), "", 0, moment)
        data = ("\n".join(lines) + "\n").encode("utf-8")
        path = self._writer.append(moment.date(), moment, data)
        return LandedBatch(moment.date(), path, len(lines), moment)

    def append_timed(self, records: Sequence[tuple[Any, dt.datetime]], *, via: str) -> LandedBatch:
        """Append ``(payload, received_at)`` records of one UTC day as one batch (an import of
        history: each keeps its own time); returns once they are durable."""
        if not records:
            raise ValueError("append_timed needs at least one record")
        moments = [moment.astimezone(dt.UTC) for _, moment in records]
        day = moments[0].date()
        if any(m.date() != day for m in moments):
            raise ValueError("append_timed records must all fall on one UTC day")
        lines = [
            landing_line({"received_at": format_received_at(m), "via": via, "payload": payload})
            for (payload, _), m in zip(records, moments, strict=True)
        ]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        path = self._writer.append(day, max(moments), data)
        return LandedBatch(day, path, len(lines), max(moments))

    def quarantine(
        self, body: bytes, reason: str, *, via: str, received_at: dt.datetime | None = None
    ) -> str:
        """Keeps, durably, a body that cannot be landed as a record (not parseable, nested too
        deeply), whole and with the reason, under ``_quarantine/date=<day>/``; returns its path.
        The source may then be acknowledged: nothing is lost, and nothing blocks."""
        moment = (received_at or self.clock()).astimezone(dt.UTC)
        record = {
            "received_at": format_received_at(moment),
            "via": via,
            "reason": reason,
            "body": body.decode("utf-8", errors="replace"),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        folder = posixpath.join(
            self.base, QUARANTINE_FOLDER, f"{DATE_FOLDER}{moment.date().isoformat()}"
        )
        name = landing_file_name(moment, secrets.token_hex(4))
        path = posixpath.join(folder, name)
        data = (landing_line(record) + "\n").encode("utf-8")
        try:
            self.fs.create_dir(folder, recursive=True)
            with self.fs.open_output_stream(path) as out:
                out.write(data)
            os_path = local_os_path(self.fs, path)
            if os_path is not None:
                fd = os.open(os_path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                fsync_dir(os.path.dirname(os_path))
        except (OSError, ValueError) as exc:
            raise LandingWriteError(f"landing quarantine write failed: {exc}") from exc
        return path

    def close(self) -> None:
        """Make the open segment durable and close it (appends after this open a new one)."""
        self._writer.close()

    # ---- listing and reading ---------------------------------------------------------------

    def days(self) -> list[dt.date]:
        """Every day that has a landing folder, oldest first."""
        selector = pafs.FileSelector(self.base, recursive=False, allow_not_found=True)
        days = []
        for info in self.fs.get_file_info(selector):
            name = posixpath.basename(info.path)
            if info.type == pafs.FileType.Directory and name.startswith(DATE_FOLDER):
                try:
                    days.append(dt.date.fromisoformat(name[len(DATE_FOLDER) :]))
                except ValueError:
                    continue
        return sorted(days)

    def files(self, day: dt.date) -> list[LandingFile]:
        """The day's landing files, in name order (which is creation order per writer)."""
        selector = pafs.FileSelector(self.folder(day), recursive=False, allow_not_found=True)
        return sorted(
            (
                LandingFile(info.path, info.size or 0)
                for info in self.fs.get_file_info(selector)
                if info.type == pafs.FileType.File
                and info.path.endswith(SUFFIX)
                and not posixpath.basename(info.path).startswith((".", "_"))
            ),
            key=lambda f: f.path,
        )

    def fingerprint(self, day: dt.date) -> tuple[int, int]:
        """(files, bytes) of a day: it changes whenever anything lands on that day."""
        files = self.files(day)
        return len(files), sum(f.size for f in files)

    def read(self, day: dt.date, stats: ReadStats | None = None) -> Iterator[LandedRecord]:
        """Every complete line of the day's files, in file and line order.

        A last line without its newline is being written (or was torn by a crash and never
        acknowledged): it is skipped and counted in ``stats.incomplete_tails``. A line that is
        not a landing record is counted in ``stats.invalid_lines``.
        """
        stats = stats if stats is not None else ReadStats()
        for landing_file in self.files(day):
            with self.fs.open_input_stream(landing_file.path) as stream:
                content = stream.read()
            stats.files += 1
            stats.bytes += len(content)
            complete, newline, tail = content.rpartition(b"\n")
            if tail:
                stats.incomplete_tails += 1
            if not newline:
                continue
            for number, raw in enumerate(complete.split(b"\n"), start=1):
                if not raw.strip():
                    continue
                try:
                    line = json.loads(raw)
                    record = LandedRecord(
                        received_at=parse_received_at(line["received_at"]),
                        via=str(line.get("via") or ""),
                        payload=line["payload"],
                        file=landing_file.path,
                        line=number,
                    )
                except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
                    stats.invalid_lines += 1
                    if len(stats.invalid_samples) < 5:
                        stats.invalid_samples.append(f"{landing_file.path}:{number}")
                    continue
                stats.lines += 1
                yield record


class LandingZoneResource(ConfigurableResource):
    """The landing zone of the lake, for the assets and sensors that read it."""

    url: str = Field(description="Root of the lake (the same value as the lake IO manager's).")
    s3: S3Resource = Field(
        default_factory=S3Resource, description="The lake IO manager's S3 resource (s3:// lakes)."
    )
    source: str = Field(default="telegram", description="Source folder under landing/.")

    @classmethod
    def from_settings(
        cls, source: str = "telegram", environ: Mapping[str, str] | None = None
    ) -> LandingZoneResource:
        """The landing zone of the lake the settings describe (as ``build_resources`` does)."""
        env = os.environ if environ is None else environ
        return cls(
            url=str(setting("SUPPORT_LAKE_URL", env)),
            s3=s3_resource_from_settings(env),
            source=source,
        )

    def zone(self) -> LandingZone:
        return LandingZone.from_url(self.url, self.source, s3=self.s3)
