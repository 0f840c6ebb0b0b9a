"""Octadesk: the helpdesk's REST API (tickets, chats, chat events and messages).

Every call carries ``X-API-KEY`` and ``octa-agent-email``; lists paginate with ``page``/``limit``
and report ``X-Total-Pages``/``X-Total-Items`` in headers. Filters are deep-object arrays of
``{property, operator, value}``. The public docs show them on ``/chat``; that ``/tickets`` takes
the same is an assumption, so the assets also keep a lookback window and a daily full
reconciliation. The rate limit is unknown: the default stays modest and 429s are honoured.

Neither the filter nor the sort is trusted: a newest-first listing stops at the first record
older than the cursor whether or not the server filtered, and keeps only what passes the
filter on our side; pages that are not newest-first (the sort ignored too) are read to the end.
Lists may come bare or in an envelope (`shapes.OCTADESK_LIST`); anything else fails the run.
"""

from __future__ import annotations

from array import array
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import numpy as np
from pydantic import Field

from support_assets.core.http import HttpApiResource
from support_assets.core.http_errors import path_segment
from support_assets.core.http_paging import json_body
from support_assets.core.shapes import OCTADESK_LIST

Entity = Literal["tickets", "chat"]
TOTAL_ITEMS_HEADER = "X-Total-Items"


def format_octadesk_time(value: datetime) -> str:
    """UTC, millisecond ISO 8601 with ``Z``, the form the API answers with."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{value.astimezone(UTC).microsecond // 1000:03d}Z"
    )


def change_filter(property_name: str, operator: str, value: datetime) -> dict[str, str]:
    """Query parameters of one deep-object filter on a timestamp."""
    return {
        "filters[0][property]": property_name,
        "filters[0][operator]": operator,
        "filters[0][value]": format_octadesk_time(value),
    }


def updated_at(record: Any) -> datetime | None:
    """A record's ``updatedAt`` as aware UTC, or None when it has none that parses."""
    value = record.get("updatedAt") if isinstance(record, dict) else None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _passes(moment: datetime, since: datetime, operator: str) -> bool:
    return moment > since if operator == "gt" else moment >= since


def _check_order(
    moments: list[datetime | None], previous: datetime | None, report: ListingReport
) -> datetime | None:
    """The page's last parseable time; marks the report when the order is not newest-first."""
    for moment in moments:
        if moment is None:
            continue
        if previous is not None and moment > previous:
            report.sort_honoured = False
        previous = moment
    return previous


@dataclass
class ListingReport:
    """What one listing saw: pages, records served and kept, and what the server ignored."""

    pages: int = 0
    served: int = 0
    kept: int = 0
    older_than_cursor: int = 0
    sort_honoured: bool = True
    stopped_at_cursor: bool = False
    reported_total: int | None = None
    _ids: array = field(default_factory=lambda: array("q"), repr=False)

    @property
    def filter_honoured(self) -> bool:
        """False once the server sent a record its filter should have left out."""
        return self.older_than_cursor == 0

    @property
    def read_to_the_end(self) -> bool:
        return not self.stopped_at_cursor

    def see(self, record: Any) -> None:
        """Counts a served record by its id (8 bytes each, so a million cost 8 MB)."""
        key = record.get("id") if isinstance(record, dict) else None
        self._ids.append(hash(key if isinstance(key, str) and key else repr(record)))

    def distinct(self) -> int:
        """Distinct records served (a record repeated across pages counts once)."""
        return int(np.unique(np.frombuffer(self._ids, dtype=np.int64)).size) if self._ids else 0


