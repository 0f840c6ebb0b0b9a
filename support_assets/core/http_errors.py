"""What the HTTP layer refuses and how it says so: errors, bounds, redaction, URL safety.

Every loop over a remote answer is bounded (:class:`Bounds`): pages per listing, bytes per
response and total seconds per request. Exceeding a bound raises :class:`BoundExceeded` naming
the bound and the setting that raises it. Messages never carry credentials (:class:`Redactor`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from support_assets.core.settings import SETTINGS_BY_NAME

REDACTED = "***"


class Redactor:
    """Replaces every known secret in a text with ``***``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret that contains another is removed whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: object) -> str:
        out = str(text)
        for secret in self._secrets:
            out = out.replace(secret, REDACTED)
        return out


class HttpError(Exception):
    """A request that failed for good; its message never carries credentials."""

    def __init__(self, message: str, status_code: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class RetryableHttpError(HttpError):
    """A failure worth retrying (429, 5xx, timeout, connection error)."""

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        body: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code, body)
        self.retry_after = retry_after

    @property
    def is_rate_limit_with_wait(self) -> bool:
        """A 429 that said how long to wait: the API refused before doing anything."""
        return self.status_code == 429 and self.retry_after is not None


class BoundExceeded(HttpError):
    """A remote answer went past one of the client's bounds; the message names the setting."""


class ForeignOriginError(HttpError):
    """A link points outside the configured origin: credentials are not sent there."""


BOUND_SETTINGS = {
    "max_pages": "SUPPORT_HTTP_MAX_PAGES",
    "max_response_bytes": "SUPPORT_HTTP_MAX_RESPONSE_BYTES",
    "request_deadline_seconds": "SUPPORT_HTTP_REQUEST_DEADLINE_SECONDS",
}


def _default(bound: str) -> Any:
    """A bound's default: its setting's, from the settings table."""
    return SETTINGS_BY_NAME[BOUND_SETTINGS[bound]].fallback


@dataclass(frozen=True)
class Bounds:
    """Limits on every loop over a remote answer; each names the setting that changes it."""

    max_pages: int = _default("max_pages")
    max_response_bytes: int = _default("max_response_bytes")
    request_deadline_seconds: float = _default("request_deadline_seconds")

    SETTINGS = BOUND_SETTINGS

    def name(self, bound: str) -> str:
        return f"{bound} = {getattr(self, bound)}, setting {self.SETTINGS[bound]}"


def path_segment(value: object) -> str:
    """One URL path segment holding ``value``, escaped (``/``, ``?``, ``#``, ``..`` included)."""
    text = str(value)
    if text in ("", ".", ".."):
        raise ValueError(f"{text!r} cannot be an id in a URL path")
    return quote(text, safe="")


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of ``url`` (the default port when none is written)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port
