"""Telegram: every update the bot receives, from the landing zone to Parquet, and bot insights.

``landing/telegram/date=D/*.jsonl`` (written by the webhook receiver or the poller, see
``support_assets.io_managers.landing``) → ``raw/telegram_updates`` (day D's updates, one row per
``update_id``, the full JSON kept) → ``staging/telegram_messages`` (one typed row per update)
→ ``marts/bot_insights``. The two daily-partitioned tables live in the lake; a partition is the
UTC day an update was *received*, and the partitions reach today (``end_offset=1``), so today's
partition can be rebuilt every few minutes by the landing sensor while the day goes on.
"""

import datetime as dt
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AutomationCondition,
    Config,
    DailyPartitionsDefinition,
    MetadataValue,
    RetryPolicy,
    asset,
)
from pydantic import Field

from support_assets.io_managers.landing import LandingZoneResource, ReadStats

GROUP = "telegram"
OWNERS = ["team:data-platform"]
LAKE = "lake_io_manager"
WAREHOUSE = "warehouse_io_manager"

RAW_UPDATES = AssetKey(["raw", "telegram_updates"])
STAGING_MESSAGES = AssetKey(["staging", "telegram_messages"])
BOT_INSIGHTS = AssetKey(["marts", "bot_insights"])

#: Daily partitions by the UTC day an update was received, from the first day of the landing
#: zone up to and including today.
TELEGRAM_PARTITIONS = DailyPartitionsDefinition(start_date="2025-01-01", end_offset=1)

#: Telegram redelivers an update for at most a day, so a copy received on day D may already
#: have been received on D-1; that earlier day owns it.
REDELIVERY_LOOKBACK_DAYS = 1

#: Kinds whose payload is a Message.
MESSAGE_KINDS = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_message",
        "edited_business_message",
    }
)
#: Every kind this code extracts fields from; anything else is kept as an unknown kind.
KNOWN_KINDS = MESSAGE_KINDS | {
    "callback_query",
    "inline_query",
    "chosen_inline_result",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "message_reaction",
}
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

UTC_TS = pa.timestamp("us", tz="UTC")

