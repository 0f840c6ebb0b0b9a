"""Building blocks shared by the sandbox's simulators.

A simulator is one module or package with one `Simulator` subclass: it declares its URL
`prefix`, its public `routes()` (relative to the prefix), its `admin_routes()` (relative to
`/_admin/<name>`), and knows how to `reset(config)` its world and report its ground `truth()`.
`server.build_app` mounts every registered simulator; nothing else needs to change to add one.
The admin-request helpers at the end (`read_counts` and friends) validate what admin routes take.
"""

from __future__ import annotations

import json
import os
import threading
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from support_assets.sandbox.faults import FaultInjector


class ConfigError(ValueError):
    """A sandbox configuration sent to the admin API is invalid."""


#: Days before the anchor the oldest generated support interaction can be from (Milvus tickets;
#: Octadesk's and the web helpdesk's records reach less far): where the demo's history starts.
HISTORY_DAYS = 300

#: Environment variable that overrides the sandbox's clock with an ISO-8601 instant (tests and
#: demos of another day); unset, the sandbox's "now" is the wall clock.
CLOCK_ENV = "SUPPORT_SANDBOX_NOW"


def sandbox_now_ms() -> int:
    """The sandbox's current instant in ms since the epoch: `$SUPPORT_SANDBOX_NOW` or the wall."""
    override = os.environ.get(CLOCK_ENV, "").strip()
    if override:
        return parse_instant_ms(override)
    return (datetime.now(UTC) - _EPOCH) // timedelta(milliseconds=1)


