"""The OData the simulated Ploomes understands: `$filter` (parsed to a predicate),
`$expand`, `$select`, `$orderby`, `$top`/`$skip` and the error body it answers.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from support_assets.sandbox.base import parse_instant_ms
from support_assets.sandbox.ploomes.schema import EntitySet


class ODataError(ValueError):
    """A query the simulated API refuses with 400."""


# $filter -------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<lp>\()|(?P<rp>\))|
    (?P<str>'(?:[^']|'')*')|
    (?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|z|[+-]\d{2}:\d{2})?)|
    (?P<num>-?\d+(?:\.\d+)?)|
    (?P<word>[A-Za-z_][A-Za-z0-9_/]*)
    )""",
    re.VERBOSE,
)
#: What makes a divergent tenant ignore a whole ``$filter``.
OR_OR_ANY = re.compile(r"\bor\b|\bany\s*\(", re.IGNORECASE)
_COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
Predicate = Callable[[dict[str, Any]], bool]


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos, text = [], 0, text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ODataError(f"syntax error in $filter at position {pos}: {text[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


class FilterParser:
    """``expr := and ('or' and)*; and := unary ('and' unary)*; unary := 'not' unary | '(' expr
    ')' | Property op literal``."""

    def __init__(self, text: str, entity: EntitySet, value_of: Callable[[dict, str], Any]):
        self.tokens = _tokens(text)
        self.pos = 0
        self.entity = entity
        self.value_of = value_of

    def parse(self) -> Predicate:
        predicate = self._or()
        if self.pos != len(self.tokens):
            raise ODataError(f"unexpected {self.tokens[self.pos][1]!r} in $filter")
        return predicate

    def _peek_word(self, *words_: str) -> bool:
        if self.pos < len(self.tokens):
            kind, value = self.tokens[self.pos]
            return kind == "word" and value.lower() in words_
        return False

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._peek_word("or"):
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda r, ps=parts: any(p(r) for p in ps))

    def _and(self) -> Predicate:
        parts = [self._unary()]
        while self._peek_word("and"):
            self.pos += 1
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else (lambda r, ps=parts: all(p(r) for p in ps))

    def _unary(self) -> Predicate:
        if self._peek_word("not"):
            self.pos += 1
            inner = self._unary()
            return lambda r: not inner(r)
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "lp":
            self.pos += 1
            inner = self._or()
            if self.pos >= len(self.tokens) or self.tokens[self.pos][0] != "rp":
                raise ODataError("missing ) in $filter")
            self.pos += 1
            return inner
        return self._comparison()

    def _comparison(self) -> Predicate:
        if self.pos + 3 > len(self.tokens):
            raise ODataError("incomplete comparison in $filter")
        (k1, prop), (k2, op), (k3, raw) = self.tokens[self.pos : self.pos + 3]
        self.pos += 3
        if k1 != "word" or prop not in self.entity.properties:
            raise ODataError(
                f"Could not find a property named '{prop}' on type '{self.entity.name}'"
            )
        op = op.lower()
        if k2 != "word" or op not in _COMPARISONS:
            raise ODataError(f"unknown operator {op!r} in $filter")
        target = self._literal(self.entity.properties[prop], k3, raw)
        value_of = self.value_of

        def compare(record: dict[str, Any]) -> bool:
            value = value_of(record, prop)
            if op == "eq":
                return value == target
            if op == "ne":
                return value != target
            if value is None or target is None:
                return False
            if op == "gt":
                return value > target
            if op == "ge":
                return value >= target
            if op == "lt":
                return value < target
            return value <= target

        return compare

    @staticmethod
    def _literal(kind: str, token_kind: str, raw: str) -> Any:
        if token_kind == "word" and raw.lower() == "null":
            return None
        if kind == "date":
            if token_kind != "dt" or not re.search(r"(Z|z|[+-]\d{2}:\d{2})$", raw):
                raise ODataError(f"expected a date-time with offset, got {raw!r}")
            return parse_instant_ms(raw)
        if kind == "int":
            if token_kind != "num" or "." in raw:
                raise ODataError(f"expected an integer, got {raw!r}")
            return int(raw)
        if kind == "bool":
            if token_kind != "word" or raw.lower() not in ("true", "false"):
                raise ODataError(f"expected true or false, got {raw!r}")
            return raw.lower() == "true"
        if token_kind != "str":
            raise ODataError(f"expected a quoted string, got {raw!r}")
        return raw[1:-1].replace("''", "'")


def _split_top_level(text: str) -> list[str]:
    """Comma-separated items, ignoring commas inside parentheses (``Tags($select=TagId)``)."""
    items, depth, current = [], 0, []
    for char in text:
        if char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
            continue
        depth += (char == "(") - (char == ")")
        current.append(char)
    items.append("".join(current).strip())
    return [item for item in items if item]


# The world -----------------------------------------------------------------------------------


def odata_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        {"error": {"code": str(status), "message": message}}, status_code=status, headers=headers
    )


def next_link(request: Request, skip: int, top: int) -> str:
    """The next page's URL, with ``$`` left readable as Ploomes writes it."""
    params = dict(request.query_params)
    params.update({"$top": str(top), "$skip": str(skip)})
    query = urlencode(params, quote_via=quote, safe="$,'()/:")
    return f"{str(request.url).split('?', 1)[0]}?{query}"


def int_param(raw: str | None, default: int, name: str) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ODataError(f"{name} must be an integer") from None
    if value < 0:
        raise ODataError(f"{name} must not be negative")
    return value


def parse_expand(raw: str | None, entity: EntitySet) -> set[str]:
    if not raw:
        return set()
    names = {item.split("(", 1)[0].strip() for item in _split_top_level(raw)}
    unknown = sorted(names - set(entity.expands))
    if unknown:
        raise ODataError(
            f"Could not find a navigation property named '{unknown[0]}' on '{entity.name}'"
        )
    return names


def parse_select(raw: str | None, entity: EntitySet) -> list[str] | None:
    if not raw:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        if name not in entity.properties and name not in entity.expands:
            raise ODataError(f"Could not find a property named '{name}' on '{entity.name}'")
    return names


def order_rows(
    rows: list[dict[str, Any]],
    raw: str | None,
    entity: EntitySet,
    value_of: Callable[[dict, str], Any],
) -> list[dict[str, Any]]:
    keys: list[tuple[str, bool]] = []
    for item in (raw or "Id").split(","):
        parts = item.split()
        if not parts:
            continue
        prop = parts[0]
        direction = parts[1].lower() if len(parts) > 1 else "asc"
        if prop not in entity.properties or direction not in ("asc", "desc") or len(parts) > 2:
            raise ODataError(f"invalid $orderby item {item.strip()!r}")
        keys.append((prop, direction == "desc"))
    if not any(prop == "Id" for prop, _ in keys):
        keys.append(("Id", False))
    for prop, descending in reversed(keys):
        rows.sort(key=lambda r, p=prop: _sort_key(value_of(r, p)), reverse=descending)
    return rows


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)


def shape_record(
    record: dict[str, Any], entity: EntitySet, expands: set[str], select: list[str] | None
) -> dict[str, Any]:
    shaped = {
        k: copy.deepcopy(v)
        for k, v in record.items()
        if (k not in entity.expands or k in expands) and (select is None or k in select)
    }
    for name in expands:
        shaped.setdefault(name, copy.deepcopy(record.get(name) or []))
    return shaped
