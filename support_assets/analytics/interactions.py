"""``marts/support_interactions``: one row per interaction of every source in common columns,
built by one row builder per source (``interaction_rows``) and concatenated here."""

from collections.abc import Iterator
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetIn,
    AutomationCondition,
    MetadataValue,
    Output,
    asset,
)

from support_assets.analytics.catalog import (
    CUSTOMER_IDENTIFIERS,
    GROUP,
    INTERACTIONS,
    MART_AUTOMATION,
    MART_KINDS,
    MART_TAGS,
)
from support_assets.analytics.identifiers import IdentifierMaker
from support_assets.analytics.interaction_rows import (
    INTERACTION_COLUMNS,
    CustomerLookup,
    helpdesk_web_rows,
    milvus_rows,
    octadesk_chat_rows,
    octadesk_ticket_rows,
    service_event_rows,
    telegram_conversations,
    telegram_rows,
)
from support_assets.analytics.mart_checks import (
    mart_check_specs,
    no_raw_documents_result,
    unique_key_result,
)
from support_assets.core.constants import OWNERS, SAO_PAULO, WAREHOUSE
from support_assets.core.identity import PseudonymResource
from support_assets.sources.crm import assets as crm
from support_assets.sources.helpdesk_web import assets as helpdesk_web
from support_assets.sources.octadesk import assets as octadesk
from support_assets.sources.service_events import assets as service_events
from support_assets.sources.telegram import assets as telegram

_INTERACTIONS_DESCRIPTION = (
    "One row per support interaction from every source. Columns: interaction_id "
    "(<source>:<source_record_id>, unique); source (octadesk_ticket, octadesk_chat, "
    "helpdesk_web, milvus, service_events, telegram); channel (the source's channel, "
    "lower-case: email, whatsapp, web, phone, instagram, portal do cliente, milvus, telegram, "
    "the service events' channel); "
    "source_record_id; customer_key (from marts/customer_identifiers; null when the record "
    "carries no identifier); agent (the person who handled it; 'bot' for chats the bot handled "
    "alone; null when unassigned); created_at_utc and closed_at_utc (UTC); "
    "created_at_sao_paulo and closed_at_sao_paulo (America/Sao_Paulo local time as ISO 8601 "
    "text with the offset of the day, e.g. 2026-10-31T09:14:48.191-03:00); "
    "created_date_sao_paulo (the São Paulo day, the KPI day); status (as the source "
    "names it) and status_common (open, pending, in_progress, solved, rejected, cancelled); "
    "satisfaction_score on the source's scale and satisfaction_scale_max (5 for Octadesk, 10 "
    "for service events); solved (status_common is solved, or the event says so); with_bot "
    "(the chat started with the bot); handled_by (bot or human, chats); bot_contained (started "
    "with the bot and never reached a person); first_response_seconds (chats: first bot or "
    "agent reply); resolution_seconds (closed_at minus created_at). Closing times: Octadesk "
    "closedAt; Milvus data_solucao; web helpdesk: updated_at of a ticket whose is_closed is "
    "true (the source has no closing time); service events are attendance records, closed when "
    "they occur (no resolution time). Telegram: one row per bot conversation (a private chat "
    "on one São Paulo day with a customer message or button press, the rule of "
    "marts/bot_insights; source_record_id <chat_id>:<day>), created and closed at its first and "
    "last customer update, agent 'bot' and bot_contained unless the customer asked for a person "
    "(/atendente, /humano or the handoff button), solved unknown (null), no customer_key "
    "(Telegram users carry no document, e-mail or phone)."
)


