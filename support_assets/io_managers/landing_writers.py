"""How records reach the landing zone durably: a segment file per process on a local disk
(``O_APPEND``, group-committed ``fsync``, rolled over by day, size and age), one object per
append on an object store."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import posixpath
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow.fs as pafs

if TYPE_CHECKING:
    from support_assets.io_managers.landing import LandingZone

DATE_FOLDER = "date="
SUFFIX = ".jsonl"


class LandingWriteError(OSError):
    """The records may not be durable: the caller must not acknowledge them."""


def landing_file_name(moment: dt.datetime, *parts: str) -> str:
    """A landing file's name: its UTC time, the writing process, then ``parts`` (a counter, a
    random token), so names sort by time and never collide."""
    return "-".join((f"{moment:%Y%m%dT%H%M%S%f}", str(os.getpid()), *parts)) + SUFFIX


@dataclass
class Segment:
    path: str
    day: dt.date
    fd: int
    opened: float
    written: int = 0
    synced: int = 0
    failed: bool = False
    closed: bool = False
    sync_lock: threading.Lock = field(default_factory=threading.Lock)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class LocalSegmentWriter:
    """Appends to this process's current segment with ``O_APPEND`` and a group-committed fsync."""

    def __init__(self, zone: LandingZone, os_base: str) -> None:
        self.zone = zone
        self.os_base = os_base
        self._lock = threading.Lock()
        self._segment: Segment | None = None
        self._opened = 0

    def _open(self, day: dt.date, now: dt.datetime) -> Segment:
        folder = os.path.join(self.os_base, f"{DATE_FOLDER}{day.isoformat()}")
        created = not os.path.isdir(folder)
        os.makedirs(folder, exist_ok=True)
        if created:
            fsync_dir(os.path.dirname(folder))
        self._opened += 1
        # Time, then this writer's sequence: name order is creation order for one writer.
        name = landing_file_name(now, f"{self._opened:06d}", secrets.token_hex(3))
        path = os.path.join(folder, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        fsync_dir(folder)
        return Segment(path, day, fd, time.monotonic())

    def _retire(self, segment: Segment) -> None:
        """Make everything written durable, then close; waiters see the outcome."""
        with segment.sync_lock:
            if not segment.failed and segment.synced < segment.written:
                try:
                    os.fsync(segment.fd)
                    segment.synced = segment.written
                except OSError:
                    segment.failed = True
            os.close(segment.fd)
            segment.closed = True

    def _current(self, day: dt.date, now: dt.datetime) -> Segment:
        segment = self._segment
        if segment is not None and (
            segment.day != day
            or segment.failed
            or segment.written >= self.zone.max_segment_bytes
            or time.monotonic() - segment.opened >= self.zone.max_segment_seconds
        ):
            self._retire(segment)
            segment = self._segment = None
        if segment is None:
            segment = self._segment = self._open(day, now)
        return segment

    def append(self, day: dt.date, now: dt.datetime, data: bytes) -> str:
        with self._lock:
            segment = self._current(day, now)
            try:
                write_all(segment.fd, data)
            except OSError as exc:
                # Part of the line may be on disk: never write after it.
                segment.failed = True
                self._retire(segment)
                self._segment = None
                raise LandingWriteError(f"landing write failed: {exc}") from exc
            segment.written += len(data)
            end = segment.written
        self._sync(segment, end)
        return segment.path

    def _sync(self, segment: Segment, end: int) -> None:
        with segment.sync_lock:
            if segment.synced >= end:
                return
            if segment.failed or segment.closed:
                raise LandingWriteError(f"landing segment {segment.path} could not be made durable")
            target = segment.written
            try:
                os.fsync(segment.fd)
            except OSError as exc:
                segment.failed = True
                raise LandingWriteError(f"landing fsync failed: {exc}") from exc
            segment.synced = max(segment.synced, target)

    def close(self) -> None:
        with self._lock:
            if self._segment is not None:
                self._retire(self._segment)
                self._segment = None


class ObjectWriter:
    """One object per append: durable once the upload completes (object stores cannot append)."""

    def __init__(self, zone: LandingZone) -> None:
        self.zone = zone
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()

    def append(self, day: dt.date, now: dt.datetime, data: bytes) -> str:
        folder = self.zone.folder(day)
        with self._lock:
            number = next(self._sequence)
        name = landing_file_name(now, f"{number:06d}", secrets.token_hex(3))
        path = posixpath.join(folder, name)
        try:
            self.zone.fs.create_dir(folder, recursive=True)
            with self.zone.fs.open_output_stream(path) as out:
                out.write(data)
        except (OSError, ValueError) as exc:
            raise LandingWriteError(f"landing upload failed: {exc}") from exc
        return path

    def close(self) -> None:
        """Nothing stays open."""


def local_os_path(fs: pafs.FileSystem, path: str) -> str | None:
    """The operating-system path behind ``path`` when ``fs`` is the local disk, else None."""
    if isinstance(fs, pafs.LocalFileSystem):
        return path
    if isinstance(fs, pafs.SubTreeFileSystem) and isinstance(fs.base_fs, pafs.LocalFileSystem):
        return os.path.join(fs.base_path, path.lstrip("/"))
    return None
