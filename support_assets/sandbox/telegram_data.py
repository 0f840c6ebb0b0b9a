"""Seeded Portuguese conversations for the Telegram simulator: people, chats and every update kind.

`UpdateFactory` turns a seeded `random.Random` into Bot API `Update` objects of the kinds the
notes list (messages with text, entities, photos, documents, voice, stickers, locations,
contacts, replies, forwards and media groups; edits; channel posts; business messages;
callback, inline and chosen-inline queries; polls and poll answers; member changes; join
requests; reactions), from private chats, groups, supergroups and channels. Each update comes
with a small annotation (`Generated.meta`) that the simulator's ground truth reports: its kind,
scenario, chat, the canonical question a customer asked and whether it asked for a person.

Entity offsets and lengths are counted in UTF-16 code units, as Telegram counts them, so an
emoji before a link shifts the link by two.
"""

from __future__ import annotations

import random
import string
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from support_assets.sandbox.octadesk_data import FIRST_NAMES, LAST_NAMES, ascii_slug

#: The update kinds the simulator generates (the notes' list); Telegram has more.
GENERATED_KINDS = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_message",
    "callback_query",
    "inline_query",
    "chosen_inline_result",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "message_reaction",
)

#: What a `message` update can carry; every one is generated.
MESSAGE_SCENARIOS = (
    "text",
    "entities",
    "photo",
    "document",
    "voice",
    "sticker",
    "location",
    "contact",
    "reply",
    "forward",
    "media_group",
)

#: Every scenario the factory knows (message scenarios, then one per other kind).
SCENARIOS = MESSAGE_SCENARIOS + GENERATED_KINDS[1:]

#: Relative frequency of each scenario: customers mostly write text.
SCENARIO_WEIGHTS = {
    "text": 30,
    "entities": 8,
    "photo": 5,
    "document": 3,
    "voice": 3,
    "sticker": 3,
    "location": 2,
    "contact": 2,
    "reply": 4,
    "forward": 2,
    "media_group": 2,
    "edited_message": 3,
    "channel_post": 3,
    "edited_channel_post": 1,
    "business_message": 3,
    "callback_query": 9,
    "inline_query": 2,
    "chosen_inline_result": 1,
    "poll": 1,
    "poll_answer": 2,
    "my_chat_member": 1,
    "chat_member": 2,
    "chat_join_request": 1,
    "message_reaction": 3,
}

BOT_USER = {
    "id": 7412300001,
    "is_bot": True,
    "first_name": "Aurora Atendimento",
    "username": "aurora_atendimento_bot",
}

