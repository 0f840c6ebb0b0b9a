"""Query parsing and lazy, merged listings for simulators with very large worlds.

A collection is a *base* of `size` records generated on demand from their index (index 0 is
the newest: every sortable property is strictly decreasing in the index) plus a small
*overlay* of changed or created records. Changed base indices are hidden from the base. A page
is answered by bisecting over the index range (time and number filters), merging the few
overlay records in by rank, and generating only the records on the page; filters on other
properties scan the index range once and cache the matching indices (base values never change).
"""

from __future__ import annotations

import bisect
import re
from abc import ABC, abstractmethod
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

OPERATORS = ("eq", "ne", "lt", "gt", "le", "ge", "in", "nin")
RANGE_OPERATORS = ("eq", "lt", "gt", "le", "ge")
MAX_LIMIT = 100

_FILTER_KEY = re.compile(r"^filters\[(\d+)\]\[(property|operator|value)\]$")


class QueryError(ValueError):
    """A list query the simulated API refuses with 400."""


@dataclass(frozen=True)
class Filter:
    """One `{property, operator, value}` filter; `target` is parsed (a set for in/nin)."""

    property: str
    operator: str
    target: Any

    def matches(self, value: Any) -> bool:
        """Whether a record's property value passes this filter."""
        op, target = self.operator, self.target
        if op == "in":
            return value in target
        if op == "nin":
            return value not in target
        if value is None:
            return op == "ne"
        if op == "eq":
            return value == target
        if op == "ne":
            return value != target
        if op == "lt":
            return value < target
        if op == "gt":
            return value > target
        if op == "le":
            return value <= target
        return value >= target


@dataclass(frozen=True)
class ListQuery:
    """A parsed list request: filters, sort and page."""

    filters: tuple[Filter, ...]
    sort_property: str
    descending: bool
    page: int
    limit: int

    @property
    def offset(self) -> int:
        """Index of the page's first record in the whole listing."""
        return (self.page - 1) * self.limit


