"""What the two CRM resources add to the shared HTTP layer: create calls that are never retried
blindly, and a request rate that slows down when the API says 429.

A create is not idempotent: if its answer is lost (timeout, dropped connection, 5xx), the
record may exist or not, and sending the same POST again may make a duplicate. So a create is
sent once, under the client's rate limit and stats; only a 429 (the API refused it before doing
anything) is retried after ``Retry-After``. Any other failure raises ``CreateOutcomeUnknown``,
and the caller looks the record up in the target before deciding to send it again.

``AdaptiveRate`` watches the client's 429 counter: each time it grew, the client's own rate
limit is halved (down to a floor); after a run of requests without one it grows back by a
quarter, up to what the settings allow. A 429 storm therefore slows the whole run down, not
just the request that met it.

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


class AdaptiveRate:
    """Halves the client's rate limit when 429s appear, and a little more (``SLOWDOWN``), so a
    ceiling that is a power of two of the API's limit does not settle exactly on it; recovers
    slowly after successes, but never back towards a rate the API refused: recovery stops at
    ``RECOVERY_MARGIN`` of the lowest refused rate. The rate settles under the API's limit
    instead of climbing into it again and again."""

    SLOWDOWN = 0.45
    RECOVERY_MARGIN = 0.5

    def __init__(
        self, client: ResilientClient, floor: float = 0.2, recover_after: int = 20
    ) -> None:
        self.client = client
        self.ceiling = client.limiter.rate
        self.floor = floor
        self.recover_after = recover_after
        self._seen = client.stats.rate_limited
        self._calm = 0
        self.slowdowns = 0
        self.refused_at: float | None = None

    def observe(self) -> None:
        """Call after each request (or page): adjusts the rate to what the API tolerated."""
        limiter = self.client.limiter
        if limiter.rate is None or self.ceiling is None:
            return
        refused = self.client.stats.rate_limited
        if refused > self._seen:
            halvings = min(refused - self._seen, 3)
            self._seen = refused
            self._calm = 0
            self.slowdowns += 1
            self.refused_at = min(limiter.rate, self.refused_at or limiter.rate)
            limiter.burst = 1  # an API that refused us gets evenly spaced requests, no bursts
            new_rate = max(self.floor, limiter.rate * self.SLOWDOWN**halvings)
            if new_rate < limiter.rate:
                self.client.log.warning(
                    "%s answered 429: slowing down to %.2f requests a second",
                    self.client.api_name,
                    new_rate,
                )
            limiter.rate = new_rate
            return
        self._calm += 1
        cap = self.ceiling
        if self.refused_at is not None:
            cap = min(cap, max(self.floor, self.refused_at * self.RECOVERY_MARGIN))
        if self._calm >= self.recover_after and limiter.rate < cap:
            limiter.rate = min(cap, limiter.rate * 1.25)
            self._calm = 0

    @property
    def current_rate(self) -> float | None:
        return self.client.limiter.rate


class AdaptiveRateResource(HttpApiResource):
    """An HTTP API resource whose client slows down on 429s (one ``AdaptiveRate`` per client),
    and counts what its lookups answered that did not match what was searched."""

    _adaptive: AdaptiveRate | None = PrivateAttr(default=None)
    _lookup_stats: dict[str, int] | None = PrivateAttr(default=None)

    @property
    def lookup_stats(self) -> dict[str, int]:
        """Lookups made, the unrelated records their answers held (dropped), and the full
        listings read because a lookup's filter was ignored."""
        if self._lookup_stats is None:
            self._lookup_stats = {"lookups": 0, "unrelated_results": 0, "full_listings": 0}
        return self._lookup_stats

    @property
    def adaptive(self) -> AdaptiveRate:
        client = self.get_client()
        if self._adaptive is None or self._adaptive.client is not client:
            self._adaptive = AdaptiveRate(client)
        return self._adaptive
