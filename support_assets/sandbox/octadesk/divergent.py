"""How the simulated Octadesk answers when it behaves as real tenants do, not as documented."""

from __future__ import annotations

import copy
from typing import Any

#: How a listing may differ from the docs, one knob each (`/_admin/octadesk/behaviour`).
KNOBS = ("ignore_filters", "ignore_sort", "envelope", "retype", "omit_totals", "cap_pages")
#: What the divergent mode turns on: everything real tenants were seen doing. The sort is kept.
#: ``cap_pages`` (a page silently holds half the records asked while the headers count full
#: pages) loses records, so it is only ever switched on alone, to test the reconciliation.
DIVERGENT_KNOBS = frozenset(KNOBS) - {"ignore_sort", "cap_pages"}


def diverge_ticket(record: dict[str, Any]) -> dict[str, Any]:
    """A ticket as a divergent tenant serves it: ``number`` as a string, and the Bling order
    number (documented as a string of digits) as a JSON number."""
    served = copy.deepcopy(record)
    if isinstance(served.get("number"), int):
        served["number"] = str(served["number"])
    for custom in served.get("customField") or []:
        value = custom.get("value")
        if custom.get("key") == "n_do_pedido_bling" and isinstance(value, str) and value.isdigit():
            custom["value"] = int(value)
    return served


def diverge_chat(record: dict[str, Any]) -> dict[str, Any]:
    """A chat as a divergent tenant serves it: ``number`` as a string."""
    served = dict(record)
    if isinstance(served.get("number"), int):
        served["number"] = str(served["number"])
    return served
