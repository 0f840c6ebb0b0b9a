"""Seeded Brazilian Portuguese vocabulary and value generators for the Octadesk simulator."""

from __future__ import annotations

import functools
import random
import unicodedata
import uuid

from stdnum.br import cpf as cpf_number

MASK64 = (1 << 64) - 1

FIRST_NAMES = (
    "Ana", "João", "Maria", "José", "Antônio", "Francisco", "Luíza", "Letícia", "Márcia",
    "Fábio", "Cláudia", "Sérgio", "Vitória", "Júlia", "Caio", "Thaís", "Mônica", "Rogério",
    "Otávio", "Bárbara", "Conceição", "Lúcia", "Inês", "Tânia", "Vinícius", "Patrícia",
    "Mariana", "Pedro", "Gabriel", "Beatriz", "Luís", "Renata", "Érica", "Ígor", "Estêvão",
    "Débora", "Flávia", "Rômulo", "Jéssica", "Natália", "Ângela", "Márcio", "Cecília",
)  # fmt: skip
LAST_NAMES = (
    "Souza", "Silva", "Santos", "Oliveira", "Pereira", "Gonçalves", "Araújo", "Conceição",
    "Assunção", "Magalhães", "Simões", "Brandão", "Falcão", "Guimarães", "Leão", "Romão",
    "Mendonça", "Lima", "Ferreira", "Rodrigues", "Almeida", "Nascimento", "Damião", "Lopes",
    "Ribeiro", "Carvalho", "Gomes", "Martins", "Rocha", "Azevedo", "Castro", "Patrício",
)  # fmt: skip
EMAIL_DOMAINS = (
    "gmail.com", "hotmail.com", "outlook.com", "yahoo.com.br", "uol.com.br", "bol.com.br",
    "terra.com.br", "example.com.br",
)  # fmt: skip
AGENT_NAMES = (
    "Carla Dias", "Rafael Antunes", "Juliana Paixão", "Tiago Gonçalves", "Fernanda Araújo",
    "Bruno Simões", "Larissa Magalhães", "Diego Falcão",
)  # fmt: skip
GROUP_NAMES = (
    "Suporte N1", "Suporte N2", "Financeiro", "Logística", "Trocas e Devoluções", "Pós-venda",
)  # fmt: skip
SUMMARIES = (
    "Pedido não chegou 📦", "Produto veio com defeito", "Quero trocar o tamanho",
    "Cobrança em duplicidade no cartão 💳", "Nota fiscal não recebida",
    "Código de rastreio não atualiza", "Cancelamento de pedido",
    "Dúvida sobre prazo de entrega ⏳", "Reembolso ainda não caiu",
    "Produto diferente do anunciado", "Não consigo acessar minha conta",
    "Boleto vencido, como pagar?", "Elogio ao atendimento 😊",
    "Troca aprovada mas sem etiqueta de postagem", "Endereço de entrega errado",
    "Item faltando no pedido", "Pix pago e pedido não confirmado",
    "Garantia: aparelho parou de funcionar", "Entrega atrasada há mais de 10 dias 😡",
    "Solicitação de segunda via da nota", "Pedido chegou avariado 💔",
)  # fmt: skip
TAGS = (
    "entrega", "troca", "defeito", "financeiro", "reembolso", "nota-fiscal", "urgente",
    "reclamação", "elogio", "cancelamento", "garantia",
)  # fmt: skip
PRODUCTS = (
    "Camiseta Básica Algodão", "Tênis Corrida Pró", "Fone Bluetooth Sônico",
    "Cafeteira Elétrica 110V", "Jaleco Branco Manga Longa", "Kit Uniforme Escolar",
    "Mochila Impermeável", "Garrafa Térmica 1L", "Relógio Smart Fit", "Calça Jeans Slim",
    "Avental de Cozinha Personalizado", "Conjunto Pijama Flanela",
)  # fmt: skip
CONTACT_REASONS = (
    "Atraso na entrega", "Troca", "Devolução", "Dúvida", "Reclamação", "Cancelamento",
    "Segunda via de boleto",
)  # fmt: skip
PROBLEM_TYPES = (
    "Logística", "Produto com defeito", "Pagamento", "Cadastro", "Fiscal", "Outros",
)  # fmt: skip
SALES_CHANNELS = ("Shopee", "Mercado Livre", "Site próprio", "Amazon", "Magalu")
AREA_CODES = (11, 21, 31, 41, 48, 51, 61, 71, 81, 85, 92)

