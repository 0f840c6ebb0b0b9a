"""What the two CRM resources add to the shared HTTP layer: create calls that are never retried
blindly, and a request rate that slows down when the API says 429.

A create is not idempotent: if its answer is lost (timeout, dropped connection, 5xx), the
record may exist or not, and sending the same POST again may make a duplicate. So a create is
sent once, under the client's rate limit and stats; only a 429 (the API refused it before doing
anything) is retried after ``Retry-After``. Any other failure raises ``CreateOutcomeUnknown``,
and the caller looks the record up in the target before deciding to send it again.

The request rate is the client's own business (``core.adaptive_rate``): each 429 slows the
whole client down, not just the request that met it, and a run of accepted requests lets it
grow back, never above what the settings allow.

``SourceTotal`` holds a listing's own total (``@odata.count``, ``meta.paginate.total``) against
the distinct records read, so a run can tell a short read from a source that changed under it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import PrivateAttr

from support_assets.core.http import HttpApiResource, ResilientClient
from support_assets.core.http_errors import HttpError, RetryableHttpError
from support_assets.core.shapes import UnexpectedShape, describe_shape, reconcile_total


def shape_error(source: str, body: Any, expected: str) -> UnexpectedShape:
    """`UnexpectedShape` for a body that is not ``expected`` (named by its keys and types)."""
    return UnexpectedShape(source, describe_shape(body), expected)


def objects(records: list[Any], source: str) -> list[dict[str, Any]]:
    """``records`` when every one is an object; `UnexpectedShape` otherwise: the CRM's lookups
    and listings have no per-record quarantine, so an element that is not a record fails."""
    if all(isinstance(record, dict) for record in records):
        return records
    raise shape_error(source, records, "a list of objects")


@dataclass
class SourceTotal:
    """A listing's reported total, page by page, against the distinct record ids it read.

    A record that changes while the listing is read moves within it: it is read twice (the
    second time counted in ``repeated``) and may push one other record past the page being read.
    So a shortfall up to ``repeated`` plus how much the reported total moved during the read is
    what changed during the run; anything beyond it fails the run.
    """

    source: str
    reported: list[int] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    repeated: int = 0

    def report(self, total: Any) -> None:
        """Record a page's total (an int, or digits as text); anything else counts as absent."""
        if isinstance(total, bool):
            return
        if isinstance(total, int) or (isinstance(total, str) and total.strip().isdigit()):
            self.reported.append(int(total))

    def page(self, total: Any, records: list[dict[str, Any]], id_key: str) -> None:
        """Record one page: the total it reported and the id (``id_key``) of every record."""
        self.report(total)
        for record in records:
            self.saw(record.get(id_key))

    def saw(self, record_id: Any) -> None:
        key = str(record_id)
        if key in self.ids:
            self.repeated += 1
        self.ids.add(key)

    @property
    def shortfall(self) -> int:
        return max(self.reported) - len(self.ids) if self.reported else 0

    @property
    def tolerated(self) -> int:
        if not self.reported:
            return 0
        return max(self.reported) - min(self.reported) + self.repeated

    def check(self) -> dict[str, Any]:
        """The reconciliation's metadata (``total_reported``, ``distinct_fetched``, the records
        read twice); `TotalShortfall` when the read fell short beyond what changed."""
        total = max(self.reported) if self.reported else None
        return {
            **reconcile_total(self.source, total, len(self.ids), self.tolerated),
            "records_read_twice": self.repeated,
        }


class CreateOutcomeUnknown(HttpError):
    """The create may or may not have happened: look the record up before sending it again."""


def send_create(client: ResilientClient, path: str, json: Any) -> httpx.Response:
    """POSTs a create once; retries only 429s (nothing was done), honouring ``Retry-After``."""
    url = client.url(path)
    attempt = 0
    counts: dict[str, int] = {}
    while True:
        attempt += 1
        try:
            # One attempt through the client's rate limit, stats and redaction.
            return client._send_once("POST", url, json=json)
        except RetryableHttpError as exc:
            if exc.status_code != 429:
                raise CreateOutcomeUnknown(
                    f"{exc}; the create may have happened", exc.status_code, exc.body
                ) from None
            # A 429 with Retry-After is waited out, not counted as a failed attempt.
            if client.retry.gives_up(exc, counts):
                raise HttpError(
                    f"{exc} (gave up after {attempt} attempts)", exc.status_code, exc.body
                ) from None
            wait = client.retry.wait_seconds(attempt, exc.retry_after)
            if exc.is_rate_limit_with_wait:
                client.limiter.pause_for(wait)
            client.stats.add(retries=1)
            client.log.warning("%s; create retried in %.2fs", client.redact(exc), wait)
            time.sleep(wait)


class CrmApiResource(HttpApiResource):
    """A CRM API resource: counts what its lookups answered that did not match what was
    searched, and tells the rate its client ended at (adapted to the API's 429s by the client
    itself, ``core.adaptive_rate``)."""

    _lookup_stats: dict[str, int] | None = PrivateAttr(default=None)

    @property
    def lookup_stats(self) -> dict[str, int]:
        """Lookups made, the unrelated records their answers held (dropped), and the full
        listings read because a lookup's filter was ignored."""
        if self._lookup_stats is None:
            self._lookup_stats = {"lookups": 0, "unrelated_results": 0, "full_listings": 0}
        return self._lookup_stats

    @property
    def rate_at_end(self) -> float:
        """Requests a second the client allows itself now (0.0: no limit)."""
        return self.get_client().current_rate or 0.0
