"""marts/bot_insights: what customers ask the Telegram bot, when, and how often it hands them
to a person, over a window of staging/telegram_messages (see the asset's description)."""

import datetime as dt
import json
import re
import unicodedata
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, AutomationCondition, Config, asset
from pydantic import Field

from support_assets.core.constants import OWNERS, WAREHOUSE
from support_assets.sources.telegram.handoff import (
    CUSTOMER_KINDS,
    conversation_handoffs,
    customer_updates,
)
from support_assets.sources.telegram.messages import STAGING_SCHEMA
from support_assets.sources.telegram.tables import BOT_INSIGHTS, GROUP, STAGING_MESSAGES

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
    """The window, list length and time zone of marts/bot_insights."""

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
    flags = conversation_handoffs(people, conversation)["handed_to_human"]
    conversations, handed = len(flags), int(flags.sum())
    return {
        "insight": insight,
        "conversations": conversations,
        "handed_to_human": handed,
        "share": _share(handed, conversations),
    }


def _in_window(
    staging: pd.DataFrame, config: BotInsightsConfig, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Staging rows that happened between ``start`` and ``end``, with ``event_at`` (sent, else
    received) and the customers' local day, hour and ISO weekday."""
    frame = staging.copy() if not staging.empty else pd.DataFrame(columns=STAGING_SCHEMA.names)
    for column in ("sent_at", "received_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["event_at"] = frame["sent_at"].fillna(frame["received_at"])
    frame = frame[(frame["event_at"] >= start) & (frame["event_at"] <= end)]
    local = frame["event_at"].dt.tz_convert(ZoneInfo(config.timezone))
    return frame.assign(local_day=local.dt.date, hour=local.dt.hour, weekday=local.dt.weekday + 1)


def _customer_messages(frame: pd.DataFrame) -> pd.DataFrame:
    """Messages customers sent: message and business_message updates not sent by a bot,
    channels excluded."""
    people = customer_updates(frame)
    return people[people["kind"].isin(CUSTOMER_KINDS) & (people["chat_type"] != "channel")]


def _question_rows(customer: pd.DataFrame, top: int) -> tuple[list[dict[str, Any]], int, int]:
    """The top questions, and how many questions were asked in private chats and in groups.

    Customers' texts in private chats (no captions, no commands), and in groups the texts that
    mention a bot (how a customer addresses it there)."""
    texts = customer[customer["text"].notna() & customer["media_kind"].isna()]
    texts = texts[~texts["text"].str.startswith("/")]
    private_asked = _questions(texts[texts["chat_type"] == "private"])
    groups = texts[texts["chat_type"].isin(GROUP_CHAT_TYPES)]
    group_asked = _questions(groups[groups["entities"].map(mentions_bot)])
    rows = _top_questions(private_asked, "top_question", ["chat_id"], top)
    rows += _top_questions(group_asked, "top_group_question", ["chat_id", "sender_id"], top)
    return rows, len(private_asked), len(group_asked)


def _volume_rows(customer: pd.DataFrame) -> list[dict[str, Any]]:
    """Customer messages by local hour, weekday, and both."""
    volume = len(customer)
    by_hour = customer.groupby("hour").size()
    by_weekday = customer.groupby("weekday").size()
    by_both = customer.groupby(["weekday", "hour"]).size()
    rows: list[dict[str, Any]] = []
    for hour in range(24):
        n = int(by_hour.get(hour, 0))
        rows.append(
            {"insight": "volume_by_hour", "hour": hour, "messages": n, "share": _share(n, volume)}
        )
    for weekday in range(1, 8):
        rows.append(_weekday_row("volume_by_weekday", weekday, by_weekday.get(weekday, 0), volume))
    for (weekday, hour), n in by_both.items():
        rows.append(
            {**_weekday_row("volume_by_weekday_hour", weekday, n, volume), "hour": int(hour)}
        )
    return rows


def _weekday_row(insight: str, weekday: Any, messages: Any, volume: int) -> dict[str, Any]:
    return {
        "insight": insight,
        "weekday": int(weekday),
        "weekday_name": WEEKDAYS[int(weekday) - 1],
        "messages": int(messages),
        "share": _share(messages, volume),
    }


def _handoff_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Private conversations (chat x local day), and in groups each customer's conversation
    (chat x sender x local day), with those where the customer asked for a person."""
    people = customer_updates(frame)
    private = people[people["chat_type"] == "private"]
    group_people = people[people["chat_type"].isin(GROUP_CHAT_TYPES)]
    return [
        _handoff_row(private, ["chat_id", "local_day"], "handoff"),
        _handoff_row(group_people, ["chat_id", "sender_id", "local_day"], "group_handoff"),
    ]


_INSIGHT_TYPES = {
    "rank": "Int64",
    "weekday": "Int64",
    "hour": "Int64",
    "messages": "Int64",
    "conversations": "Int64",
    "handed_to_human": "Int64",
    "share": "float64",
}


def build_bot_insights(
    staging: pd.DataFrame, config: BotInsightsConfig, now: dt.datetime
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The insight rows (see the asset description) from staging rows of any days."""
    end = pd.Timestamp(now).tz_convert("UTC")
    start = end - pd.Timedelta(days=config.window_days)
    frame = _in_window(staging, config, start, end)
    customer = _customer_messages(frame)
    questions, total_questions, group_questions = _question_rows(customer, config.top_questions)
    handoffs = _handoff_rows(frame)
    rows = questions + _volume_rows(customer) + handoffs
    out = pd.DataFrame(rows, columns=INSIGHT_COLUMNS)
    out["window_start"] = start
    out["window_end"] = end
    out["timezone"] = config.timezone
    conversations, handed = handoffs[0]["conversations"], handoffs[0]["handed_to_human"]
    metadata = {
        "customer_messages": len(customer),
        "questions": total_questions,
        "conversations": conversations,
        "handed_to_human": handed,
        "handoff_share": _share(handed, conversations) or 0.0,
        "group_questions": group_questions,
        "window": f"{start.isoformat()} .. {end.isoformat()} ({config.timezone})",
    }
    return out.astype(_INSIGHT_TYPES), metadata


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
