"""Deterministic fault injection shared by every simulator of the sandbox.

Faults are configured through the admin API (`PUT /_admin/faults`) and fire on every Nth
simulator request, never at random, so a test that sets `rate_limit_every=3` knows exactly
which requests are refused. Admin requests are never faulted and do not advance the counter.

Request-level faults (429, 5xx, slow answers, latency) are applied by `FaultMiddleware` before
routing; data faults (`duplicate_across_pages`, `mutate_during_pagination`) are applied by the
simulators themselves, which ask `FaultInjector.take(kind)` whether one may be injected now.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

RATE_LIMIT = "429"
SLOW = "slow"
DUPLICATE = "duplicate_across_pages"
MUTATE = "mutate_during_pagination"


class FaultConfigError(ValueError):
    """The fault configuration sent to the admin API is invalid."""


@dataclass(frozen=True)
class FaultConfig:
    """Which faults are on; every field unset (None/False) means that fault is off."""

    rate_limit_every: int | None = None
    retry_after: str = "1"
    error_every: int | None = None
    error_status: int = 500
    slow_every: int | None = None
    slow_seconds: float = 3.0
    duplicate_across_pages: bool = False
    mutate_during_pagination: bool = False
    latency_ms: int | None = None
    max_faults: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultConfig:
        """Validate a JSON body from the admin API; unknown keys are refused."""
        if not isinstance(data, Mapping):
            raise FaultConfigError("fault configuration must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FaultConfigError(f"unknown fault settings: {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name in ("rate_limit_every", "error_every", "slow_every", "max_faults"):
            value = data.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise FaultConfigError(f"{name} must be a non-negative integer")
            if name != "max_faults" and value == 0:
                continue
            values[name] = value
        if data.get("latency_ms") is not None:
            latency = data["latency_ms"]
            if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
                raise FaultConfigError("latency_ms must be a non-negative number")
            values["latency_ms"] = int(latency)
        if data.get("slow_seconds") is not None:
            slow = data["slow_seconds"]
            if isinstance(slow, bool) or not isinstance(slow, int | float) or slow < 0:
                raise FaultConfigError("slow_seconds must be a non-negative number")
            values["slow_seconds"] = float(slow)
        if data.get("error_status") is not None:
            status = data["error_status"]
            if isinstance(status, bool) or not isinstance(status, int) or not 500 <= status <= 599:
                raise FaultConfigError("error_status must be an integer between 500 and 599")
            values["error_status"] = status
        if data.get("retry_after") is not None:
            values["retry_after"] = _normalise_retry_after(data["retry_after"])
        for name in ("duplicate_across_pages", "mutate_during_pagination"):
            value = data.get(name)
            if value is None:
                continue
            if not isinstance(value, bool):
                raise FaultConfigError(f"{name} must be true or false")
            values[name] = value
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view, as answered by the admin API."""
        return asdict(self)


def _normalise_retry_after(value: Any) -> str:
    """Accept delay seconds (number or digit string) or an HTTP date; answer the header value."""
    if isinstance(value, bool):
        raise FaultConfigError("retry_after must be seconds or an HTTP date")
    if isinstance(value, int | float):
        if value < 0:
            raise FaultConfigError("retry_after must not be negative")
        return str(int(value))
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return text
        try:
            email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError) as exc:
            raise FaultConfigError("retry_after must be seconds or an HTTP date") from exc
        return text
    raise FaultConfigError("retry_after must be seconds or an HTTP date")


@dataclass(frozen=True)
class RequestFault:
    """What the injector decided for one simulator request."""

    latency_seconds: float = 0.0
    status: int | None = None
    retry_after: str | None = None
    slow_seconds: float = 0.0


