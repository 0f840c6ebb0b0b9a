"""staging/telegram_messages: one typed row per raw update, with a fixed Arrow schema.

Each kind this code knows has one function that fills its columns; an update of any other
kind is kept with the usual chat/sender/date fields and its JSON in ``unknown_payload``.
"""

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pandas as pd
import pyarrow as pa
from dagster import AssetExecutionContext, AssetIn, DagsterLogManager, MetadataValue, asset

from support_assets.sources.telegram.client import BOT_API_UPDATE_KINDS
from support_assets.sources.telegram.tables import RAW_UPDATES, STAGING_MESSAGES, daily_lake_table
from support_assets.sources.telegram.values import (
    UTC_TS,
    as_int,
    as_object,
    as_text,
    as_time,
    compact_json,
    update_kind,
)

#: Kinds whose payload is a Message: a message, channel post or business message, new or edited.
MESSAGE_KINDS = frozenset(
    kind
    for kind in BOT_API_UPDATE_KINDS
    if kind.removeprefix("edited_") in ("message", "channel_post", "business_message")
)
#: Media a message can carry, in the order they are recognised (an animation also carries a
#: document, a venue also carries a location).
MEDIA_KINDS = (
    "photo",
    "video",
    "animation",
    "video_note",
    "voice",
    "audio",
    "sticker",
    "document",
    "venue",
    "location",
    "contact",
    "poll",
    "dice",
    "game",
    "story",
    "paid_media",
    "invoice",
)

#: One message entity: what Telegram sends (``user`` as its id) plus the text it covers.
ENTITY = pa.struct(
    [
        pa.field("type", pa.string()),
        pa.field("offset", pa.int64()),
        pa.field("length", pa.int64()),
        pa.field("text", pa.string()),
        pa.field("url", pa.string()),
        pa.field("user_id", pa.int64()),
        pa.field("language", pa.string()),
        pa.field("custom_emoji_id", pa.string()),
    ]
)

#: The Parquet schema of staging/telegram_messages, identical in every partition (the lake adds
#: ``_loaded_at`` and ``_run_id``; the ``date`` column comes from the Hive folder).
STAGING_SCHEMA = pa.schema(
    [
        pa.field("update_id", pa.int64(), nullable=False),
        pa.field("kind", pa.string()),
        pa.field("known_kind", pa.bool_()),
        pa.field("chat_id", pa.int64()),
        pa.field("chat_type", pa.string()),
        pa.field("chat_title", pa.string()),
        pa.field("sender_id", pa.int64()),
        pa.field("sender_is_bot", pa.bool_()),
        pa.field("sender_chat_id", pa.int64()),
        pa.field("message_id", pa.int64()),
        pa.field("text", pa.string()),
        pa.field("entities", pa.list_(ENTITY)),
        pa.field("command", pa.string()),
        pa.field("media_kind", pa.string()),
        pa.field("media_group_id", pa.string()),
        pa.field("is_reply", pa.bool_()),
        pa.field("reply_to_message_id", pa.int64()),
        pa.field("is_forward", pa.bool_()),
        pa.field("forward_origin_type", pa.string()),
        pa.field("is_edit", pa.bool_()),
        pa.field("callback_data", pa.string()),
        pa.field("member_status", pa.string()),
        pa.field("reactions", pa.string()),
        pa.field("sent_at", UTC_TS),
        pa.field("edited_at", UTC_TS),
        pa.field("received_at", UTC_TS),
        pa.field("unknown_payload", pa.string()),
    ]
)


def utf16_slice(text: str, offset: int, length: int) -> str:
    """The substring an entity covers: Telegram counts offsets in UTF-16 code units."""
    encoded = text.encode("utf-16-le")
    return encoded[2 * offset : 2 * (offset + length)].decode("utf-16-le", errors="replace")


def _entities(text: str | None, entities: Any) -> tuple[list[dict[str, Any]] | None, str | None]:
    """Entities as ``ENTITY`` rows (each with the text it covers) and the first bot command.
    Keys Telegram may add later stay in raw's update_json."""
    if not isinstance(entities, list) or not entities:
        return None, None
    out, command = [], None
    for entity in entities:
        entity = as_object(entity)
        offset, length = as_int(entity.get("offset")), as_int(entity.get("length"))
        covered = None
        if text is not None and offset is not None and length is not None:
            covered = utf16_slice(text, offset, length)
            if entity.get("type") == "bot_command" and command is None:
                command = covered.split("@", 1)[0].lower()
        out.append(
            {
                "type": as_text(entity.get("type")),
                "offset": offset,
                "length": length,
                "text": covered,
                "url": as_text(entity.get("url")),
                "user_id": as_int(as_object(entity.get("user")).get("id")),
                "language": as_text(entity.get("language")),
                "custom_emoji_id": as_text(entity.get("custom_emoji_id")),
            }
        )
    return out, command


