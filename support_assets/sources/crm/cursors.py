"""The cursors the sync assets keep in their own materialization metadata: a time (Ploomes's
LastUpdateDate, re-read a lookback behind) or a Milvus client id (ids only grow). Only a
successful run writes one, and a dry run writes back the one it found."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dagster import AssetExecutionContext, AssetKey

from support_assets.core.records import cap_high_water_mark, last_materialization_value
from support_assets.sources.crm.config import CrmSyncConfig


def cursor_value(instance: Any, key: AssetKey, name: str = "cursor") -> str | None:
    """The value ``name`` of the asset's last materialization metadata; None when unset."""
    value = last_materialization_value(instance, key, name)
    return value or None


@dataclass
class TimeCursor:
    """The last change time a sync considered; items changed since it minus a lookback are
    considered again."""

    name: str
    previous: str | None
    cursor: datetime | None
    since: datetime | None

    @classmethod
    def read(cls, context: AssetExecutionContext, config: CrmSyncConfig) -> TimeCursor:
        name = context.asset_key.to_user_string()
        previous = cursor_value(context.instance, context.asset_key)
        cursor = (
            None if config.full_resync or previous is None else datetime.fromisoformat(previous)
        )
        cursor = cap_high_water_mark(cursor, name)
        since = None if cursor is None else cursor - timedelta(minutes=config.lookback_minutes)
        return cls(name, previous, cursor, since)

    def changed(self, position: datetime | None) -> bool:
        return self.since is None or (position is not None and position >= self.since)

    def metadata(self, frontier: datetime | None, dry_run: bool) -> dict[str, Any]:
        """``cursor`` (the frontier reached; unchanged by a dry run) and ``selected_since``."""
        frontier = cap_high_water_mark(frontier, self.name)
        new = self.previous if dry_run else (frontier.isoformat() if frontier else "")
        return {
            "cursor": new or "",
            "selected_since": self.since.isoformat() if self.since else "everything",
        }


@dataclass
class IdCursor:
    """The highest Milvus client id a sync considered; higher ids are new clients."""

    previous: str | None
    cursor: int | None

    @classmethod
    def read(cls, context: AssetExecutionContext, config: CrmSyncConfig) -> IdCursor:
        previous = cursor_value(context.instance, context.asset_key, "milvus_id_cursor")
        return cls(previous, None if config.full_resync or previous is None else int(previous))

    def changed(self, position: int | None) -> bool:
        return self.cursor is None or (position is not None and position > self.cursor)

    def metadata(self, frontier: int | None, dry_run: bool) -> dict[str, Any]:
        new = self.previous if dry_run else frontier
        return {"milvus_id_cursor": "" if new is None else str(new)}
