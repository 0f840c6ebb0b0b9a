"""Ploomes tasks and interactions tagged INSTALAÇÃO or ENTREGA as ticket work items, and the
marker a ticket's subject carries to name the item it came from."""

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from support_assets.sources.crm.extraction import tag_ids
from support_assets.sources.crm.matching import raw_records
from support_assets.sources.crm.times import optional_time


def ticket_marker(source: str, source_id: int) -> str:
    """The tag in a ticket's subject that names the Ploomes item it came from."""
    word = "tarefa" if source == "task" else "interação"
    return f"[Ploomes {word} {source_id}]"


MARKER_PATTERN = re.compile(r"\[Ploomes (tarefa|interação) (\d+)\]")


def subject_markers(subject: Any) -> set[str]:
    """The sync markers a ticket's subject carries, each exactly as ``ticket_marker`` writes it."""
    return {match.group(0) for match in MARKER_PATTERN.finditer(str(subject or ""))}


def duplicate_sync_markers(tickets: pd.DataFrame) -> dict[str, int]:
    """Markers carried by more than one Milvus ticket (each would be a duplicate), with counts."""
    if tickets is None or tickets.empty or "assunto" not in tickets.columns:
        return {}
    counts: dict[str, int] = {}
    for subject in tickets["assunto"].dropna():
        match = MARKER_PATTERN.search(str(subject))
        if match:
            counts[match.group(0)] = counts.get(match.group(0), 0) + 1
    return {marker: n for marker, n in sorted(counts.items()) if n > 1}


@dataclass
class WorkItem:
    """A tagged Ploomes task or interaction that becomes one Milvus ticket."""

    source: str  # "task" or "interaction"
    record: dict[str, Any]
    tag: str  # "installation" or "delivery"
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def source_id(self) -> int:
        return int(self.record["Id"])

    @property
    def key(self) -> str:
        return f"{self.source}:{self.source_id}"


def tagged_items(frames: Mapping[str, pd.DataFrame], tags: Mapping[int, str]) -> Iterator[WorkItem]:
    """Every task and interaction (``frames`` by source) carrying a ticket tag, as a work item
    (its first ticket tag decides the kind)."""
    for source, frame in frames.items():
        for record in raw_records(frame):
            if record.get("Id") is None:
                continue
            kinds = [tags[t] for t in tag_ids(record) if t in tags]
            if kinds:
                created = optional_time(record.get("CreateDate"), "CreateDate")
                updated = optional_time(record.get("LastUpdateDate"), "LastUpdateDate")
                yield WorkItem(source, record, kinds[0], created, updated)