#: What customers ask, in canonical form; messages vary case, accents, emoji and greetings.
QUESTIONS = (
    "Cadê meu pedido?",
    "Qual o prazo de entrega para Recife?",
    "Como faço para trocar o tamanho?",
    "Vocês aceitam Pix?",
    "Quero a segunda via do boleto",
    "O código de rastreio não atualiza",
    "Meu reembolso ainda não caiu",
    "Como cancelo minha compra?",
    "Posso pagar no cartão em 10 vezes?",
    "A nota fiscal não chegou no meu e-mail",
    "Tem loja física em São Paulo?",
    "O produto veio com defeito, e agora?",
    "Qual o horário de atendimento?",
    "Como altero o endereço de entrega?",
)
GREETINGS = ("Oi, ", "Olá! ", "Bom dia, ", "Boa tarde! ", "Boa noite, ", "Oi oi ")
QUESTION_EMOJI = (" 📦", " 😕", " 🙏", " 😡", " 🤔", " ⏳", " 💸", "🙂")
SMALL_TALK = (
    "Obrigada! 🙏",
    "Valeu 👍",
    "ok",
    "Perfeito, muito obrigado 😊",
    "Ainda estou aguardando...",
    "Alguém aí? 👀",
)
BOT_PROMPTS = (
    "Olá! Sou a Aurora, assistente virtual 🤖. Escolha uma opção:",
    "Qual o número do seu pedido?",
    "Posso ajudar em algo mais?",
    "Você ficou satisfeito com o atendimento?",
)
MENU_BUTTONS = (
    ("📦 Rastrear pedido", "menu:rastreio"),
    ("🔁 Trocas e devoluções", "menu:troca"),
    ("🧾 Segunda via do boleto", "menu:boleto"),
    ("💸 Pagar com Pix", "menu:pix"),
    ("👩\u200d💼 Falar com um atendente", "handoff:atendente"),
)
RATING_BUTTONS = (("⭐⭐⭐⭐⭐", "avaliacao:5"), ("⭐⭐⭐", "avaliacao:3"), ("⭐", "avaliacao:1"))
CAPTIONS = (
    "Olha como chegou 😢",
    "Segue o comprovante do Pix",
    "Foto da etiqueta",
    "É esse o modelo, mas veio outra cor",
    None,
)
DOCUMENTS = (
    ("comprovante_pix.pdf", "application/pdf"),
    ("nota_fiscal_48213.pdf", "application/pdf"),
    ("print_erro_app.png", "image/png"),
    (
        "pedido_devolucao.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
)
STICKERS = (
    ("😂", "AuroraStickers"),
    ("👍", "AuroraStickers"),
    ("❤️", "GatinhosBR"),
    ("😭", "GatinhosBR"),
)
CITIES = (
    ("São Paulo", -23.5505, -46.6333),
    ("Recife", -8.0476, -34.8770),
    ("Belo Horizonte", -19.9167, -43.9345),
    ("Porto Alegre", -30.0346, -51.2177),
    ("Manaus", -3.1190, -60.0217),
)
GROUPS = (
    {"title": "Clientes VIP Aurora 💎", "type": "supergroup"},
    {"title": "Suporte Lojistas", "type": "group"},
    {"title": "Revendedores Nordeste 🌵", "type": "supergroup"},
)
CHANNELS = (
    {"title": "Aurora Ofertas 🛍️", "username": "aurora_ofertas"},
    {"title": "Avisos de Entrega Aurora", "username": "aurora_avisos"},
)
CHANNEL_POSTS = (
    "📢 Promoção relâmpago: 20% off em tênis até domingo! #ofertas",
    "🚚 Atenção: entregas no Sul podem atrasar por causa das chuvas. #avisos",
    "Novidades da coleção de verão ☀️ já no site: https://loja-aurora.com.br/verao #lancamento",
    "Black Friday chegando 🖤 Fique de olho no canal! #blackfriday",
)
GROUP_CHATTER = (
    "Alguém mais com pedido atrasado? 🤔",
    "Chegou o meu hoje, muito bom 😍",
    "Qual o melhor tamanho pra quem veste 40?",
    "Bom dia grupo ☀️",
)
POLL_QUESTIONS = (
    ("Como você avalia nosso atendimento? ⭐", ("Ótimo 😍", "Bom 🙂", "Regular 😐", "Ruim 😞")),
    ("Qual horário você prefere receber entregas? 🚚", ("Manhã", "Tarde", "Noite")),
)
INLINE_QUERIES = ("tênis corrida", "camiseta básica", "fone bluetooth", "mochila", "")
REACTIONS = ("👍", "❤", "🔥", "🙏", "😢", "👎")
BIOS = ("Cliente desde 2021 🛒", "Revendedora em Fortaleza", "", "Amo a Aurora 💜")

ENTITY_TEMPLATES = (
    "command_tracking",
    "command_handoff",
    "command_start",
    "link_hashtag",
    "email_phone",
    "mention",
    "bold",
)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def strip_accents(text: str) -> str:
    """Drop combining accents ("Cadê" -> "Cade"), as people typing fast do."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", plain)


@dataclass
class Generated:
    """One generated update and what the ground truth says about it."""

    update: dict[str, Any]
    meta: dict[str, Any]


@dataclass
class _Chat:
    obj: dict[str, Any]
    next_message_id: int = 1
    recent: list[dict[str, Any]] = field(default_factory=list)

    def message_id(self) -> int:
        mid = self.next_message_id
        self.next_message_id += 1
        return mid

    def remember(self, message: dict[str, Any]) -> None:
        self.recent.append(message)
        del self.recent[:-20]


class UpdateFactory:
    """Builds realistic updates from one seeded generator; same seed, same sequence."""

    def __init__(self, rng: random.Random, customers: int = 80) -> None:
        self.rng = rng
        self.customers = [self._user() for _ in range(customers)]
        self.private = {u["id"]: _Chat(self._private_chat(u)) for u in self.customers}
        self.groups = [
            _Chat({"id": self._group_id(g["type"]), **g}, next_message_id=rng.randint(100, 900))
            for g in GROUPS
        ]
        self.channels = [
            _Chat(
                {"id": self._group_id("channel"), "type": "channel", **c},
                next_message_id=rng.randint(10, 300),
            )
            for c in CHANNELS
        ]
        self.business_connection_id = self._token(22)
        self.polls: list[dict[str, Any]] = []
        self.media_group_seq = rng.randint(13_000_000_000_000_000, 13_900_000_000_000_000)
        self._pending_media: list[Generated] = []

    # ---- identities ------------------------------------------------------------------------

    def _token(self, n: int) -> str:
        return "".join(
            self.rng.choice(string.ascii_letters + string.digits + "_-") for _ in range(n)
        )

    def _user(self) -> dict[str, Any]:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        user: dict[str, Any] = {
            "id": rng.randint(100_000_000, 7_999_999_999),
            "is_bot": False,
            "first_name": first,
        }
        if rng.random() < 0.8:
            user["last_name"] = last
        if rng.random() < 0.6:
            user["username"] = (
                f"{ascii_slug(first)}_{ascii_slug(last)}{rng.randint(1, 99)}".replace(".", "_")
            )
        user["language_code"] = rng.choices(["pt-br", "pt", "en", "es"], [80, 10, 7, 3])[0]
        return user

    @staticmethod
    def _private_chat(user: dict[str, Any]) -> dict[str, Any]:
        chat = {"id": user["id"], "first_name": user["first_name"]}
        for key in ("last_name", "username"):
            if key in user:
                chat[key] = user[key]
        chat["type"] = "private"
        return chat

    def _group_id(self, kind: str) -> int:
        if kind == "group":
            return -self.rng.randint(4_000_000_000, 4_999_999_999)
        return -(1_000_000_000_000 + self.rng.randint(1_000_000_000, 2_999_999_999))

    def _file(self, prefix: str) -> dict[str, str]:
        return {
            "file_id": prefix + self._token(50),
            "file_unique_id": "AQAD" + self._token(12),
        }

    def customer(self) -> dict[str, Any]:
        return self.rng.choice(self.customers)

    # ---- text ------------------------------------------------------------------------------

    def question_text(self) -> tuple[str, str]:
        """A customer's question as typed, and its canonical form."""
        rng = self.rng
        # A few questions dominate, as in real support traffic.
        weights = [1 / (k + 1) for k in range(len(QUESTIONS))]
        canonical = rng.choices(QUESTIONS, weights)[0]
        text = canonical
        if rng.random() < 0.3:
            text = strip_accents(text)
        shape = rng.random()
        if shape < 0.2:
            text = text.lower()
        elif shape < 0.27:
            text = text.upper()
        if rng.random() < 0.3:
            text = text.rstrip("?") + rng.choice(("??", "?!", "", "..."))
        if rng.random() < 0.35:
            text = rng.choice(GREETINGS) + text[0].lower() + text[1:]
        if rng.random() < 0.35:
            text += rng.choice(QUESTION_EMOJI)
        return text, canonical

    @staticmethod
    def _with_entities(parts: list[tuple[str, str | None, dict[str, Any]]]) -> tuple[str, list]:
        text, entities = "", []
        for chunk, kind, extra in parts:
            if kind:
                entities.append(
                    {"offset": utf16_len(text), "length": utf16_len(chunk), "type": kind, **extra}
                )
            text += chunk
        return text, entities

    def entity_text(self, template: str) -> tuple[str, list[dict[str, Any]], bool]:
        """Text with entities for one template; the bool says it asks for a person."""
        rng = self.rng
        order = rng.randint(10_000, 99_999)
        if template == "command_tracking":
            letters = rng.choice("ABCDJLOPQRS") + rng.choice("ABCDJLOPQRS")
            code = f"{letters}{rng.randint(0, 999_999_999):09d}BR"
            text, ents = self._with_entities(
                [("/rastreio", "bot_command", {}), (f" {code}", None, {})]
            )
            return text, ents, False
        if template == "command_handoff":
            suffix = rng.choice(("", "@aurora_atendimento_bot"))
            text, ents = self._with_entities(
                [
                    (f"/atendente{suffix}", "bot_command", {}),
                    (rng.choice(("", " por favor 🙏")), None, {}),
                ]
            )
            return text, ents, True
        if template == "command_start":
            text, ents = self._with_entities([(rng.choice(("/start", "/menu")), "bot_command", {})])
            return text, ents, False
        if template == "link_hashtag":
            url = f"https://loja-aurora.com.br/pedidos/{order}"
            text, ents = self._with_entities(
                [
                    (rng.choice(("Oi 😊 segue o link do pedido: ", "Link: ", "🔗 ")), None, {}),
                    (url, "url", {}),
                    (" ", None, {}),
                    (rng.choice(("#troca", "#entrega", "#reembolso")), "hashtag", {}),
                ]
            )
            return text, ents, False
        if template == "email_phone":
            user = self.customer()
            email = f"{ascii_slug(user['first_name'])}{order % 100}@gmail.com"
            phone = f"+55 11 9{rng.randint(1000, 9999)}-{rng.randint(0, 9999):04d}"
            text, ents = self._with_entities(
                [
                    ("Meu e-mail é ", None, {}),
                    (email, "email", {}),
                    (" e o telefone ", None, {}),
                    (phone, "phone_number", {}),
                    (" 📞", None, {}),
                ]
            )
            return text, ents, False
        if template == "mention":
            text, ents = self._with_entities(
                [("@aurora_atendimento_bot", "mention", {}), (" preciso de ajuda 🙋", None, {})]
            )
            return text, ents, False
        text, ents = self._with_entities(
            [("⚠️ ", None, {}), ("URGENTE", "bold", {}), (f": pedido {order} veio errado", None, {})]
        )
        return text, ents, False

    # ---- messages --------------------------------------------------------------------------

    def _message(self, chat: _Chat, date: int, sender: dict[str, Any] | None) -> dict[str, Any]:
        message: dict[str, Any] = {"message_id": chat.message_id()}
        if sender is not None:
            message["from"] = sender
        message["chat"] = chat.obj
        message["date"] = date
        return message

    def _bot_message(self, chat: _Chat, date: int, buttons: tuple = ()) -> dict[str, Any]:
        message = self._message(chat, date - self.rng.randint(5, 600), BOT_USER)
        message["text"] = self.rng.choice(BOT_PROMPTS)
        if buttons:
            message["reply_markup"] = {
                "inline_keyboard": [[{"text": t, "callback_data": d}] for t, d in buttons]
            }
        return message

    def _customer_chat(self) -> tuple[dict[str, Any], _Chat]:
        user = self.customer()
        return user, self.private[user["id"]]

    def _meta(self, kind: str, scenario: str, chat: dict[str, Any] | None, **extra: Any) -> dict:
        return {
            "kind": kind,
            "scenario": scenario,
            "chat_id": None if chat is None else chat["id"],
            "chat_type": None if chat is None else chat["type"],
            "question": extra.pop("question", None),
            "handoff": extra.pop("handoff", False),
            **extra,
        }

    def message_scenario(self, scenario: str, date: int) -> Generated | list[Generated]:
        rng = self.rng
        in_group = scenario in ("text", "photo", "sticker", "reply") and rng.random() < 0.15
        user = self.customer()
        chat = rng.choice(self.groups) if in_group else self.private[user["id"]]
        msg = self._message(chat, date, user)
        meta: dict[str, Any] = {}
        if scenario == "text":
            if rng.random() < 0.8:
                msg["text"], meta["question"] = self.question_text()
                if in_group:  # in a group a customer reaches the bot by mentioning it
                    mention = f"@{BOT_USER['username']}"
                    msg["text"] = f"{mention} {msg['text']}"
                    msg["entities"] = [{"offset": 0, "length": len(mention), "type": "mention"}]
            else:
                msg["text"] = rng.choice(SMALL_TALK + GROUP_CHATTER if in_group else SMALL_TALK)
        elif scenario == "entities":
            template = rng.choice(ENTITY_TEMPLATES)
            msg["text"], msg["entities"], meta["handoff"] = self.entity_text(template)
            meta["template"] = template
        elif scenario == "photo":
            width, height = rng.choice(((1280, 960), (960, 1280), (1280, 720)))
            msg["photo"] = [
                {**self._file("AgACAgEAAxkBAAI"), "width": w, "height": h, "file_size": w * h // 9}
                for w, h in (
                    (90, 90 * height // width),
                    (320, 320 * height // width),
                    (width, height),
                )
            ]
            caption = rng.choice(CAPTIONS)
            if caption:
                msg["caption"] = caption
        elif scenario == "document":
            name, mime = rng.choice(DOCUMENTS)
            msg["document"] = {
                "file_name": name,
                "mime_type": mime,
                **self._file("BQACAgEAAxkBAAI"),
                "file_size": rng.randint(20_000, 2_000_000),
            }
            if rng.random() < 0.5:
                msg["caption"] = "Segue em anexo 📎"
        elif scenario == "voice":
            msg["voice"] = {
                "duration": rng.randint(2, 90),
                "mime_type": "audio/ogg",
                **self._file("AwACAgEAAxkBAAI"),
                "file_size": rng.randint(4_000, 400_000),
            }
        elif scenario == "sticker":
            emoji, set_name = rng.choice(STICKERS)
            msg["sticker"] = {
                "width": 512,
                "height": 512,
                "emoji": emoji,
                "set_name": set_name,
                "is_animated": rng.random() < 0.3,
                "is_video": False,
                "type": "regular",
                **self._file("CAACAgIAAxkBAAI"),
                "file_size": rng.randint(10_000, 60_000),
            }
        elif scenario == "location":
            _, lat, lon = rng.choice(CITIES)
            msg["location"] = {
                "latitude": round(lat + rng.uniform(-0.05, 0.05), 6),
                "longitude": round(lon + rng.uniform(-0.05, 0.05), 6),
            }
        elif scenario == "contact":
            other = self.customer()
            msg["contact"] = {
                "phone_number": f"+55{rng.choice((11, 21, 81))}9{rng.randint(10**7, 10**8 - 1)}",
                "first_name": other["first_name"],
                **({"last_name": other["last_name"]} if "last_name" in other else {}),
                "user_id": other["id"],
            }
        elif scenario == "reply":
            target = chat.recent[-1] if chat.recent and rng.random() < 0.6 else None
            if target is None:
                target = self._bot_message(chat, date)
            # Telegram never nests a reply inside the message replied to.
            msg["reply_to_message"] = {k: v for k, v in target.items() if k != "reply_to_message"}
            msg["text"] = rng.choice(
                (f"É o pedido {rng.randint(10_000, 99_999)}", "Isso mesmo 👍", "Não, o outro 😅")
            )
        elif scenario == "forward":
            origin_kind = rng.choice(("user", "channel", "hidden_user"))
            if origin_kind == "user":
                origin = {"type": "user", "sender_user": self.customer()}
            elif origin_kind == "channel":
                channel = rng.choice(self.channels)
                origin = {
                    "type": "channel",
                    "chat": channel.obj,
                    "message_id": max(1, channel.next_message_id - rng.randint(1, 9)),
                }
            else:
                origin = {"type": "hidden_user", "sender_user_name": rng.choice(FIRST_NAMES)}
            origin["date"] = date - rng.randint(60, 86_400 * 3)
            msg["forward_origin"] = origin
            msg["text"] = rng.choice(CHANNEL_POSTS + ("Olha essa mensagem que recebi 👇",))
        elif scenario == "media_group":
            return self._media_group(chat, user, date)
        chat.remember(msg)
        return Generated(
            {"message": msg},
            self._meta("message", scenario, chat.obj, **meta),
        )

    def _media_group(self, chat: _Chat, user: dict[str, Any], date: int) -> list[Generated]:
        self.media_group_seq += self.rng.randint(1, 10_000)
        group_id = str(self.media_group_seq)
        out = []
        for k in range(self.rng.randint(2, 4)):
            msg = self._message(chat, date, user)
            msg["media_group_id"] = group_id
            msg["photo"] = [
                {**self._file("AgACAgEAAxkBAAI"), "width": w, "height": h, "file_size": w * h // 9}
                for w, h in ((90, 67), (800, 600))
            ]
            if k == 0:
                msg["caption"] = "Fotos do produto com defeito 📸"
            chat.remember(msg)
            out.append(
                Generated(
                    {"message": msg},
                    self._meta("message", "media_group", chat.obj, media_group_id=group_id),
                )
            )
        return out

    def scenario(self, scenario: str, date: int) -> list[Generated]:
        """Updates for one scenario (a media group yields several), without update ids."""
        if scenario in MESSAGE_SCENARIOS:
            made = self.message_scenario(scenario, date)
            return made if isinstance(made, list) else [made]
        return [getattr(self, f"_{scenario}")(date)]

    def _edited_message(self, date: int) -> Generated:
        user, chat = self._customer_chat()
        original = next((m for m in reversed(chat.recent) if "text" in m), None)
        if original is None:
            original = self._message(chat, date - self.rng.randint(30, 900), user)
            original["text"], _ = self.question_text()
            chat.remember(original)
        edited = {**original, "edit_date": max(date, original["date"] + 1)}
        edited["text"] = original["text"] + self.rng.choice(
            (" (pedido 48213)", " — corrigindo: é o pedido 51102", "!")
        )
        return Generated(
            {"edited_message": edited}, self._meta("edited_message", "edited_message", chat.obj)
        )

    def _channel_post(self, date: int) -> Generated:
        channel = self.rng.choice(self.channels)
        post = self._message(channel, date, None)
        post["sender_chat"] = channel.obj
        text = self.rng.choice(CHANNEL_POSTS)
        parts: list[tuple[str, str | None, dict]] = []
        for word in text.split(" "):
            prefix = " " if parts else ""
            if word.startswith("#"):
                parts += [(prefix, None, {}), (word, "hashtag", {})]
            elif word.startswith("https://"):
                parts += [(prefix, None, {}), (word, "url", {})]
            else:
                parts.append((prefix + word, None, {}))
        post["text"], entities = self._with_entities(parts)
        if entities:
            post["entities"] = entities
        channel.remember(post)
        return Generated(
            {"channel_post": post}, self._meta("channel_post", "channel_post", channel.obj)
        )

    def _edited_channel_post(self, date: int) -> Generated:
        channel = self.rng.choice(self.channels)
        original = channel.recent[-1] if channel.recent else None
        if original is None:
            original = self._channel_post(date - 300).update["channel_post"]
        edited = {**original, "edit_date": max(date, original["date"] + 1)}
        edited["text"] = original["text"] + " (atualizado ✏️)"
        return Generated(
            {"edited_channel_post": edited},
            self._meta("edited_channel_post", "edited_channel_post", channel.obj),
        )

    def _business_message(self, date: int) -> Generated:
        user, chat = self._customer_chat()
        msg = {
            "business_connection_id": self.business_connection_id,
            **self._message(chat, date, user),
        }
        msg["text"], question = self.question_text()
        chat.remember(msg)
        return Generated(
            {"business_message": msg},
            self._meta("business_message", "business_message", chat.obj, question=question),
        )

    def _callback_query(self, date: int) -> Generated:
        rng = self.rng
        user, chat = self._customer_chat()
        buttons = MENU_BUTTONS if rng.random() < 0.75 else RATING_BUTTONS
        weights = [3, 2, 2, 2, 2] if buttons is MENU_BUTTONS else [4, 2, 1]
        _, data = rng.choices(buttons, weights)[0]
        query = {
            "id": str(rng.randint(10**17, 10**19)),
            "from": user,
            "message": self._bot_message(chat, date, buttons),
            "chat_instance": str(-rng.randint(10**17, 10**19)),
            "data": data,
        }
        return Generated(
            {"callback_query": query},
            self._meta(
                "callback_query",
                "callback_query",
                chat.obj,
                handoff=data.startswith("handoff"),
                callback_data=data,
            ),
        )

    def _inline_query(self, date: int) -> Generated:
        user = self.customer()
        query = {
            "id": str(self.rng.randint(10**17, 10**19)),
            "from": user,
            "query": self.rng.choice(INLINE_QUERIES),
            "offset": "",
            "chat_type": self.rng.choice(("sender", "private", "group")),
        }
        return Generated({"inline_query": query}, self._meta("inline_query", "inline_query", None))

    def _chosen_inline_result(self, date: int) -> Generated:
        user = self.customer()
        result = {
            "result_id": f"produto-{self.rng.randint(100, 999)}",
            "from": user,
            "query": self.rng.choice(INLINE_QUERIES[:-1]),
        }
        return Generated(
            {"chosen_inline_result": result},
            self._meta("chosen_inline_result", "chosen_inline_result", None),
        )

    def _new_poll(self) -> dict[str, Any]:
        question, options = self.rng.choice(POLL_QUESTIONS)
        poll = {
            "id": str(self.rng.randint(10**18, 6 * 10**18)),
            "question": question,
            "options": [{"text": o, "voter_count": 0} for o in options],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": False,
            "type": "regular",
            "allows_multiple_answers": False,
        }
        self.polls.append(poll)
        return poll

    def _poll(self, date: int) -> Generated:
        poll = self.rng.choice(self.polls) if self.polls and self.rng.random() < 0.7 else None
        poll = poll or self._new_poll()
        option = self.rng.randrange(len(poll["options"]))
        poll["options"][option]["voter_count"] += 1
        poll["total_voter_count"] += 1
        if poll["total_voter_count"] > 30:
            poll["is_closed"] = True
        snapshot = {**poll, "options": [dict(o) for o in poll["options"]]}
        return Generated({"poll": snapshot}, self._meta("poll", "poll", None, poll_id=poll["id"]))

    def _poll_answer(self, date: int) -> Generated:
        poll = self.rng.choice(self.polls) if self.polls else self._new_poll()
        answer = {
            "poll_id": poll["id"],
            "user": self.customer(),
            "option_ids": [self.rng.randrange(len(poll["options"]))],
        }
        return Generated(
            {"poll_answer": answer},
            self._meta("poll_answer", "poll_answer", None, poll_id=poll["id"]),
        )

    def _member(self, user: dict[str, Any], status: str) -> dict[str, Any]:
        member: dict[str, Any] = {"user": user, "status": status}
        if status == "kicked":
            member["until_date"] = 0
        return member

    def _my_chat_member(self, date: int) -> Generated:
        rng = self.rng
        if rng.random() < 0.6:
            user, chat = self._customer_chat()
            old, new = ("member", "kicked") if rng.random() < 0.7 else ("kicked", "member")
            actor = user
        else:
            chat = rng.choice(self.groups)
            old, new = ("left", "member") if rng.random() < 0.7 else ("member", "administrator")
            actor = self.customer()
        update = {
            "chat": chat.obj,
            "from": actor,
            "date": date,
            "old_chat_member": self._member(BOT_USER, old),
            "new_chat_member": self._member(BOT_USER, new),
        }
        if new == "administrator":
            update["new_chat_member"].update(
                {"can_be_edited": False, "can_manage_chat": True, "can_delete_messages": True,
                 "can_restrict_members": True, "can_invite_users": True, "is_anonymous": False}
            )  # fmt: skip
        return Generated(
            {"my_chat_member": update}, self._meta("my_chat_member", "my_chat_member", chat.obj)
        )

    def _chat_member(self, date: int) -> Generated:
        chat = self.rng.choice(self.groups)
        user = self.customer()
        old, new = self.rng.choice((("left", "member"), ("member", "left"), ("member", "kicked")))
        update = {
            "chat": chat.obj,
            "from": user if new != "kicked" else self.customer(),
            "date": date,
            "old_chat_member": self._member(user, old),
            "new_chat_member": self._member(user, new),
        }
        return Generated(
            {"chat_member": update}, self._meta("chat_member", "chat_member", chat.obj)
        )

    def _chat_join_request(self, date: int) -> Generated:
        chat = self.rng.choice([g for g in self.groups if g.obj["type"] == "supergroup"])
        user = self.customer()
        request = {
            "chat": chat.obj,
            "from": user,
            "user_chat_id": user["id"],
            "date": date,
            "bio": self.rng.choice(BIOS),
            "invite_link": {
                "invite_link": "https://t.me/+" + self._token(10) + "...",
                "creator": BOT_USER,
                "creates_join_request": True,
                "is_primary": False,
                "is_revoked": False,
                "name": "Convite clientes VIP",
            },
        }
        if not request["bio"]:
            del request["bio"]
        return Generated(
            {"chat_join_request": request},
            self._meta("chat_join_request", "chat_join_request", chat.obj),
        )

    def _message_reaction(self, date: int) -> Generated:
        rng = self.rng
        chat = rng.choice(self.groups)
        target = chat.recent[-1]["message_id"] if chat.recent else max(1, chat.next_message_id - 1)
        old = [] if rng.random() < 0.8 else [{"type": "emoji", "emoji": rng.choice(REACTIONS)}]
        new = [{"type": "emoji", "emoji": rng.choice(REACTIONS)}] if rng.random() < 0.9 else []
        reaction = {
            "chat": chat.obj,
            "message_id": target,
            "user": self.customer(),
            "date": date,
            "old_reaction": old,
            "new_reaction": new,
        }
        return Generated(
            {"message_reaction": reaction},
            self._meta("message_reaction", "message_reaction", chat.obj),
        )

    # ---- batches ---------------------------------------------------------------------------

    def plan(self, count: int) -> list[str]:
        """Scenarios for a batch of `count` updates: weighted, and every one at least once when
        the batch is large enough to hold them all (a media group counts as one)."""
        names = list(SCENARIO_WEIGHTS)
        weights = [SCENARIO_WEIGHTS[n] for n in names]
        plan = self.rng.choices(names, weights, k=count)
        if count >= 4 * len(SCENARIOS):
            slots = self.rng.sample(range(count), len(SCENARIOS))
            for slot, name in zip(slots, SCENARIOS, strict=True):
                plan[slot] = name
        return plan
