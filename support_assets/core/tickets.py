"""Helpdesk ticket statuses: the source names every helpdesk shares, mapped to the common set.

Octadesk names its ticket statuses in Portuguese; the web helpdesk uses the same names (plus its
own), so both sources map through this table before adding what only they send.
"""

from support_assets.core.records import COMMON_STATUSES

# Ticket statuses (as Octadesk names them, lower-cased) to the common status set.
TICKET_STATUS_MAP = {
    "novo": "open",
    "pendente": "pending",
    "andamento": "in_progress",
    "em andamento": "in_progress",
    "resolvido": "solved",
    "rejeitado": "rejected",
    "cancelado": "cancelled",
}
assert set(TICKET_STATUS_MAP.values()) <= set(COMMON_STATUSES)
