"""Octadesk: the helpdesk's REST API (tickets, chats, chat events and messages).

Every call carries ``X-API-KEY`` and ``octa-agent-email``; lists paginate with ``page``/``limit``
and report ``X-Total-Pages``/``X-Total-Items`` in headers. Filters are deep-object arrays of
``{property, operator, value}``. The public docs show them on ``/chat``; that ``/tickets`` takes
the same is an assumption, so the assets also keep a lookback window and a daily full
reconciliation. The rate limit is unknown: the default stays modest and 429s are honoured.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from support_assets.resources.http import HttpApiResource

Entity = Literal["tickets", "chat"]


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


class OctadeskResource(HttpApiResource):
    """Octadesk's API for one tenant (``https://<tenant>.api004.octadesk.services``)."""

    api_key: str = Field(description="X-API-KEY of the tenant; give it as EnvVar.")
    agent_email: str = Field(description="e-mail of the agent the key belongs to.")
    page_size: int = Field(default=100, ge=1, le=100)
    rate_limit_per_second: float | None = 20.0

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

    def iter_changed(
        self,
        entity: Entity,
        since: datetime | None = None,
        *,
        operator: str = "ge",
        concurrency: int | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of records, newest ``updatedAt`` first, optionally only those changed since.

        Newest-first matters: a record that changes while pages are read moves to the front,
        so later pages shift by one and repeat a record instead of skipping one.
        """
        params: dict[str, Any] = {"sort[property]": "updatedAt", "sort[direction]": "desc"}
        if since is not None:
            params.update(change_filter("updatedAt", operator, since))
        yield from self.get_client().paginate_pages(
            entity,
            params,
            limit=self.page_size,
            concurrency=concurrency or self.max_concurrency,
        )

    def count_changed(self, entity: Entity, since: datetime | None) -> int:
        """How many records changed strictly after ``since`` (one request, ``X-Total-Items``)."""
        params: dict[str, Any] = {"page": 1, "limit": 1}
        if since is not None:
            params.update(change_filter("updatedAt", "gt", since))
        response = self.get_client().get(entity, params=params)
        total = response.headers.get("X-Total-Items")
        return int(total) if total is not None else len(response.json())

    def chat_events(self, chat_id: str) -> list[dict[str, Any]]:
        """A chat's events (created, transferred, ticket, satisfaction, closed)."""
        return self.get_client().get(f"chat/{chat_id}/events").json()

    def chat_messages(self, chat_id: str) -> list[dict[str, Any]]:
        """All messages of a chat, every page."""
        messages: list[dict[str, Any]] = []
        for page in self.get_client().paginate_pages(
            f"chat/{chat_id}/messages", limit=self.page_size
        ):
            messages.extend(page)
        return messages
