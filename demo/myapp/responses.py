"""Response bodies shared by the sync and async views, which differ only in how they wait."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from demo.myapp.compression import brotli_compress
from demo.myapp.posts_payload import load_posts_json
from demo.myapp.queries import Row

ROWS_TEMPLATE = "myapp/rows.html"
# The original benchmark's small document.
SMALL_DOCUMENT = [{"name": "name", "value": 1}]
POSTS_JSON = load_posts_json()


def small_json_response() -> JsonResponse:
    return JsonResponse(SMALL_DOCUMENT, safe=False)


def rows_json_response(rows: list[Row]) -> JsonResponse:
    return JsonResponse(rows, safe=False)


def rows_page_response(request: HttpRequest, rows: list[Row]) -> HttpResponse:
    return render(request, ROWS_TEMPLATE, {"rows": rows})


def gateway_delay(simulated_seconds: int) -> float:
    """How long a gateway view sleeps: the simulated upstream latency times DEMO_GATEWAY_SCALE."""
    return simulated_seconds * settings.DEMO_GATEWAY_SCALE


def gateway_response(simulated_seconds: int) -> JsonResponse:
    # To the microsecond: 3 x 0.1 is 0.30000000000000004, a body 16 bytes longer than its siblings'.
    slept_seconds = round(gateway_delay(simulated_seconds), 6)
    return JsonResponse({"status": "ok", "simulated_seconds": simulated_seconds, "slept_seconds": slept_seconds})


def brotli_response() -> HttpResponse:
    """The posts document, compressed anew on every request (that CPU work is the point)."""
    body = brotli_compress(POSTS_JSON, quality=settings.DEMO_BROTLI_QUALITY)
    return HttpResponse(body, content_type="application/json", headers={"Content-Encoding": "br"})
