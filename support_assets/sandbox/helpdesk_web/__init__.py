"""The web helpdesk simulator (Tiflux-like): OTP login, one session per user, ticket reports.

Two ways in, over the same tickets:

* the web application: ``POST /login`` (user, password) answers a temporary ``code`` and
  "e-mails" a one-time password, which the sandbox's Apps Script copies into the simulated
  Google Sheet (`support_assets.sandbox.sheets`) after ``helpdesk_web_otp_delay_ms``;
  ``POST /login/otp`` (code, OTP) answers the session token in the ``Authorization`` response
  header; ``GET /reports/tickets`` pages by record offset and filters on the opening date;
  ``POST /logout`` ends the session. A user has at most one open session: one that was never
  closed blocks the next login (409) until it has been idle ``helpdesk_web_session_ttl_s``.
* Tiflux's public API v2 shape: ``GET /api/v2/tickets`` with ``Authorization: Bearer <token>``,
  ``offset`` a page number, ``limit`` up to 200, only open tickets unless ``filter_by=all``.

The web reports show times as the web app does, in São Paulo local time without an offset
(``2026-10-02 13:04:05``); the API answers UTC (``2026-10-02T16:04:05Z``). ``status`` is a string
for some tickets and an object for others, ``ticket_number`` a number or a string, as in the
payloads collected in the wild. What the real web application's paths and bodies look like is
not public: these are the simulator's contract (see ``docs/sandbox.md``).

Two clocks: ticket times are anchored at ``SandboxConfig.anchor`` and move forward only with
``advance``; sessions, codes and OTP e-mails use the real clock plus an offset that ``advance``
can move (``seconds``), so expiry is testable without sleeping.

`tickets` holds what a ticket is and how it is written, `world` the helpdesk's state,
`simulator` the routes.
"""

from support_assets.core.sandbox_defaults import (
    SANDBOX_HELPDESK_WEB_API_TOKEN,
    SANDBOX_HELPDESK_WEB_PASSWORD,
    SANDBOX_HELPDESK_WEB_USER,
)
from support_assets.sandbox.helpdesk_web.simulator import HelpdeskWebSimulator

__all__ = [
    "SANDBOX_HELPDESK_WEB_API_TOKEN",
    "SANDBOX_HELPDESK_WEB_PASSWORD",
    "SANDBOX_HELPDESK_WEB_USER",
    "HelpdeskWebSimulator",
]
