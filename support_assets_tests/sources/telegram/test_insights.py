"""Bot insights' rules on staging rows built by hand: question normalisation, the top
questions, volume by local hour and weekday, and the hand-off rule."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from support_assets.sources.telegram.insights import (
    BotInsightsConfig,
    build_bot_insights,
    normalise_question,
)
from support_assets.sources.telegram.messages import STAGING_SCHEMA


def row(update_id: int, chat_id: int, text: str | None = None, **values: Any) -> dict:
    """A staging row; ``sent``/``got`` are "DD HH:MM" in November 2026, UTC."""
    out = dict.fromkeys(STAGING_SCHEMA.names)
    out.update(
        update_id=update_id,
        chat_id=chat_id,
        text=text,
        kind="message",
        known_kind=True,
        chat_type="private",
        sender_is_bot=False,
    )
    for name, column in (("sent", "sent_at"), ("got", "received_at")):
        if name in values:
            out[column] = pd.Timestamp(f"2026-11-{values.pop(name)}", tz="UTC")
    out.update(values)
    return out


def test_normalised_questions() -> None:
    assert normalise_question("Oi, cadê meu pedido?? 📦") == "cade meu pedido"
    assert normalise_question("CADE MEU PEDIDO") == "cade meu pedido"
    assert normalise_question("Boa tarde! Vocês aceitam Pix?") == "voces aceitam pix"
    assert normalise_question("Oi oi o código de rastreio não atualiza") == (
        "o codigo de rastreio nao atualiza"
    )
    assert normalise_question("Bom dia ☀️") == ""


def test_bot_insights_questions_volume_and_the_handoff_rule() -> None:
    handoff_button = {"kind": "callback_query", "callback_data": "handoff:atendente"}
    rows = [
        # chat 1, Friday 20/11 10:00 in São Paulo: a question, then /atendente -> handed over
        row(1, 1, "Oi, cadê meu pedido?? 📦", sent="20 13:00"),
        row(2, 1, "/atendente", command="/atendente", sent="20 13:01"),
        # chat 2: 02:30 UTC on the 20th is Thursday 19/11 23:30 in São Paulo; then the hand-off
        # button (a callback query has no date: its receipt time counts) -> handed over
        row(3, 2, "CADE MEU PEDIDO", sent="20 02:30"),
        row(4, 2, got="20 02:31", **handoff_button),
        # chat 2 again two days later: another conversation, not handed over
        row(5, 2, "Qual o prazo de entrega para Recife?", sent="21 14:00"),
        # chat 3: a question, a photo caption (not a question), a menu button
        row(6, 3, "Vocês aceitam Pix?", kind="business_message", sent="21 15:00"),
        row(7, 3, "Olha como chegou 😢", media_kind="photo", sent="21 15:01"),
        row(8, 3, kind="callback_query", callback_data="menu:pix", got="21 15:02"),
        # not customers' messages: the bot, a channel; a group message counts as volume only
        row(9, 3, "Qual o número do pedido?", sender_is_bot=True, sent="21 15:03"),
        row(10, -100, "Promoção hoje", chat_type="channel", kind="channel_post", sent="21 15:04"),
        row(11, -200, "cadê meu pedido gente", chat_type="supergroup", sent="21 16:00"),
        # outside the 28-day window (before 2 November)
        row(12, 4, "Cadê meu pedido?", sent="01 12:00"),
    ]
    frame = pd.DataFrame(rows)
    now = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    insights, meta = build_bot_insights(frame, BotInsightsConfig(), now)

    top = insights[insights["insight"] == "top_question"]
    assert top[["rank", "question", "messages", "conversations"]].values.tolist() == [
        [1, "cade meu pedido", 2, 2],
        [2, "qual o prazo de entrega para recife", 1, 1],
        [3, "voces aceitam pix", 1, 1],
    ]
    assert top.iloc[0]["example"] in ("Oi, cadê meu pedido?? 📦", "CADE MEU PEDIDO")

    handoff = insights[insights["insight"] == "handoff"].iloc[0]
    assert (handoff["conversations"], handoff["handed_to_human"]) == (4, 2)
    assert handoff["share"] == 0.5

    # Customer messages: 1, 2, 3, 5, 6, 7, 11 (the bot, the channel, callbacks, old: no).
    hours = insights[insights["insight"] == "volume_by_hour"].set_index("hour")["messages"]
    assert hours.sum() == 7 == meta["customer_messages"]
    assert (hours[10], hours[23], hours[11], hours[12], hours[13]) == (2, 1, 1, 2, 1)
    weekdays = insights[insights["insight"] == "volume_by_weekday"].set_index("weekday_name")
    assert weekdays["messages"].to_dict() == {
        "segunda-feira": 0, "terça-feira": 0, "quarta-feira": 0, "quinta-feira": 1,
        "sexta-feira": 2, "sábado": 4, "domingo": 0,
    }  # fmt: skip
    assert set(insights["timezone"]) == {"America/Sao_Paulo"}