def _chat_fields(chat: dict[str, Any]) -> dict[str, Any]:
    chat_type = as_text(chat.get("type"))
    return {
        "chat_id": as_int(chat.get("id")),
        "chat_type": chat_type,
        # A private chat's "title" would be the customer's name: not copied here.
        "chat_title": as_text(chat.get("title")) if chat_type != "private" else None,
    }


def _sender_fields(user: Any, sender_chat: Any = None) -> dict[str, Any]:
    user, sender_chat = as_object(user), as_object(sender_chat)
    return {
        "sender_id": as_int(user.get("id")) if user else as_int(sender_chat.get("id")),
        "sender_is_bot": user.get("is_bot") if isinstance(user.get("is_bot"), bool) else None,
        "sender_chat_id": as_int(sender_chat.get("id")),
    }


def _message_fields(message: dict[str, Any]) -> dict[str, Any]:
    text = as_text(message.get("text"))
    entities = message.get("entities")
    if text is None:
        text = as_text(message.get("caption"))
        entities = message.get("caption_entities")
    entity_rows, command = _entities(text, entities)
    reply = as_object(message.get("reply_to_message"))
    origin = as_object(message.get("forward_origin"))
    forwarded = bool(origin) or "forward_date" in message or "forward_from" in message
    return {
        **_chat_fields(as_object(message.get("chat"))),
        **_sender_fields(message.get("from"), message.get("sender_chat")),
        "message_id": as_int(message.get("message_id")),
        "text": text,
        "entities": entity_rows,
        "command": command,
        "media_kind": next((m for m in MEDIA_KINDS if m in message), None),
        "media_group_id": as_text(message.get("media_group_id")),
        "is_reply": bool(reply) or "external_reply" in message,
        "reply_to_message_id": as_int(reply.get("message_id")),
        "is_forward": forwarded,
        "forward_origin_type": as_text(origin.get("type")) or ("legacy" if forwarded else None),
        "sent_at": as_time(message.get("date")),
        "edited_at": as_time(message.get("edit_date")),
    }


def _member_status(update: dict[str, Any]) -> str:
    old = as_text(as_object(update.get("old_chat_member")).get("status"))
    new = as_text(as_object(update.get("new_chat_member")).get("status"))
    return f"{old} -> {new}"


def _emojis(reactions: Any) -> str:
    if not isinstance(reactions, list):
        return ""
    return " ".join(
        as_text(as_object(r).get("emoji")) or as_text(as_object(r).get("type")) or "?"
        for r in reactions
    )


def _callback_fields(query: dict[str, Any]) -> dict[str, Any]:
    message = as_object(query.get("message"))
    return {
        **_chat_fields(as_object(message.get("chat"))),
        **_sender_fields(query.get("from")),
        "message_id": as_int(message.get("message_id")),
        "callback_data": as_text(query.get("data")),
    }


def _inline_fields(query: dict[str, Any]) -> dict[str, Any]:
    return {
        "chat_type": as_text(query.get("chat_type")),
        **_sender_fields(query.get("from")),
        "text": as_text(query.get("query")),
    }


def _poll_fields(poll: dict[str, Any]) -> dict[str, Any]:
    return {"text": as_text(poll.get("question")), "media_kind": "poll"}


def _poll_answer_fields(answer: dict[str, Any]) -> dict[str, Any]:
    return _sender_fields(answer.get("user"), answer.get("voter_chat"))


def _member_fields(change: dict[str, Any]) -> dict[str, Any]:
    return {
        **_chat_fields(as_object(change.get("chat"))),
        **_sender_fields(change.get("from")),
        "member_status": _member_status(change),
        "sent_at": as_time(change.get("date")),
    }


def _join_request_fields(request: dict[str, Any]) -> dict[str, Any]:
    return {
        **_chat_fields(as_object(request.get("chat"))),
        **_sender_fields(request.get("from")),
        "text": as_text(request.get("bio")),
        "sent_at": as_time(request.get("date")),
    }


def _reaction_fields(reaction: dict[str, Any]) -> dict[str, Any]:
    return {
        **_chat_fields(as_object(reaction.get("chat"))),
        **_sender_fields(reaction.get("user"), reaction.get("actor_chat")),
        "message_id": as_int(reaction.get("message_id")),
        "reactions": _emojis(reaction.get("new_reaction")),
        "sent_at": as_time(reaction.get("date")),
    }


#: The columns each known kind fills, from its payload (a Message, a query, a member change, ...).
KIND_FIELDS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    **dict.fromkeys(MESSAGE_KINDS, _message_fields),
    "callback_query": _callback_fields,
    "inline_query": _inline_fields,
    "chosen_inline_result": _inline_fields,
    "poll": _poll_fields,
    "poll_answer": _poll_answer_fields,
    "my_chat_member": _member_fields,
    "chat_member": _member_fields,
    "chat_join_request": _join_request_fields,
    "message_reaction": _reaction_fields,
}
#: Every kind this code extracts fields from; anything else is kept as an unknown kind.
KNOWN_KINDS = frozenset(KIND_FIELDS)