def current_anchor() -> str:
    """The default anchor: the sandbox's now, to the whole second, so generated data ends now."""
    return format_ms(sandbox_now_ms() // 1000 * 1000)


@dataclass(frozen=True)
class SandboxConfig:
    """Everything that determines the sandbox's initial world (same config, same world)."""

    seed: int = 7
    octadesk_tickets: int = 500
    octadesk_chats: int = 300
    octadesk_malformed: int = 0
    # Octadesk's rate limit (requests a second, 0 = none; its real limit is not published).
    octadesk_rate_limit_per_second: int = 0
    latency_ms: int = 0
    # The instant the generated worlds end at (every base record is older): by default the
    # sandbox's clock when the config is made, so the data is recent whatever the date; the same
    # seed and anchor always give the same world.
    anchor: str = field(default_factory=current_anchor)
    # Web helpdesk (support_assets.sandbox.helpdesk_web): tickets over the 240 days before the
    # anchor, how long the OTP e-mail takes to reach the sheet, and how long codes and idle
    # sessions live.
    helpdesk_web_tickets: int = 400
    helpdesk_web_malformed: int = 0
    helpdesk_web_otp_delay_ms: int = 1500
    helpdesk_web_otp_ttl_s: int = 300
    helpdesk_web_session_ttl_s: int = 1800
    # Telegram (support_assets.sandbox.telegram): updates waiting at reset, and the share (in
    # percent, 0-100) of webhook deliveries sent a second time after their first success.
    telegram_updates: int = 120
    telegram_redelivery_percent: int = 0
    # CRM (support_assets.sandbox.ploomes and .milvus, pool in crm_world): contacts in Ploomes,
    # clients in Milvus, how many real clients are in both, invalid documents in each, Ploomes
    # tasks and interactions, Milvus tickets, and each API's rate limit (requests a second,
    # 0 = none; Ploomes answers 429 above two a second).
    ploomes_contacts: int = 16
    milvus_clients: int = 14
    crm_shared_clients: int = 8
    crm_invalid_documents: int = 2
    ploomes_tasks: int = 10
    ploomes_interactions: int = 6
    milvus_tickets: int = 8
    ploomes_rate_limit_per_second: int = 2
    milvus_rate_limit_per_second: int = 5
    # Divergent mode: every simulator answers as real tenants do rather than as the docs say
    # (filters ignored while sorting is kept, lists in envelopes, numbers for strings and back,
    # totals missing from headers); each simulator can also be switched alone (admin API).
    divergent: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "anchor":
                if not isinstance(value, str):
                    raise ConfigError("anchor must be an ISO-8601 timestamp string")
                parse_instant_ms(value)
            elif f.name == "divergent":
                if not isinstance(value, bool):
                    raise ConfigError("divergent must be true or false")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{f.name} must be a non-negative integer")
        if self.telegram_redelivery_percent > 100:
            raise ConfigError("telegram_redelivery_percent must be between 0 and 100")

    def with_updates(self, data: dict[str, Any]) -> SandboxConfig:
        """A copy with the fields present in `data` replaced; unknown fields are refused."""
        if not isinstance(data, dict):
            raise ConfigError("configuration must be a JSON object")
        known = {f.name for f in fields(self)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown configuration fields: {', '.join(unknown)}")
        try:
            return replace(self, **data)
        except TypeError as exc:
            raise ConfigError(str(exc)) from exc

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view."""
        return asdict(self)

    @property
    def anchor_ms(self) -> int:
        """The anchor instant in milliseconds since the epoch."""
        return parse_instant_ms(self.anchor)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_instant_ms(text: str) -> int:
    """Parse an ISO-8601 instant (`Z` or offset; a bare date or naive time means UTC) to ms."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


_NAIVE_EPOCH = datetime(1970, 1, 1)


def format_ms(ms: int) -> str:
    """Format ms since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC), as Octadesk does.

    ``isoformat`` of a naive moment: a sixth of ``strftime``'s cost, and a listing formats two
    a record."""
    moment = _NAIVE_EPOCH + timedelta(seconds=ms // 1000)
    return f"{moment.isoformat()}.{ms % 1000:03d}Z"


class FastJSONResponse(JSONResponse):
    """A JSON response rendered by orjson (a third of the standard library's time for a page
    of records); what orjson refuses is rendered by starlette, as before."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return super().render(content)


class Stats:
    """Thread-safe request and record counters for `/_admin/stats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._records: Counter[str] = Counter()

    def count_request(self, key: str) -> None:
        """Count one simulator request under `"METHOD /route/template"`."""
        with self._lock:
            self._requests[key] += 1

    def count_records(self, kind: str, n: int) -> None:
        """Count records of one kind served in a response."""
        with self._lock:
            self._records[kind] += n

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Current counters."""
        with self._lock:
            return {"requests": dict(self._requests), "records_served": dict(self._records)}

    def clear(self) -> None:
        """Forget everything counted so far."""
        with self._lock:
            self._requests.clear()
            self._records.clear()


@dataclass
class SandboxContext:
    """What every simulator shares: the configuration, the fault injector and the stats."""

    config: SandboxConfig
    faults: FaultInjector
    stats: Stats


class Simulator(ABC):
    """One simulated external system, mounted under `prefix` by `server.build_app`."""

    #: Short name; admin routes live under `/_admin/<name>`.
    name: str = ""
    #: URL prefix of the public routes, e.g. `/octadesk`.
    prefix: str = ""

    def __init__(self, context: SandboxContext) -> None:
        self.context = context
        self._divergent: bool | None = None
        self.reset(context.config)

    @property
    def divergent(self) -> bool:
        """Whether this simulator answers as real tenants do instead of as documented: the
        admin toggle (`PUT /_admin/<name>/divergent`) if set, else `SandboxConfig.divergent`."""
        return self.context.config.divergent if self._divergent is None else self._divergent

    def set_divergent(self, value: bool | None) -> None:
        """Switch divergent mode for this simulator alone; None follows the configuration."""
        self._divergent = value

    @abstractmethod
    def routes(self) -> list[Route]:
        """Public routes, with paths relative to `prefix`."""

    def admin_routes(self) -> list[Route]:
        """Admin routes, with paths relative to `/_admin/<name>`."""
        return []

    @abstractmethod
    def reset(self, config: SandboxConfig) -> None:
        """Rebuild the world from `config`."""

    @abstractmethod
    def truth(self) -> dict[str, Any]:
        """The full current world, as JSON, for tests to compare against."""


def error(status: int, message: str) -> JSONResponse:
    """The `{"message": ...}` error body the simulated APIs answer."""
    return JSONResponse({"message": message}, status_code=status)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body; an empty body is `{}`; anything else is a ValueError."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def is_count(value: Any) -> bool:
    """Whether a JSON value is a non-negative integer (a boolean is not)."""
    return not isinstance(value, bool) and isinstance(value, int) and value >= 0


def refuse_unknown(body: dict[str, Any], known: tuple[str, ...]) -> None:
    """ValueError naming the fields of an admin request body that are not in `known`."""
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(unknown)}")


def read_counts(
    body: dict[str, Any], names: tuple[str, ...], known: tuple[str, ...] = ()
) -> dict[str, int]:
    """The non-negative integer fields `names` of an admin request (0 when absent); other
    fields than `names` and `known` are refused. ValueError saying what is wrong."""
    refuse_unknown(body, names + known)
    counts = {}
    for name in names:
        value = body.get(name, 0)
        if not is_count(value):
            raise ValueError(f"{name} must be a non-negative integer")
        counts[name] = value
    return counts