RAW_SCHEMA = pa.schema(
    [
        pa.field("update_id", pa.int64(), nullable=False),
        pa.field("kind", pa.string()),
        pa.field("received_at", UTC_TS),
        pa.field("via", pa.string()),
        pa.field("update_json", pa.string()),
        pa.field("landing_file", pa.string()),
        pa.field("landing_line", pa.int64()),
    ]
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


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _json(value: Any) -> str:
    """Compact JSON; text Parquet cannot hold (lone surrogates) goes as ``\\u`` escapes."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if _LONE_SURROGATE.search(text):
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text


def update_kind(update: dict[str, Any]) -> str:
    """The update's kind: its one field besides ``update_id`` (several are joined by ``+``)."""
    keys = sorted(_str(k) or "" for k in update if k != "update_id")
    return "+".join(keys) if keys else "(empty)"


# ---- raw ----------------------------------------------------------------------------------------


def _landed_ids(zone: Any, day: dt.date) -> set[int]:
    ids: set[int] = set()
    for record in zone.read(day):
        payload = record.payload
        if isinstance(payload, dict) and _int(payload.get("update_id")) is not None:
            ids.add(payload["update_id"])
    return ids


def build_raw_updates(
    zone: Any, day: dt.date, first_day: dt.date
) -> tuple[pa.Table, dict[str, Any]]:
    """Day ``day``'s landed updates, one row per ``update_id``: the copy received first (the
    first one read among equals).

    An update also landed on an earlier day (a redelivery across midnight) belongs to that day.
    """
    earlier: set[int] = set()
    for back in range(1, REDELIVERY_LOOKBACK_DAYS + 1):
        previous = day - dt.timedelta(days=back)
        if previous >= first_day:
            earlier |= _landed_ids(zone, previous)
    stats = ReadStats()
    kept: dict[int, Any] = {}
    duplicates = owned_earlier = invalid = 0
    unrepresentable: list[str] = []
    for record in zone.read(day, stats):
        payload = record.payload
        raw_id = payload.get("update_id") if isinstance(payload, dict) else None
        update_id = _int(raw_id)
        if update_id is None:
            if isinstance(raw_id, int) and not isinstance(raw_id, bool):
                # Beyond int64: Parquet cannot hold it; the landing line keeps the update.
                unrepresentable.append(f"{record.file}:{record.line}")
            else:
                invalid += 1
            continue
        if update_id in earlier:
            owned_earlier += 1
            continue
        if update_id in kept:
            duplicates += 1
            if record.received_at >= kept[update_id].received_at:
                continue
        kept[update_id] = record
    kinds: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    for update_id in sorted(kept):
        record = kept[update_id]
        try:
            update_json = _json(record.payload)
        except (RecursionError, ValueError):  # nested past what the encoder takes
            unrepresentable.append(f"{record.file}:{record.line}")
            continue
        kind = update_kind(record.payload)
        kinds[kind] += 1
        rows.append(
            {
                "update_id": update_id,
                "kind": kind,
                "received_at": record.received_at,
                "via": record.via,
                "update_json": update_json,
                "landing_file": record.file,
                "landing_line": record.line,
            }
        )
    table = pa.Table.from_pylist(rows, schema=RAW_SCHEMA)
    unknown = {k: n for k, n in kinds.items() if k not in KNOWN_KINDS}
    metadata = {
        "landing_files": stats.files,
        "landing_bytes": stats.bytes,
        "landed_lines": stats.lines,
        "updates": len(rows),
        "duplicates_dropped": duplicates,
        "received_earlier_dropped": owned_earlier,
        "incomplete_tails_skipped": stats.incomplete_tails,
        "invalid_lines": stats.invalid_lines + invalid,
        "quarantined_updates": len(unrepresentable),
        "quarantined_samples": MetadataValue.json(
            {
                "reason": "update_id outside int64, or nested too deeply to write as JSON",
                "landing_lines": unrepresentable[:20],
            }
        ),
        "kinds": MetadataValue.json(dict(sorted(kinds.items()))),
        "unknown_kind_updates": sum(unknown.values()),
        "unknown_kinds": MetadataValue.json(unknown),
        "min_update_id": rows[0]["update_id"] if rows else -1,
        "max_update_id": rows[-1]["update_id"] if rows else -1,
    }
    return table, metadata


# ---- staging ------------------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    """An int64 column's value; anything else (a bool, text, a number past int64) is None."""
    if isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX:
        return value
    return None


def _str(value: Any) -> str | None:
    """Text for a column; a lone surrogate (valid JSON, not UTF-8) becomes U+FFFD (the raw
    layer keeps the exact text as a JSON escape)."""
    return _LONE_SURROGATE.sub("\ufffd", value) if isinstance(value, str) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _time(value: Any) -> dt.datetime | None:
    """A Unix time as UTC; one no calendar date holds (e.g. 10**12 s, year 33658) is None."""
    seconds = _int(value)
    if seconds is None:
        return None
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


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
        entity = _dict(entity)
        offset, length = _int(entity.get("offset")), _int(entity.get("length"))
        covered = None
        if text is not None and offset is not None and length is not None:
            covered = utf16_slice(text, offset, length)
            if entity.get("type") == "bot_command" and command is None:
                command = covered.split("@", 1)[0].lower()
        out.append(
            {
                "type": _str(entity.get("type")),
                "offset": offset,
                "length": length,
                "text": covered,
                "url": _str(entity.get("url")),
                "user_id": _int(_dict(entity.get("user")).get("id")),
                "language": _str(entity.get("language")),
                "custom_emoji_id": _str(entity.get("custom_emoji_id")),
            }
        )
    return out, command


def _chat_fields(chat: dict[str, Any]) -> dict[str, Any]:
    chat_type = _str(chat.get("type"))
    return {
        "chat_id": _int(chat.get("id")),
        "chat_type": chat_type,
        # A private chat's "title" would be the customer's name: not copied here.
        "chat_title": _str(chat.get("title")) if chat_type != "private" else None,
    }


def _sender_fields(user: Any, sender_chat: Any = None) -> dict[str, Any]:
    user, sender_chat = _dict(user), _dict(sender_chat)
    return {
        "sender_id": _int(user.get("id")) if user else _int(sender_chat.get("id")),
        "sender_is_bot": user.get("is_bot") if isinstance(user.get("is_bot"), bool) else None,
        "sender_chat_id": _int(sender_chat.get("id")),
    }


def _message_fields(message: dict[str, Any]) -> dict[str, Any]:
    text = _str(message.get("text"))
    entities = message.get("entities")
    if text is None:
        text = _str(message.get("caption"))
        entities = message.get("caption_entities")
    entity_rows, command = _entities(text, entities)
    reply = _dict(message.get("reply_to_message"))
    origin = _dict(message.get("forward_origin"))
    forwarded = bool(origin) or "forward_date" in message or "forward_from" in message
    return {
        **_chat_fields(_dict(message.get("chat"))),
        **_sender_fields(message.get("from"), message.get("sender_chat")),
        "message_id": _int(message.get("message_id")),
        "text": text,
        "entities": entity_rows,
        "command": command,
        "media_kind": next((m for m in MEDIA_KINDS if m in message), None),
        "media_group_id": _str(message.get("media_group_id")),
        "is_reply": bool(reply) or "external_reply" in message,
        "reply_to_message_id": _int(reply.get("message_id")),
        "is_forward": forwarded,
        "forward_origin_type": _str(origin.get("type")) or ("legacy" if forwarded else None),
        "sent_at": _time(message.get("date")),
        "edited_at": _time(message.get("edit_date")),
    }


def _member_status(update: dict[str, Any]) -> str:
    old = _str(_dict(update.get("old_chat_member")).get("status"))
    new = _str(_dict(update.get("new_chat_member")).get("status"))
    return f"{old} -> {new}"


def _emojis(reactions: Any) -> str:
    if not isinstance(reactions, list):
        return ""
    return " ".join(
        _str(_dict(r).get("emoji")) or _str(_dict(r).get("type")) or "?" for r in reactions
    )


def _kind_fields(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """The columns one known kind fills (a MessageLike, a query, a member change, ...)."""
    if kind in MESSAGE_KINDS:
        return _message_fields(obj)
    if kind == "callback_query":
        message = _dict(obj.get("message"))
        return {
            **_chat_fields(_dict(message.get("chat"))),
            **_sender_fields(obj.get("from")),
            "message_id": _int(message.get("message_id")),
            "callback_data": _str(obj.get("data")),
        }
    if kind in ("inline_query", "chosen_inline_result"):
        return {
            "chat_type": _str(obj.get("chat_type")),
            **_sender_fields(obj.get("from")),
            "text": _str(obj.get("query")),
        }
    if kind == "poll":
        return {"text": _str(obj.get("question")), "media_kind": "poll"}
    if kind == "poll_answer":
        return _sender_fields(obj.get("user"), obj.get("voter_chat"))
    if kind in ("my_chat_member", "chat_member"):
        return {
            **_chat_fields(_dict(obj.get("chat"))),
            **_sender_fields(obj.get("from")),
            "member_status": _member_status(obj),
            "sent_at": _time(obj.get("date")),
        }
    if kind == "chat_join_request":
        return {
            **_chat_fields(_dict(obj.get("chat"))),
            **_sender_fields(obj.get("from")),
            "text": _str(obj.get("bio")),
            "sent_at": _time(obj.get("date")),
        }
    if kind == "message_reaction":
        return {
            **_chat_fields(_dict(obj.get("chat"))),
            **_sender_fields(obj.get("user"), obj.get("actor_chat")),
            "message_id": _int(obj.get("message_id")),
            "reactions": _emojis(obj.get("new_reaction")),
            "sent_at": _time(obj.get("date")),
        }
    raise KeyError(kind)


def _unknown_fields(obj: Any) -> dict[str, Any]:
    """Best effort for a kind this code does not know: the usual chat/sender/date fields."""
    obj = _dict(obj)
    return {
        **_chat_fields(_dict(obj.get("chat"))),
        **_sender_fields(obj.get("from") or obj.get("user")),
        "sent_at": _time(obj.get("date")),
    }


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
        row.update(_kind_fields(kind, obj))
    else:
        row.update(_unknown_fields(obj))
        row["unknown_payload"] = _json({k: v for k, v in update.items() if k != "update_id"})
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
    kinds = Counter(r["kind"] for r in rows)
    unknown = {k: n for k, n in kinds.items() if k not in KNOWN_KINDS}
    media = Counter(r.get("media_kind") for r in rows if r.get("media_kind"))
    return table, {
        "rows": len(rows),
        "kinds": MetadataValue.json(dict(sorted(kinds.items()))),
        "unknown_kind_updates": sum(unknown.values()),
        "unknown_kinds": MetadataValue.json(unknown),
        "media_kinds": MetadataValue.json(dict(sorted(media.items()))),
        "arrow_schema": MetadataValue.md(
            "\n".join(f"* `{f.name}`: {f.type}" for f in STAGING_SCHEMA)
        ),
    }


@asset(
    key=RAW_UPDATES,
    group_name=GROUP,
    partitions_def=TELEGRAM_PARTITIONS,
    io_manager_key=LAKE,
    metadata={"write_mode": "replace"},
    owners=OWNERS,
    kinds={"parquet", "python"},
    tags={"layer": "raw", "source": "telegram"},
    retry_policy=RetryPolicy(max_retries=2, delay=5),
    description=(
        "Every Telegram update landed on the partition's UTC day (webhook receiver or poller), "
        "one row per update_id with the full update as JSON (update_json), when and how it was "
        "received and the landing file and line it came from. Redeliveries are dropped: the "
        "first copy read wins, and an update already landed the day before belongs to that day. "
        "Metadata counts updates per kind and the kinds this code does not know."
    ),
)
def telegram_raw_updates(
    context: AssetExecutionContext, telegram_landing: LandingZoneResource
) -> pa.Table:
    day = dt.date.fromisoformat(context.partition_key)
    first_day = dt.date.fromisoformat(TELEGRAM_PARTITIONS.get_first_partition_key() or "1970-01-01")
    table, metadata = build_raw_updates(telegram_landing.zone(), day, first_day)
    context.log.info(
        f"telegram {day}: {table.num_rows} updates from {metadata['landing_files']} landing "
        f"file(s); {metadata['duplicates_dropped']} redeliveries dropped"
    )
    if metadata["quarantined_updates"]:
        context.log.warning(
            f"telegram {day}: {metadata['quarantined_updates']} update(s) cannot be stored in "
            "Parquet and were left out; their landing lines are in quarantined_samples"
        )
    if metadata["unknown_kind_updates"]:
        context.log.warning(
            f"telegram {day}: {metadata['unknown_kind_updates']} update(s) of kinds this code "
            f"does not know, kept: {metadata['unknown_kinds'].value}"
        )
    context.add_output_metadata(metadata)
    return table


@asset(
    key=STAGING_MESSAGES,
    group_name=GROUP,
    partitions_def=TELEGRAM_PARTITIONS,
    io_manager_key=LAKE,
    ins={"raw": AssetIn(RAW_UPDATES)},
    metadata={"write_mode": "replace"},
    owners=OWNERS,
    kinds={"parquet", "pyarrow"},
    tags={"layer": "staging", "source": "telegram"},
    retry_policy=RetryPolicy(max_retries=2, delay=5),
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
    if metadata["unknown_kind_updates"]:
        context.log.warning(
            f"{metadata['unknown_kind_updates']} update(s) of unknown kinds kept with their "
            f"JSON: {metadata['unknown_kinds'].value}"
        )
    context.add_output_metadata(metadata)
    return table


# ---- marts --------------------------------------------------------------------------------------

HANDOFF_COMMANDS = frozenset({"/atendente", "/humano"})
HANDOFF_CALLBACK_PREFIX = "handoff"
CUSTOMER_KINDS = frozenset({"message", "business_message"})
MIN_QUESTION_WORDS = 3
WEEKDAYS = (
    "segunda-feira",
    "terça-feira",
    "quarta-feira",
    "quinta-feira",
    "sexta-feira",
    "sábado",
    "domingo",
)
_GREETING = re.compile(r"^(?:(?:oi+|ola|opa|e ai|bom dia|boa tarde|boa noite)\b\s*)+")
_NOT_WORD = re.compile(r"[^\w\s]|_")
_SPACES = re.compile(r"\s+")


def normalise_question(text: str | None) -> str:
    """Lower case, no accents, no emoji or punctuation, no leading greeting, single spaces:
    "Oi, cadê meu pedido?? 📦" and "CADE MEU PEDIDO" are both "cade meu pedido"."""
    if not text:
        return ""
    plain = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    plain = _SPACES.sub(" ", _NOT_WORD.sub(" ", plain)).strip()
    return _GREETING.sub("", plain).strip()


class BotInsightsConfig(Config):
    window_days: int = Field(
        default=28, ge=1, description="Days (ending today) the insights cover."
    )
    top_questions: int = Field(default=20, ge=1, description="How many questions to list.")
    timezone: str = Field(
        default="America/Sao_Paulo",
        description="Time zone of hours, weekdays and conversation days (the customers').",
    )


INSIGHT_COLUMNS = [
    "insight",
    "rank",
    "question",
    "example",
    "weekday",
    "weekday_name",
    "hour",
    "messages",
    "conversations",
    "handed_to_human",
    "share",
    "window_start",
    "window_end",
    "timezone",
]


def _share(part: float, whole: float) -> float | None:
    return None if not whole else round(part / whole, 4)


GROUP_CHAT_TYPES = ("group", "supergroup")
_MENTION = re.compile(r"@\w+")


def mentions_bot(entities: Any) -> bool:
    """True when a message's entities (the staging list of structs; JSON text from older
    partitions) mention a bot: Telegram bot usernames end in "bot", and a customer in a group
    reaches the bot by mentioning it."""
    if isinstance(entities, str):
        try:
            entities = json.loads(entities)
        except ValueError:
            return False
    if entities is None or isinstance(entities, float):  # null (NaN once in pandas)
        return False
    return any(
        isinstance(e, dict)
        and e.get("type") == "mention"
        and str(e.get("text") or "").lower().endswith("bot")
        for e in entities
    )


def _questions(texts: pd.DataFrame) -> pd.DataFrame:
    """Texts with their normalised question (mentions removed) of at least 3 words."""
    if texts.empty:
        return texts.assign(question=pd.Series(dtype=object))
    plain = texts["text"].map(lambda t: _MENTION.sub(" ", t))
    asked = texts.assign(question=plain.map(normalise_question))
    return asked[asked["question"].str.split().str.len() >= MIN_QUESTION_WORDS]


def _top_questions(
    asked: pd.DataFrame, insight: str, conversation: list[str], top: int
) -> list[dict[str, Any]]:
    """The ``top`` questions by messages; conversations counts distinct ``conversation`` keys."""
    if asked.empty:
        return []
    keyed = asked.assign(conversation=asked[conversation].astype(str).agg(":".join, axis=1))
    grouped = keyed.groupby("question")
    ranked = (
        grouped.agg(messages=("update_id", "size"), conversations=("conversation", "nunique"))
        .reset_index()
        .sort_values(["messages", "question"], ascending=[False, True])
        .head(top)
    )
    examples = grouped["text"].agg(lambda s: s.value_counts().index[0])
    return [
        {
            "insight": insight,
            "rank": rank,
            "question": item.question,
            "example": examples[item.question],
            "messages": int(item.messages),
            "conversations": int(item.conversations),
            "share": _share(item.messages, len(asked)),
        }
        for rank, item in enumerate(ranked.itertuples(index=False), start=1)
    ]


def _handoff_row(people: pd.DataFrame, conversation: list[str], insight: str) -> dict[str, Any]:
    """Conversations (``conversation`` keys) and those where the customer asked for a person."""
    command = people["command"].fillna("")
    callback = people["callback_data"].fillna("")
    asks_person = command.isin(HANDOFF_COMMANDS) | callback.str.startswith(HANDOFF_CALLBACK_PREFIX)
    flags = people.assign(asks_person=asks_person).groupby(conversation)["asks_person"].any()
    conversations, handed = len(flags), int(flags.sum())
    return {
        "insight": insight,
        "conversations": conversations,
        "handed_to_human": handed,
        "share": _share(handed, conversations),
    }


def build_bot_insights(
    staging: pd.DataFrame, config: BotInsightsConfig, now: dt.datetime
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The insight rows (see the asset description) from staging rows of any days."""
    zone = ZoneInfo(config.timezone)
    end = pd.Timestamp(now).tz_convert("UTC")
    start = end - pd.Timedelta(days=config.window_days)
    frame = staging.copy() if not staging.empty else pd.DataFrame(columns=STAGING_SCHEMA.names)
    for column in ("sent_at", "received_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["event_at"] = frame["sent_at"].fillna(frame["received_at"])
    frame = frame[(frame["event_at"] >= start) & (frame["event_at"] <= end)]
    local = frame["event_at"].dt.tz_convert(zone)
    frame = frame.assign(local_day=local.dt.date, hour=local.dt.hour, weekday=local.dt.weekday + 1)
    not_bot = frame["sender_is_bot"].astype("boolean").fillna(False) == False  # noqa: E712
    is_customer = frame["kind"].isin(CUSTOMER_KINDS) & not_bot & (frame["chat_type"] != "channel")
    customer = frame[is_customer]
    rows: list[dict[str, Any]] = []

    # Most frequent questions: customers' texts in private chats (no captions, no commands),
    # and in groups the texts that mention a bot (how a customer addresses it there).
    texts = customer[customer["text"].notna() & customer["media_kind"].isna()]
    texts = texts[~texts["text"].str.startswith("/")]
    private_asked = _questions(texts[texts["chat_type"] == "private"])
    groups = texts[texts["chat_type"].isin(GROUP_CHAT_TYPES)]
    group_asked = _questions(groups[groups["entities"].map(mentions_bot)])
    total_questions = len(private_asked)
    rows += _top_questions(private_asked, "top_question", ["chat_id"], config.top_questions)
    rows += _top_questions(
        group_asked, "top_group_question", ["chat_id", "sender_id"], config.top_questions
    )

    # Volume: customer messages by local hour, weekday, and both.
    volume = len(customer)
    by_hour = customer.groupby("hour").size()
    by_weekday = customer.groupby("weekday").size()
    by_both = customer.groupby(["weekday", "hour"]).size()
    for hour in range(24):
        n = int(by_hour.get(hour, 0))
        rows.append(
            {"insight": "volume_by_hour", "hour": hour, "messages": n, "share": _share(n, volume)}
        )
    for weekday in range(1, 8):
        n = int(by_weekday.get(weekday, 0))
        rows.append(
            {
                "insight": "volume_by_weekday",
                "weekday": weekday,
                "weekday_name": WEEKDAYS[weekday - 1],
                "messages": n,
                "share": _share(n, volume),
            }
        )
    for (weekday, hour), n in by_both.items():
        rows.append(
            {
                "insight": "volume_by_weekday_hour",
                "weekday": int(weekday),
                "weekday_name": WEEKDAYS[int(weekday) - 1],
                "hour": int(hour),
                "messages": int(n),
                "share": _share(n, volume),
            }
        )

    # Hand-offs: private conversations (chat x local day), and in groups each customer's
    # conversation (chat x sender x local day), where the customer asked for a person.
    people = frame[not_bot & frame["kind"].isin(CUSTOMER_KINDS | {"callback_query"})]
    private = people[people["chat_type"] == "private"]
    handoff = _handoff_row(private, ["chat_id", "local_day"], "handoff")
    conversations, handed = handoff["conversations"], handoff["handed_to_human"]
    group_people = people[people["chat_type"].isin(GROUP_CHAT_TYPES)]
    rows.append(handoff)
    rows.append(_handoff_row(group_people, ["chat_id", "sender_id", "local_day"], "group_handoff"))
    out = pd.DataFrame(rows, columns=INSIGHT_COLUMNS)
    out["window_start"] = start
    out["window_end"] = end
    out["timezone"] = config.timezone
    out = out.astype(
        {
            "rank": "Int64",
            "weekday": "Int64",
            "hour": "Int64",
            "messages": "Int64",
            "conversations": "Int64",
            "handed_to_human": "Int64",
            "share": "float64",
        }
    )
    metadata = {
        "customer_messages": volume,
        "questions": total_questions,
        "conversations": conversations,
        "handed_to_human": handed,
        "handoff_share": _share(handed, conversations) or 0.0,
        "group_questions": len(group_asked),
        "window": f"{start.isoformat()} .. {end.isoformat()} ({config.timezone})",
    }
    return out, metadata


@asset(
    key=BOT_INSIGHTS,
    group_name=GROUP,
    io_manager_key=WAREHOUSE,
    ins={"staging": AssetIn(STAGING_MESSAGES)},
    metadata={"write_mode": "replace"},
    owners=OWNERS,
    kinds={"duckdb", "pandas"},
    tags={"layer": "marts", "source": "telegram"},
    automation_condition=AutomationCondition.eager().without(
        ~AutomationCondition.any_deps_missing()
    ),
    description=(
        "What customers ask the Telegram bot, when, and how often it hands them to a person, "
        "over the last window_days (28) of staging/telegram_messages, times in "
        "America/Sao_Paulo. One row per insight (column insight). top_question: rank, the "
        "normalised question (lower case; no accents, emoji, punctuation or leading greeting) "
        "and the most common original wording as example, counted over customers' text "
        "messages of at least 3 words in private chats (captions and commands excluded). "
        "volume_by_hour, volume_by_weekday, volume_by_weekday_hour: customer messages "
        "(message and business_message updates not sent by a bot, channels excluded). "
        "handoff, the rule: a conversation is one private chat on one local day with at least "
        "one customer message or button press; it was handed to a human when, that day, the "
        "customer sent /atendente or /humano or pressed a button whose callback data starts "
        "with 'handoff' (the bot's 'Falar com um atendente' button); share = handed_to_human / "
        "conversations. Groups and supergroups, where a company's bot often lives: "
        "top_group_question counts customers' texts that mention a bot (Telegram bot usernames "
        "end in 'bot'; the mention is left out of the question), conversations being distinct "
        "customers in a group; group_handoff applies the hand-off rule to each customer's "
        "conversation in a group on one local day."
    ),
)
def bot_insights(
    context: AssetExecutionContext, config: BotInsightsConfig, staging: pd.DataFrame
) -> pd.DataFrame:
    frame, metadata = build_bot_insights(staging, config, dt.datetime.now(dt.UTC))
    context.add_output_metadata(metadata)
    return frame


def telegram_partition_keys(days: Iterable[dt.date]) -> list[str]:
    """The partition keys of ``days`` that exist (from the first partition through today)."""
    first = dt.date.fromisoformat(TELEGRAM_PARTITIONS.get_first_partition_key() or "1970-01-01")
    today = dt.datetime.now(dt.UTC).date()
    return [d.isoformat() for d in sorted(set(days)) if first <= d <= today]