class OctadeskResource(HttpApiResource):
    """Octadesk's API for one tenant (``https://<tenant>.api004.octadesk.services``)."""

    api_key: str = Field(description="X-API-KEY of the tenant; give it as EnvVar.")
    agent_email: str = Field(description="e-mail of the agent the key belongs to.")
    page_size: int = Field(default=100, ge=1, le=100)
    rate_limit_per_second: float | None = 200.0
    max_concurrency: int = 8

    def _api_name(self) -> str:
        return "octadesk"

    def _headers(self) -> dict[str, str]:
        return {
            "X-API-KEY": self.api_key,
            "octa-agent-email": self.agent_email,
            "Accept": "application/json",
        }

    def _secrets(self) -> list[str]:
        return [self.api_key]

    def check_auth(self) -> bool:
        """True when the key is accepted (``GET /auth/check``)."""
        self.get_client().get("auth/check")
        return True

    def _pages(
        self,
        path: str,
        params: dict[str, Any],
        concurrency: int,
        totals: list[int],
        ramp_up: bool = False,
    ) -> Generator[list[Any], None, None]:
        def items(response: httpx.Response) -> list[Any]:
            page = OCTADESK_LIST.page(json_body(response))
            header = response.headers.get(TOTAL_ITEMS_HEADER, "")
            total = int(header) if header.strip().isdigit() else page.total
            if total is not None:
                totals.append(total)
            return page.records

        return self.get_client().paginate_pages(
            path,
            params,
            limit=self.page_size,
            concurrency=concurrency,
            items=items,
            ramp_up=ramp_up,
        )

    def iter_changed(
        self,
        entity: Entity,
        since: datetime | None = None,
        *,
        operator: str = "ge",
        concurrency: int | None = None,
        report: ListingReport | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of records, newest ``updatedAt`` first, optionally only those changed since.

        Newest-first matters: a record that changes while pages are read moves to the front,
        so later pages shift by one and repeat a record instead of skipping one. With ``since``,
        the filter is applied here too: a newest-first listing stops at the first page that
        reaches a record older than ``since`` (pages are then fetched one at first and more in
        parallel after each page read, so only a few past it are requested); pages out of
        order mean the sort was ignored as well, and the listing is read to the end. ``report``
        (optional) receives what the listing saw.
        """
        report = report if report is not None else ListingReport()
        params: dict[str, Any] = {"sort[property]": "updatedAt", "sort[direction]": "desc"}
        if since is not None:
            params.update(change_filter("updatedAt", operator, since))
        totals: list[int] = []
        previous: datetime | None = None
        pages = self._pages(
            entity, params, concurrency or self.max_concurrency, totals, ramp_up=since is not None
        )
        for page in pages:
            report.pages += 1
            report.served += len(page)
            if report.reported_total is None and totals:
                report.reported_total = totals[0]
            moments = [updated_at(record) for record in page]
            previous = _check_order(moments, previous, report)
            kept, older = page, 0
            if since is not None:
                kept = [
                    record
                    for record, moment in zip(page, moments, strict=True)
                    if moment is None or _passes(moment, since, operator)
                ]
                older = len(page) - len(kept)
            for record in page:
                report.see(record)
            report.older_than_cursor += older
            report.kept += len(kept)
            if kept:
                yield kept
            if older and report.sort_honoured:
                report.stopped_at_cursor = True
                pages.close()
                return

    def newest_changes(
        self, entity: Entity, since: datetime | None, sample: int = 100
    ) -> tuple[int, bool, bool]:
        """Records changed strictly after ``since`` among the newest ``sample`` (one request,
        sorted descending, counted here): ``(count, more_may_exist, sort_honoured)``.

        No filter is sent, so a server that would ignore it answers the same; the decision rests
        on the newest records' own ``updatedAt``, never on a count the server reports.
        """
        params = {
            "page": 1,
            "limit": min(sample, self.page_size),
            "sort[property]": "updatedAt",
            "sort[direction]": "desc",
        }
        records = OCTADESK_LIST.records(json_body(self.get_client().get(entity, params=params)))
        moments = [updated_at(r) for r in records]
        known = [m for m in moments if m is not None]
        sort_honoured = all(a >= b for a, b in zip(known, known[1:], strict=False))
        if since is None:
            return len(records), len(records) >= params["limit"], sort_honoured
        newer = sum(1 for m in known if m > since)
        return newer, newer >= params["limit"], sort_honoured

    def chat_events(self, chat_id: str) -> list[dict[str, Any]]:
        """A chat's events (created, transferred, ticket, satisfaction, closed)."""
        path = f"chat/{path_segment(chat_id)}/events"
        return OCTADESK_LIST.records(json_body(self.get_client().get(path)))

    def chat_messages(self, chat_id: str) -> list[dict[str, Any]]:
        """All messages of a chat, every page."""
        messages: list[dict[str, Any]] = []
        for page in self._pages(f"chat/{path_segment(chat_id)}/messages", {}, 1, []):
            messages.extend(page)
        return messages