class FaultInjector:
    """Thread-safe, deterministic fault counters shared by all simulators.

    The request counter counts simulator requests since the faults were last configured;
    request n gets a fault of kind K when `n % K_every == 0` (429 wins over 5xx, which wins
    over slow). `max_faults` caps the total of every kind injected, data faults included.
    """

    def __init__(self, base_latency_ms: int = 0) -> None:
        self._lock = threading.Lock()
        self._base_latency_ms = base_latency_ms
        self._config = FaultConfig()
        self._requests = 0
        self._injected_total = 0
        self._counts: dict[str, int] = {}
        self.reset_counts()

    @property
    def config(self) -> FaultConfig:
        """The active fault configuration."""
        with self._lock:
            return self._config

    @property
    def latency_ms(self) -> int:
        """Latency added to every simulator request (fault setting, else the sandbox's base)."""
        with self._lock:
            return self._latency_ms_locked()

    def _latency_ms_locked(self) -> int:
        if self._config.latency_ms is not None:
            return self._config.latency_ms
        return self._base_latency_ms

    def configure(self, config: FaultConfig | Mapping[str, Any]) -> FaultConfig:
        """Replace the active faults (unset means off) and restart the request counter."""
        if not isinstance(config, FaultConfig):
            config = FaultConfig.from_dict(config)
        with self._lock:
            self._config = config
            self._requests = 0
            self._injected_total = 0
        logger.info("faults configured: %s", config)
        return config

    def clear(self, base_latency_ms: int | None = None) -> None:
        """Switch every fault off; optionally change the base latency (on reset)."""
        with self._lock:
            if base_latency_ms is not None:
                self._base_latency_ms = base_latency_ms
            self._config = FaultConfig()
            self._requests = 0
            self._injected_total = 0

    def reset_counts(self) -> None:
        """Forget how many faults were injected (the stats, not the configuration)."""
        with self._lock:
            self._counts = {RATE_LIMIT: 0, "500": 0, SLOW: 0, DUPLICATE: 0, MUTATE: 0}

    def counts(self) -> dict[str, int]:
        """Faults injected per kind, for `/_admin/stats`."""
        with self._lock:
            return dict(self._counts)

    def _budget_left_locked(self) -> bool:
        cap = self._config.max_faults
        return cap is None or self._injected_total < cap

    def _count_locked(self, kind: str) -> None:
        self._injected_total += 1
        self._counts[kind] = self._counts.get(kind, 0) + 1

    def on_request(self) -> RequestFault:
        """Count one simulator request and decide its request-level fault."""
        with self._lock:
            self._requests += 1
            n = self._requests
            cfg = self._config
            latency = self._latency_ms_locked() / 1000.0
            if cfg.rate_limit_every and n % cfg.rate_limit_every == 0:
                if self._budget_left_locked():
                    self._count_locked(RATE_LIMIT)
                    return RequestFault(latency, status=429, retry_after=cfg.retry_after)
            if cfg.error_every and n % cfg.error_every == 0:
                if self._budget_left_locked():
                    self._count_locked(str(cfg.error_status))
                    return RequestFault(latency, status=cfg.error_status)
            if cfg.slow_every and n % cfg.slow_every == 0:
                if self._budget_left_locked():
                    self._count_locked(SLOW)
                    return RequestFault(latency, slow_seconds=cfg.slow_seconds)
            return RequestFault(latency)

    def take(self, kind: str) -> bool:
        """Ask to inject a data fault (`duplicate_across_pages` or `mutate_during_pagination`).

        Answers True (and counts it) when that fault is on and the `max_faults` budget allows.
        """
        with self._lock:
            if not getattr(self._config, kind, False):
                return False
            if not self._budget_left_locked():
                return False
            self._count_locked(kind)
            return True

    def enabled(self, kind: str) -> bool:
        """Whether a data fault is switched on (without consuming budget)."""
        with self._lock:
            return bool(getattr(self._config, kind, False)) and self._budget_left_locked()


class FaultMiddleware:
    """ASGI middleware applying latency, 429, 5xx and slow answers to simulator requests."""

    def __init__(
        self,
        app: ASGIApp,
        injector: FaultInjector | Callable[[], FaultInjector],
        exempt_prefixes: tuple[str, ...] = ("/_admin",),
    ) -> None:
        self.app = app
        self._injector = injector
        self.exempt_prefixes = exempt_prefixes

    @property
    def injector(self) -> FaultInjector:
        """The injector (resolved lazily so a reset can swap it)."""
        injector = self._injector
        return injector if isinstance(injector, FaultInjector) else injector()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        fault = self.injector.on_request()
        if fault.latency_seconds:
            await asyncio.sleep(fault.latency_seconds)
        if fault.status == 429:
            logger.debug("injecting 429 on %s", scope["path"])
            response = JSONResponse(
                {"message": "Too many requests"},
                status_code=429,
                headers={"Retry-After": fault.retry_after or "1"},
            )
            await response(scope, receive, send)
            return
        if fault.status is not None:
            logger.debug("injecting %s on %s", fault.status, scope["path"])
            response = JSONResponse({"message": "Internal server error"}, status_code=fault.status)
            await response(scope, receive, send)
            return
        if fault.slow_seconds:
            logger.debug("slowing %s by %.3fs", scope["path"], fault.slow_seconds)
            await asyncio.sleep(fault.slow_seconds)
        await self.app(scope, receive, send)
