"""The Octadesk simulator: tickets, chats, chat events and messages over real HTTP.

The world is a pure function of `(seed, index)` for its base records, so a million tickets cost
no memory: base record `i` has `updatedAt` and `createdAt` strictly decreasing in `i` (spread
over the 180 days before the anchor) and number `size - i`. Changed and created records live in
an overlay and carry the world clock, which starts at the anchor and only moves forward, so
every overlay record is newer than every base record. The admin API moves the world on
(`advance`) and reports it (`truth`). Facts the real API leaves unknown (filters on `/tickets`,
rate limits) are simulated with the most defensive assumption: they exist.

`model` holds what records are made of, `tickets` and `chats` generate and change them,
`world` holds the tenant, `divergent` the real tenants' differences, `simulator` the routes.
"""

from support_assets.core.sandbox_defaults import SANDBOX_OCTADESK_API_KEY
from support_assets.sandbox.octadesk.simulator import OctadeskSimulator

__all__ = ["SANDBOX_OCTADESK_API_KEY", "OctadeskSimulator"]
