"""Turn the query string of the query endpoints into ORM filter arguments, or reject it.

Only model fields can be filtered on, so a query string can never reach arbitrary ORM lookups
(the original passed ``request.GET`` straight to ``filter()``, turning typos into 500s).
"""

from __future__ import annotations

from django.core.exceptions import BadRequest
from django.http import QueryDict

# Values safe on every database Django supports (Django's documented IntegerField range).
INTEGER_FIELD_RANGE = (-(2**31), 2**31 - 1)
BIG_INTEGER_FIELD_RANGE = (-(2**63), 2**63 - 1)
FIELD_RANGES: dict[str, tuple[int, int] | None] = {
    "id": BIG_INTEGER_FIELD_RANGE,
    "name": None,  # text: exact match only
    "value": INTEGER_FIELD_RANGE,
}
INTEGER_LOOKUPS = frozenset({"gt", "gte", "lt", "lte"})
USAGE = "filter on id, name or value (exact), or on id/value with __gt, __gte, __lt or __lte"


class InvalidRowFilter(BadRequest):
    """A query parameter that does not describe a filter on the table; Django answers 400."""


def parse_row_filters(query: QueryDict) -> dict[str, int | str]:
    """``?name=item-0003&value__gte=2`` -> ``{"name": "item-0003", "value__gte": 2}``."""
    filters: dict[str, int | str] = {}
    for key, values in query.lists():
        if len(values) != 1:
            raise InvalidRowFilter(f"query parameter {key!r} is given {len(values)} times; give it once")
        filters[key] = _parse_filter(key, values[0])
    return filters


def _parse_filter(key: str, raw: str) -> int | str:
    field, _, lookup = key.partition("__")
    if field not in FIELD_RANGES:
        raise InvalidRowFilter(f"unknown filter {key!r}: {USAGE}")
    value_range = FIELD_RANGES[field]
    if value_range is None:
        if lookup:
            raise InvalidRowFilter(f"unsupported lookup {key!r}: {USAGE}")
        if "\x00" in raw:
            raise InvalidRowFilter(f"{key} must not contain NUL characters")
        return raw
    if lookup and lookup not in INTEGER_LOOKUPS:
        raise InvalidRowFilter(f"unsupported lookup {key!r}: {USAGE}")
    return _parse_integer(key, raw, value_range)


def _parse_integer(key: str, raw: str, value_range: tuple[int, int]) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRowFilter(f"{key} must be an integer, got {raw!r}") from None
    low, high = value_range
    if not low <= value <= high:
        raise InvalidRowFilter(f"{key} is out of range [{low}, {high}], got {raw!r}")
    return value