def build_interactions(
    ids: IdentifierMaker,
    identifiers: pd.DataFrame,
    octadesk_tickets: pd.DataFrame,
    octadesk_chats: pd.DataFrame,
    helpdesk_web_tickets: pd.DataFrame,
    milvus_tickets: pd.DataFrame,
    service_events_rows: pd.DataFrame,
    telegram_messages: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every source's interactions in the common columns, sorted by interaction_id."""
    lookup = CustomerLookup.from_identifiers(ids, identifiers)
    rows = [
        *octadesk_ticket_rows(octadesk_tickets, lookup),
        *octadesk_chat_rows(octadesk_chats, lookup),
        *helpdesk_web_rows(helpdesk_web_tickets, lookup),
        *milvus_rows(milvus_tickets, lookup),
        *service_event_rows(service_events_rows, lookup),
        *telegram_rows(telegram_conversations(telegram_messages)),
    ]
    return interactions_frame(rows)


def interactions_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as the mart stores them: typed, with São Paulo local times, sorted."""
    frame = pd.DataFrame(rows, columns=INTERACTION_COLUMNS)
    for column in ("created_at_utc", "closed_at_utc"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
        local = frame[column].dt.tz_convert(SAO_PAULO)
        # ISO 8601 with the offset São Paulo had then: explicit, and no store re-reads it as UTC.
        frame[column.replace("_utc", "_sao_paulo")] = [
            None if pd.isna(t) else t.isoformat(timespec="milliseconds") for t in local
        ]
        if column == "created_at_utc":
            frame["created_date_sao_paulo"] = local.dt.date
    frame = frame.astype(
        {
            "satisfaction_score": "float64",
            "satisfaction_scale_max": "Int64",
            "first_response_seconds": "float64",
            "resolution_seconds": "float64",
            "with_bot": "boolean",
            "bot_contained": "boolean",
            "solved": "boolean",
        }
    )
    return frame.sort_values("interaction_id", ignore_index=True)


@asset(
    key=INTERACTIONS,
    group_name=GROUP,
    io_manager_key=WAREHOUSE,
    ins={
        "identifiers": AssetIn(CUSTOMER_IDENTIFIERS),
        "octadesk_tickets": AssetIn(octadesk.STAGING_TICKETS),
        "octadesk_chats": AssetIn(octadesk.STAGING_CHATS),
        "helpdesk_web_tickets": AssetIn(helpdesk_web.STAGING_TICKETS),
        "milvus_tickets": AssetIn(crm.RAW_MILVUS_TICKETS),
        "service_events_rows": AssetIn(service_events.STAGING),
        "telegram_messages": AssetIn(telegram.STAGING_MESSAGES),
    },
    metadata={"write_mode": "replace", "primary_key": ["interaction_id"]},
    owners=OWNERS,
    kinds=MART_KINDS,
    tags=MART_TAGS,
    description=_INTERACTIONS_DESCRIPTION,
    # The Telegram messages are daily partitions, most of them never written (days without
    # updates): a missing partition must not hold the interactions back.
    automation_condition=MART_AUTOMATION.without(~AutomationCondition.any_deps_missing()),
    check_specs=mart_check_specs(INTERACTIONS, "interaction_id"),
)
def support_interactions(
    context: AssetExecutionContext,
    pseudonym: PseudonymResource,
    identifiers: pd.DataFrame,
    octadesk_tickets: pd.DataFrame,
    octadesk_chats: pd.DataFrame,
    helpdesk_web_tickets: pd.DataFrame,
    milvus_tickets: pd.DataFrame,
    service_events_rows: pd.DataFrame,
    telegram_messages: pd.DataFrame,
) -> Iterator[Any]:
    sources = {
        "octadesk_ticket": octadesk_tickets,
        "octadesk_chat": octadesk_chats,
        "helpdesk_web": helpdesk_web_tickets,
        "milvus": milvus_tickets,
        "service_events": service_events_rows,
        "telegram": telegram_conversations(telegram_messages),
    }
    frame = build_interactions(
        IdentifierMaker(pseudonym.key),
        identifiers,
        octadesk_tickets,
        octadesk_chats,
        helpdesk_web_tickets,
        milvus_tickets,
        service_events_rows,
        telegram_messages,
    )
    expected = {name: len(source) for name, source in sources.items()}
    got = frame["source"].value_counts().to_dict()
    got = {name: int(got.get(name, 0)) for name in sources}
    yield Output(
        frame,
        metadata={
            "interactions": len(frame),
            "interactions_by_source": MetadataValue.json(got),
            "with_customer_key": int(frame["customer_key"].notna().sum()),
        },
    )
    yield unique_key_result(INTERACTIONS, frame, ["interaction_id"])
    yield no_raw_documents_result(INTERACTIONS, frame)
    yield AssetCheckResult(
        asset_key=INTERACTIONS,
        check_name="row_count_matches_sources",
        passed=got == expected,
        metadata={
            "source_rows": MetadataValue.json(expected),
            "interactions": MetadataValue.json(got),
        },
    )
