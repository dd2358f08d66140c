"""``/myapp/sync/<endpoint>`` and ``/myapp/async/<endpoint>`` for every endpoint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.urls import URLPattern, path

from demo.myapp import views

View = Callable[..., Any]

# endpoint name -> (sync view, async view, extra view kwargs)
ENDPOINTS: dict[str, tuple[View, View, dict[str, Any]]] = {
    "json": (views.json_sync, views.json_async, {}),
    "json_query": (views.json_query_sync, views.json_query_async, {}),
    "template_query": (views.template_query_sync, views.template_query_async, {}),
    "gateway_1s": (views.gateway_sync, views.gateway_async, {"simulated_seconds": 1}),
    "gateway_3s": (views.gateway_sync, views.gateway_async, {"simulated_seconds": 3}),
    "gateway_10s": (views.gateway_sync, views.gateway_async, {"simulated_seconds": 10}),
    "brotli": (views.brotli_sync, views.brotli_async, {}),
    "runtime": (views.runtime_sync, views.runtime_async, {}),
}


def _endpoint_patterns() -> list[URLPattern]:
    return [
        path(f"{mode}/{name}", view, kwargs, name=f"{mode}-{name}")
        for name, (sync_view, async_view, kwargs) in ENDPOINTS.items()
        for mode, view in (("sync", sync_view), ("async", async_view))
    ]


app_name = "myapp"
urlpatterns = _endpoint_patterns()
