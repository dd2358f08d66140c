"""The endpoints, each as a sync view and an async view.

The pairs share everything but the waiting: the sync view blocks (ORM, ``time.sleep``), the
async view awaits (async ORM iteration, ``asyncio.sleep``). Bad query strings raise
``InvalidRowFilter``, which Django turns into a JSON 400 through ``handler400``.
"""

from __future__ import annotations

import asyncio
import time

from django.http import HttpRequest, HttpResponse, JsonResponse

from demo.myapp.queries import aselected_rows, selected_rows
from demo.myapp.responses import (
    brotli_response,
    gateway_delay,
    gateway_response,
    rows_json_response,
    rows_page_response,
    small_json_response,
)
from demo.myapp.runtime_info import runtime_report


def json_sync(request: HttpRequest) -> JsonResponse:
    return small_json_response()


async def json_async(request: HttpRequest) -> JsonResponse:
    return small_json_response()


def json_query_sync(request: HttpRequest) -> JsonResponse:
    return rows_json_response(selected_rows(request))


async def json_query_async(request: HttpRequest) -> JsonResponse:
    return rows_json_response(await aselected_rows(request))


def template_query_sync(request: HttpRequest) -> HttpResponse:
    return rows_page_response(request, selected_rows(request))


async def template_query_async(request: HttpRequest) -> HttpResponse:
    # Rendered on the event loop: the rows are already fetched, so no query can run there.
    return rows_page_response(request, await aselected_rows(request))


def gateway_sync(request: HttpRequest, simulated_seconds: int) -> JsonResponse:
    time.sleep(gateway_delay(simulated_seconds))
    return gateway_response(simulated_seconds)


async def gateway_async(request: HttpRequest, simulated_seconds: int) -> JsonResponse:
    await asyncio.sleep(gateway_delay(simulated_seconds))
    return gateway_response(simulated_seconds)


def brotli_sync(request: HttpRequest) -> HttpResponse:
    return brotli_response()


async def brotli_async(request: HttpRequest) -> HttpResponse:
    # Compressed on the event loop, as in the original: the cost of CPU work in an async view.
    return brotli_response()


def runtime_sync(request: HttpRequest) -> JsonResponse:
    return JsonResponse(runtime_report())


async def runtime_async(request: HttpRequest) -> JsonResponse:
    return JsonResponse(runtime_report())
