"""The rows a query endpoint selects, fetched the sync way or the async-ORM way."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

from demo.myapp.models import Item
from demo.myapp.row_filters import parse_row_filters

ROW_FIELDS = ("id", "name", "value")

Row = dict[str, Any]


def rows_query(request: HttpRequest) -> QuerySet[Item, Row]:
    """The rows selected by the request's query string, as dicts in id order (lazy, not run yet).

    Raises ``InvalidRowFilter`` (a 400) for a query string that is not a filter on the table.
    """
    return Item.objects.filter(**parse_row_filters(request.GET)).order_by("id").values(*ROW_FIELDS)


def selected_rows(request: HttpRequest) -> list[Row]:
    return list(rows_query(request))


async def aselected_rows(request: HttpRequest) -> list[Row]:
    return [row async for row in rows_query(request)]