#: Ticket custom field keys seen in the wild, in the order the API lists them.
CUSTOM_FIELD_KEYS = (
    "codigo_de_rastreio", "cpf", "data_de_pagamento", "email_do_cliente", "motivo_de_contatos",
    "n_da_nota_fiscal", "n_do_pedido", "n_do_pedido_bling", "produto", "tipo_do_problema",
)  # fmt: skip
#: Keys that only newly created tickets carry (schema evolution downstream).
NEW_CUSTOM_FIELD_KEYS = ("canal_de_venda",)

CONTACT_OPENERS = (
    "Oi, boa tarde!", "Olá, bom dia 🙂", "Boa noite, preciso de ajuda", "Oi!",
    "Olá, tudo bem?",
)  # fmt: skip
CONTACT_LINES = (
    "Meu pedido ainda não chegou 😕", "Qual o prazo de entrega?",
    "Já paguei o Pix, segue o comprovante", "Quero trocar o tamanho, veio pequeno",
    "O produto veio quebrado 😢", "Não recebi a nota fiscal", "Posso cancelar a compra?",
    "O rastreio está parado há uma semana", "Fui cobrado duas vezes no cartão",
)  # fmt: skip
CONTACT_CLOSERS = ("Obrigado! 🙏", "Valeu, até mais!", "Perfeito, obrigada 😊", "Ok, aguardo.")
BOT_LINES = (
    "Olá! Sou a assistente virtual 🤖. Como posso ajudar?",
    "Digite o número do seu pedido, por favor.",
    "Não entendi 🤔. Pode repetir com outras palavras?",
)
BOT_HANDOVER = "Vou transferir você para um de nossos atendentes. Aguarde um instante ⏳"
AGENT_LINES = (
    "Encontrei seu pedido, ele está em trânsito 🚚", "Já solicitei a troca para você.",
    "O estorno será feito em até 2 faturas.", "Enviei a nota fiscal para o seu e-mail.",
    "Posso ajudar em algo mais?",
)  # fmt: skip
SATISFACTION_COMMENTS = (
    "Atendimento excelente!", "Demorou, mas resolveram.", "Não resolveu meu problema.",
    "Muito atenciosos 👏", "", "Podia ser mais rápido.",
)  # fmt: skip


def _step(x: int, part: int) -> int:
    """One splitmix64 round absorbing `part` into the state `x`."""
    x = (x ^ (part & MASK64)) * 0xBF58476D1CE4E5B9 & MASK64
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


@functools.lru_cache(maxsize=256)
def _prefix(seed: int, stream: int) -> int:
    return _step(_step(0x9E3779B97F4A7C15, seed), stream)


def mix(seed: int, stream: int, *parts: int) -> int:
    """A 64-bit splitmix hash of integers: cheap, seeded, identical on every machine."""
    x = _prefix(seed, stream)
    for part in parts:
        x = _step(x, part)
    return x


def rng_for(*parts: int) -> random.Random:
    """A `random.Random` seeded from a hash of the parts."""
    return random.Random(mix(*parts))


def uuid_from(rng: random.Random) -> str:
    """A version-4-shaped UUID string from a seeded generator."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def ascii_slug(text: str) -> str:
    """Lower-case ASCII of a name, for e-mail local parts."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return plain.lower().replace(" ", ".")


def person(rng: random.Random) -> tuple[str, str]:
    """A customer's (name, e-mail)."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    local = f"{ascii_slug(first)}.{ascii_slug(last)}"
    if rng.random() < 0.4:
        local += str(rng.randint(1, 99))
    return f"{first} {last}", f"{local}@{rng.choice(EMAIL_DOMAINS)}"


def phone(rng: random.Random) -> str:
    """A Brazilian mobile number as Octadesk shows it."""
    return f"+55 {rng.choice(AREA_CODES)} 9{rng.randint(1000, 9999)}-{rng.randint(0, 9999):04d}"


def valid_cpf(rng: random.Random) -> str:
    """A formatted CPF with correct check digits."""
    base = f"{rng.randint(1, 999_999_998):09d}"
    if len(set(base)) == 1:
        base = "123456780"
    return cpf_number.format(base + cpf_check_digits(base))


def cpf_check_digits(base: str) -> str:
    """The two mod-11 check digits of a 9-digit CPF base."""
    d1 = sum((10 - k) * int(n) for k, n in enumerate(base)) * 10 % 11 % 10
    d2 = sum((11 - k) * int(n) for k, n in enumerate(base + str(d1))) * 10 % 11 % 10
    return f"{d1}{d2}"


def tracking_code(rng: random.Random) -> str:
    """A Correios-style tracking code."""
    letters = "".join(rng.choice("ABCDEJLNOPQRS") for _ in range(2))
    return f"{letters}{rng.randint(0, 999_999_999):09d}BR"