def _unknown_fields(obj: Any) -> dict[str, Any]:
    """Best effort for a kind this code does not know: the usual chat/sender/date fields."""
    obj = as_object(obj)
    return {
        **_chat_fields(as_object(obj.get("chat"))),
        **_sender_fields(obj.get("from") or obj.get("user")),
        "sent_at": as_time(obj.get("date")),
    }


def kinds_metadata(kinds: Counter[str]) -> dict[str, Any]:
    """Updates per kind, and those of kinds this code does not know (kept, but only as JSON)."""
    unknown = {k: n for k, n in kinds.items() if k not in KNOWN_KINDS}
    return {
        "kinds": MetadataValue.json(dict(sorted(kinds.items()))),
        "unknown_kind_updates": sum(unknown.values()),
        "unknown_kinds": MetadataValue.json(unknown),
    }


def warn_of_unknown_kinds(log: DagsterLogManager, metadata: dict[str, Any], where: str) -> None:
    """Logs a warning when ``metadata`` (see :func:`kinds_metadata`) counts updates of kinds
    this code does not know: they are kept, but only as JSON."""
    if metadata["unknown_kind_updates"]:
        log.warning(
            f"{where}: {metadata['unknown_kind_updates']} update(s) of kinds this code does not "
            f"know, kept with their JSON: {metadata['unknown_kinds'].value}"
        )


def staging_row(update: dict[str, Any], received_at: dt.datetime) -> dict[str, Any]:
    """One row of staging/telegram_messages for one update."""
    kind = update_kind(update)
    known = kind in KNOWN_KINDS
    obj = update.get(kind) if "+" not in kind else None
    row: dict[str, Any] = {
        "update_id": update["update_id"],
        "kind": kind,
        "known_kind": known,
        "is_edit": kind.startswith("edited_"),
        "received_at": received_at,
    }
    if known and isinstance(obj, dict):
        row.update(KIND_FIELDS[kind](obj))
    else:
        row.update(_unknown_fields(obj))
        row["unknown_payload"] = compact_json({k: v for k, v in update.items() if k != "update_id"})
    row.setdefault("is_reply", False)
    row.setdefault("is_forward", False)
    return row


def _received(value: Any) -> dt.datetime:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


def build_staging_messages(raw: pa.Table) -> tuple[pa.Table, dict[str, Any]]:
    """One row per raw update, with ``STAGING_SCHEMA``."""
    if raw.num_rows == 0 or "update_json" not in raw.column_names:
        return STAGING_SCHEMA.empty_table(), {"rows": 0, "unknown_kind_updates": 0}
    rows = [
        staging_row(json.loads(text), _received(received))
        for text, received in zip(
            raw.column("update_json").to_pylist(),
            raw.column("received_at").to_pylist(),
            strict=True,
        )
    ]
    rows.sort(key=lambda r: r["update_id"])
    table = pa.Table.from_pylist(rows, schema=STAGING_SCHEMA)
    media = Counter(r.get("media_kind") for r in rows if r.get("media_kind"))
    return table, {
        "rows": len(rows),
        **kinds_metadata(Counter(r["kind"] for r in rows)),
        "media_kinds": MetadataValue.json(dict(sorted(media.items()))),
        "arrow_schema": MetadataValue.md(
            "\n".join(f"* `{f.name}`: {f.type}" for f in STAGING_SCHEMA)
        ),
    }


@asset(
    key=STAGING_MESSAGES,
    ins={"raw": AssetIn(RAW_UPDATES)},
    kinds={"parquet", "pyarrow"},
    **daily_lake_table("staging"),
    description=(
        "One row per Telegram update of the day: kind (an unknown kind is kept, known_kind "
        "false, its JSON in unknown_payload), chat id/type/title (no title for private chats), "
        "sender id (or sender chat), message id, text or caption, entities (a list of structs: "
        "type, offset, length, url, user_id, ... and the text each covers, UTF-16 offsets "
        "resolved), the first bot command, media kind and "
        "media group, reply and forward flags, edit flag, callback data, member status change, "
        "reactions, and sent/edited/received times in UTC. The Arrow schema is fixed, so every "
        "partition's Parquet files have the same schema."
    ),
)
def telegram_staging_messages(context: AssetExecutionContext, raw: pa.Table) -> pa.Table:
    table, metadata = build_staging_messages(raw)
    warn_of_unknown_kinds(context.log, metadata, "telegram staging")
    context.add_output_metadata(metadata)
    return table