def parse_int_param(params: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """Read an integer query parameter within [lo, hi]; anything else is a QueryError."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise QueryError(f"{name} must be an integer") from exc
    if not lo <= value <= hi:
        raise QueryError(f"{name} must be between {lo} and {hi}")
    return value


def parse_list_query(
    items: Sequence[tuple[str, str]],
    properties: Mapping[str, str],
    parse_value: Callable[[str, str], Any],
    sortable: Sequence[str] = ("updatedAt", "createdAt", "number"),
    default_sort: str = "updatedAt",
) -> ListQuery:
    """Parse `page`, `limit`, deep-object `filters[i][...]` and `sort[...]` query parameters.

    `properties` maps accepted property names (aliases included) to canonical ones;
    `parse_value(canonical_property, raw)` turns a raw value into a comparable one.
    """
    params = dict(items)
    page = parse_int_param(params, "page", 1, 1, 10**9)
    limit = parse_int_param(params, "limit", MAX_LIMIT, 1, MAX_LIMIT)
    raw_filters: dict[int, dict[str, str]] = {}
    for key, value in items:
        match = _FILTER_KEY.match(key)
        if match:
            raw_filters.setdefault(int(match.group(1)), {})[match.group(2)] = value
    filters = []
    for position in sorted(raw_filters):
        raw = raw_filters[position]
        missing = [k for k in ("property", "operator", "value") if k not in raw]
        if missing:
            raise QueryError(f"filters[{position}] lacks {', '.join(missing)}")
        prop = properties.get(raw["property"])
        if prop is None:
            raise QueryError(f"cannot filter on property {raw['property']!r}")
        op = raw["operator"].lower()
        if op not in OPERATORS:
            raise QueryError(f"unknown operator {raw['operator']!r}")
        try:
            if op in ("in", "nin"):
                target: Any = frozenset(
                    parse_value(prop, part) for part in raw["value"].split(",") if part != ""
                )
            else:
                target = parse_value(prop, raw["value"])
        except ValueError as exc:
            raise QueryError(f"bad value for {raw['property']}: {exc}") from exc
        filters.append(Filter(prop, op, target))
    sort_raw = params.get("sort[property]", default_sort)
    sort_prop = properties.get(sort_raw, sort_raw)
    if sort_prop not in sortable:
        raise QueryError(f"cannot sort on property {sort_raw!r}")
    direction = params.get("sort[direction]", "desc").lower()
    if direction not in ("asc", "desc"):
        raise QueryError("sort[direction] must be asc or desc")
    return ListQuery(tuple(filters), sort_prop, direction == "desc", page, limit)


def _contains(sorted_values: Sequence[int], value: int) -> bool:
    pos = bisect.bisect_left(sorted_values, value)
    return pos < len(sorted_values) and sorted_values[pos] == value


class _BaseView:
    """The base indices in [lo, hi) that pass the filters, minus overridden ones."""

    def __init__(
        self, lo: int, hi: int, allowed: Sequence[int] | None, excluded: Sequence[int]
    ) -> None:
        self.lo, self.hi, self.allowed = lo, max(lo, hi), allowed
        self.excluded_set = set(excluded)
        self.excluded = [
            x for x in excluded if lo <= x < hi and (allowed is None or _contains(allowed, x))
        ]
        self.total = self.count_below(self.hi)

    def count_below(self, index: int) -> int:
        """How many visible indices are smaller than `index`."""
        cut = min(max(index, self.lo), self.hi)
        if self.allowed is None:
            n = cut - self.lo
        else:
            n = bisect.bisect_left(self.allowed, cut)
        return n - bisect.bisect_left(self.excluded, cut)

    def kth(self, k: int) -> int:
        """The k-th (0-based) visible index in ascending order."""
        if self.allowed is not None:
            pos = bisect.bisect_left(
                range(len(self.allowed)), k + 1, key=lambda p: self.count_below(self.allowed[p] + 1)
            )
            return self.allowed[pos]
        return self.lo + bisect.bisect_left(
            range(self.lo, self.hi), k + 1, key=lambda i: self.count_below(i + 1)
        )

    def walk(self, start: int, ascending: bool) -> Iterator[int]:
        """Visible indices from `start` (itself visible) up or down."""
        skip = self.excluded_set
        if self.allowed is not None:
            pos = bisect.bisect_left(self.allowed, start)
            positions = range(pos, len(self.allowed)) if ascending else range(pos, -1, -1)
            for p in positions:
                index = self.allowed[p]
                if index not in skip:
                    yield index
            return
        indices = range(start, self.hi) if ascending else range(start, self.lo - 1, -1)
        for index in indices:
            if index not in skip:
                yield index


class MergedCollection(ABC):
    """A lazily generated base plus an overlay, listed with filters, sort and pages.

    Subclasses provide the base size, values of base indices and overlay entries, the sorted
    list of overridden base indices and the overlay entries themselves. Items of a selection
    are base indices (`int`) or overlay entries (any other object).
    """

    #: Properties strictly decreasing in the base index (sortable, and filterable by bisect).
    monotone: frozenset[str] = frozenset({"updatedAt", "createdAt", "number"})
    #: Properties on which every overlay entry sorts above every base record (no ranking).
    overlay_newer: frozenset[str] = frozenset()
    tiebreak: str = "number"

    def __init__(self) -> None:
        self._scan_cache: OrderedDict[tuple[Any, ...], array] = OrderedDict()
        self._plan_cache: OrderedDict[tuple[Any, ...], _Plan] = OrderedDict()
        #: Bumped by subclasses whenever the overlay changes; invalidates cached plans.
        self.version = 0

    @property
    @abstractmethod
    def size(self) -> int:
        """Number of base indices."""

    @abstractmethod
    def base_value(self, prop: str, index: int) -> Any:
        """A property's comparable value for a base index."""

    @abstractmethod
    def overlay_value(self, prop: str, entry: Any) -> Any:
        """A property's comparable value for an overlay entry."""

    @abstractmethod
    def overridden(self) -> Sequence[int]:
        """Sorted base indices replaced by overlay entries."""

    @abstractmethod
    def overlay_entries(self) -> Sequence[Any]:
        """All overlay entries (changed and created records)."""

    def _first_index(self, predicate: Callable[[int], bool]) -> int:
        """First base index where a predicate that is monotone (False→True) holds."""
        return bisect.bisect_left(range(self.size), True, key=predicate)

    def _base_view(self, filters: Sequence[Filter]) -> _BaseView:
        lo, hi = 0, self.size
        scan: list[Filter] = []
        for f in filters:
            if f.property not in self.monotone or f.operator not in RANGE_OPERATORS:
                scan.append(f)
                continue
            prop, x = f.property, f.target

            def below(i: int, prop: str = prop, x: Any = x) -> bool:
                return self.base_value(prop, i) < x

            def at_most(i: int, prop: str = prop, x: Any = x) -> bool:
                return self.base_value(prop, i) <= x

            if f.operator in ("ge", "eq"):
                hi = min(hi, self._first_index(below))
            if f.operator == "gt":
                hi = min(hi, self._first_index(at_most))
            if f.operator in ("le", "eq"):
                lo = max(lo, self._first_index(at_most))
            if f.operator == "lt":
                lo = max(lo, self._first_index(below))
        allowed = self._scan(tuple(scan), lo, hi) if scan and lo < hi else None
        if scan and lo >= hi:
            allowed = array("q")
        return _BaseView(lo, hi, allowed, self.overridden())

    def _scan(self, filters: tuple[Filter, ...], lo: int, hi: int) -> array:
        key = (filters, lo, hi)
        cached = self._scan_cache.get(key)
        if cached is not None:
            self._scan_cache.move_to_end(key)
            return cached
        value = self.base_value
        result = array(
            "q",
            (i for i in range(lo, hi) if all(f.matches(value(f.property, i)) for f in filters)),
        )
        self._scan_cache[key] = result
        while len(self._scan_cache) > 32:
            self._scan_cache.popitem(last=False)
        return result

    def select(
        self,
        filters: Sequence[Filter],
        sort_property: str,
        descending: bool,
        offset: int,
        limit: int,
    ) -> tuple[int, list[Any]]:
        """Total count and the items at [offset, offset + limit) of the listing."""
        key = (tuple(filters), sort_property, descending, self.version)
        plan = self._plan_cache.get(key)
        if plan is None:
            plan = self._plan(filters, sort_property, descending)
            self._plan_cache[key] = plan
            while len(self._plan_cache) > 32:
                self._plan_cache.popitem(last=False)
        else:
            self._plan_cache.move_to_end(key)
        view, overlay, merged_positions = plan.view, plan.overlay, plan.merged_positions
        total = view.total + len(overlay)
        end = min(total, offset + limit)
        items: list[Any] = []
        j = bisect.bisect_left(merged_positions, offset)
        base_pos = offset - j
        walker: Iterator[int] | None = None
        for position in range(offset, end):
            if j < len(overlay) and merged_positions[j] == position:
                items.append(overlay[j])
                j += 1
                continue
            if walker is None:
                k = base_pos if descending else view.total - 1 - base_pos
                walker = view.walk(view.kth(k), ascending=descending)
            items.append(next(walker))
        return total, items

    def _plan(self, filters: Sequence[Filter], sort_property: str, descending: bool) -> _Plan:
        """The filtered base view and the overlay entries with their merged positions."""
        view = self._base_view(filters)
        tb = self.tiebreak

        def entry_key(entry: Any) -> tuple[Any, Any]:
            return (self.overlay_value(sort_property, entry), self.overlay_value(tb, entry))

        overlay = [
            e
            for e in self.overlay_entries()
            if all(f.matches(self.overlay_value(f.property, e)) for f in filters)
        ]
        overlay.sort(key=entry_key, reverse=descending)
        merged_positions = []
        for rank, entry in enumerate(overlay):
            if sort_property in self.overlay_newer:
                before = 0 if descending else view.total
            else:
                key = entry_key(entry)
                first_smaller = self._first_index(
                    lambda i, key=key: (
                        (self.base_value(sort_property, i), self.base_value(tb, i)) < key
                    )
                )
                below = view.count_below(first_smaller)
                before = below if descending else view.total - below
            merged_positions.append(rank + before)
        return _Plan(view, overlay, merged_positions)


@dataclass
class _Plan:
    """A listing's cached layout: base view plus ranked overlay entries."""

    view: _BaseView
    overlay: list[Any]
    merged_positions: list[int]
