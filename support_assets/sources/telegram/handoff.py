"""The bot hand-off rule: when a Telegram conversation counts as handed from the bot to a person.

A conversation is the customer's updates (messages and button presses, never the bot's) grouped
by a key such as chat and local day. It was handed to a person when, in it, the customer sent
``/atendente`` or ``/humano`` or pressed a button whose callback data starts with ``handoff``
(the bot's "Falar com um atendente"). ``marts/bot_insights`` and ``marts/support_interactions``
both count conversations this way, so the rule lives here once.
"""

from collections.abc import Sequence

import pandas as pd

HANDOFF_COMMANDS = frozenset({"/atendente", "/humano"})
HANDOFF_CALLBACK_PREFIX = "handoff"
#: Update kinds that carry a customer's message.
CUSTOMER_KINDS = frozenset({"message", "business_message"})
#: Update kinds a conversation is made of: the customer's messages and button presses.
CONVERSATION_KINDS = CUSTOMER_KINDS | {"callback_query"}
HANDOFF_COLUMNS = ["started_at", "last_at", "handed_to_human", "handoff_at"]


def customer_updates(updates: pd.DataFrame) -> pd.DataFrame:
    """The updates a conversation is made of: customers' messages and button presses, no bot's."""
    not_bot = updates["sender_is_bot"].astype("boolean").fillna(False) == False  # noqa: E712
    return updates[not_bot & updates["kind"].isin(CONVERSATION_KINDS)]


def asks_for_person(updates: pd.DataFrame) -> pd.Series:
    """Per update: the customer sent a hand-off command or pressed a hand-off button."""
    command = updates["command"].fillna("")
    callback = updates["callback_data"].fillna("")
    return command.isin(HANDOFF_COMMANDS) | callback.str.startswith(HANDOFF_CALLBACK_PREFIX)


def conversation_handoffs(updates: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """One row per conversation of ``updates`` (customer updates with an ``event_at`` timestamp),
    sorted by its ``keys`` columns: ``started_at`` and ``last_at`` (its first and last update),
    ``handed_to_human`` (the customer asked for a person) and ``handoff_at`` (when first)."""
    columns = [*keys, *HANDOFF_COLUMNS]
    if updates.empty:
        return pd.DataFrame(columns=columns)
    asks = asks_for_person(updates)
    marked = updates.assign(asks=asks, handoff_at=updates["event_at"].where(asks))
    grouped = marked.groupby(list(keys), sort=True)
    out = grouped.agg(
        started_at=("event_at", "min"),
        last_at=("event_at", "max"),
        handed_to_human=("asks", "any"),
        handoff_at=("handoff_at", "min"),
    ).reset_index()
    return out[columns]
