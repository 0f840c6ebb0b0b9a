"""Extraction of the raw CRM tables: Ploomes entity sets read incrementally from a high-water
mark, and Milvus clients and tickets read whole, every page, as warehouse frames."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, AssetKey, MetadataValue, Output

from support_assets.core.records import InvalidRecord, cap_high_water_mark, to_json
from support_assets.io_managers.base import TableStream
from support_assets.sources.crm.config import CrmRawConfig
from support_assets.sources.crm.cursors import cursor_value
from support_assets.sources.crm.http import SourceTotal
from support_assets.sources.crm.milvus import MilvusResource
from support_assets.sources.crm.ploomes import PloomesResource
from support_assets.sources.crm.times import optional_time, parse_milvus_time


def tag_ids(record: dict[str, Any]) -> list[int]:
    """The numeric tag ids of a Ploomes record (``Tags`` objects or bare ids), sorted."""
    ids = []
    for tag in record.get("Tags") or []:
        value = tag.get("TagId") if isinstance(tag, dict) else tag
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            continue
    return sorted(set(ids))


def contact_row(record: dict[str, Any]) -> dict[str, Any]:
    """A raw/ploomes_contacts row of one Ploomes contact."""
    return {
        "id": int(record["Id"]),
        "type_id": record.get("TypeId"),
        "name": record.get("Name"),
        "legal_name": record.get("LegalName"),
        "cpf": record.get("CPF"),
        "cnpj": record.get("CNPJ"),
        "email": record.get("Email"),
        "key": record.get("Key"),
        "created_at": optional_time(record.get("CreateDate"), "CreateDate"),
        "updated_at": optional_time(record.get("LastUpdateDate"), "LastUpdateDate"),
        "record": to_json(record),
    }


def task_row(record: dict[str, Any]) -> dict[str, Any]:
    """A raw/ploomes_tasks row of one Ploomes task."""
    return {
        "id": int(record["Id"]),
        "contact_id": record.get("ContactId"),
        "owner_id": record.get("OwnerId"),
        "title": record.get("Title"),
        "finished": record.get("Finished"),
        "tag_ids": to_json(tag_ids(record)),
        "created_at": optional_time(record.get("CreateDate"), "CreateDate"),
        "updated_at": optional_time(record.get("LastUpdateDate"), "LastUpdateDate"),
        "record": to_json(record),
    }


def interaction_row(record: dict[str, Any]) -> dict[str, Any]:
    """A raw/ploomes_interactions row of one Ploomes interaction record."""
    return {
        "id": int(record["Id"]),
        "contact_id": record.get("ContactId"),
        "creator_id": record.get("CreatorId"),
        "type_id": record.get("TypeId"),
        "tag_ids": to_json(tag_ids(record)),
        "created_at": optional_time(record.get("CreateDate"), "CreateDate"),
        "updated_at": optional_time(record.get("LastUpdateDate"), "LastUpdateDate"),
        "record": to_json(record),
    }


@dataclass
class PloomesExtraction:
    """One Ploomes entity set read since the last high-water mark, page by page."""

    ploomes: PloomesResource
    entity: Any
    to_row: Callable[[dict[str, Any]], dict[str, Any]]
    since: datetime | None
    previous_hwm: datetime | None
    records: int = 0
    pages: int = 0
    high_water_mark: datetime | None = None
    totals: SourceTotal = field(default_factory=lambda: SourceTotal("Ploomes"))
    reconciled: dict[str, Any] = field(default_factory=dict)

    def frames(self) -> Iterator[pd.DataFrame]:
        self.totals.source = f"Ploomes {self.entity}"
        for page in self.ploomes.iter_changed(self.entity, self.since, self.totals):
            self.pages += 1
            rows = [self.to_row(record) for record in page if isinstance(record, dict)]
            self.records += len(rows)
            for row in rows:
                updated = row["updated_at"]
                if updated is not None and (
                    self.high_water_mark is None or updated > self.high_water_mark
                ):
                    self.high_water_mark = updated
            if rows:
                yield pd.DataFrame(rows)
        self.reconciled = self.totals.check()
        if not self.records:
            # Nothing changed: an empty chunk still creates the table on a first run.
            yield pd.DataFrame(columns=list(self.to_row({"Id": 0}).keys()))

    def metadata(self) -> dict[str, Any]:
        hwm = self.high_water_mark or self.previous_hwm
        if hwm is not None and self.previous_hwm is not None:
            hwm = max(hwm, self.previous_hwm)
        hwm = cap_high_water_mark(hwm, f"ploomes {self.entity}")
        return {
            "high_water_mark": hwm.isoformat() if hwm else "",
            "fetched_since": self.since.isoformat() if self.since else "everything",
            "records_fetched": self.records,
            "pages_fetched": self.pages,
            **self.reconciled,
            "http_requests": MetadataValue.json(self.ploomes.get_client().stats.as_dict()),
            "rate_limit_per_second_at_end": self.ploomes.rate_at_end,
        }


def ploomes_raw(
    context: AssetExecutionContext,
    config: CrmRawConfig,
    ploomes: PloomesResource,
    key: AssetKey,
    entity: str,
    to_row: Callable[[dict[str, Any]], dict[str, Any]],
) -> Output:
    """A raw Ploomes table read from the last high-water mark (minus the lookback) as a
    stream of frames; the metadata (the new mark, totals, request stats) follows the last frame."""
    previous = cursor_value(context.instance, key, "high_water_mark")
    previous_hwm = datetime.fromisoformat(previous).astimezone(UTC) if previous else None
    previous_hwm = cap_high_water_mark(previous_hwm, key.to_user_string())
    since = (
        None
        if config.full_refresh or previous_hwm is None
        else previous_hwm - timedelta(minutes=config.lookback_minutes)
    )
    extraction = PloomesExtraction(ploomes, entity, to_row, since, previous_hwm)
    context.log.info(
        "Ploomes %s: fetching %s", entity, f"changes since {since.isoformat()}" if since else "all"
    )

    def frames() -> Iterator[pd.DataFrame]:
        yield from extraction.frames()
        stream.metadata.update(extraction.metadata())

    stream = TableStream(frames())
    return Output(stream)


MILVUS_CLIENT_COLUMNS = [
    "id", "token", "cnpj_cpf", "is_fisica", "is_ativo", "nome_fantasia", "razao_social", "record",
]  # fmt: skip
MILVUS_TICKET_COLUMNS = [
    "id", "codigo", "cliente_token", "assunto", "status", "tecnico", "created_at",
    "modified_at", "solved_at", "record",
]  # fmt: skip


def milvus_client_row(record: dict[str, Any]) -> dict[str, Any]:
    """A raw/milvus_clients row of one Milvus client."""
    return {
        "id": int(record["id"]),
        "token": record.get("token"),
        "cnpj_cpf": None if record.get("cnpj_cpf") is None else str(record.get("cnpj_cpf")),
        "is_fisica": record.get("is_fisica"),
        "is_ativo": record.get("is_ativo"),
        "nome_fantasia": record.get("nome_fantasia"),
        "razao_social": record.get("razao_social"),
        "record": to_json(record),
    }


def milvus_ticket_row(record: dict[str, Any]) -> dict[str, Any]:
    """A raw/milvus_tickets row of one Milvus ticket (unreadable times as None)."""

    def when(name: str) -> datetime | None:
        try:
            return parse_milvus_time(record.get(name), name)
        except InvalidRecord:
            return None

    return {
        "id": int(record["id"]),
        "codigo": record.get("codigo"),
        "cliente_token": record.get("cliente_token"),
        "assunto": record.get("assunto"),
        "status": record.get("status"),
        "tecnico": record.get("tecnico"),
        "created_at": when("data_criacao"),
        "modified_at": when("data_modificacao"),
        "solved_at": when("data_solucao"),
        "record": to_json(record),
    }


def milvus_frames(
    pages: Iterator[list[dict[str, Any]]],
    to_row: Callable[[dict[str, Any]], dict[str, Any]],
    columns: list[str],
    stream_metadata: dict[str, Any],
    milvus: MilvusResource,
    totals: SourceTotal,
) -> Iterator[pd.DataFrame]:
    """Frames of a Milvus listing, page by page (an empty one when there is nothing); then
    the read's metadata (counts, reconciled totals, request stats) into ``stream_metadata``."""
    records = page_count = 0
    for page in pages:
        page_count += 1
        rows = [to_row(r) for r in page if isinstance(r, dict) and r.get("id") is not None]
        records += len(rows)
        if rows:
            yield pd.DataFrame(rows, columns=columns)
    reconciled = totals.check()
    if not records:
        yield pd.DataFrame(columns=columns)
    stream_metadata.update(
        {
            "records_fetched": records,
            "pages_fetched": page_count,
            **reconciled,
            "http_requests": MetadataValue.json(milvus.get_client().stats.as_dict()),
            "rate_limit_per_second_at_end": milvus.rate_at_end,
        }
    )
