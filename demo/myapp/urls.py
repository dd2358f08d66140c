"""``/myapp/sync/<endpoint>`` and ``/myapp/async/<endpoint>`` for every endpoint of
:mod:`demo.endpoints`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.urls import URLPattern, path

from demo.endpoints import RUNTIME, SIMULATED_SECONDS
from demo.myapp import views

View = Callable[..., Any]

# endpoint name (every gateway_* shares one pair) -> (sync view, async view)
VIEWS: dict[str, tuple[View, View]] = {
    "json": (views.json_sync, views.json_async),
    "json_query": (views.json_query_sync, views.json_query_async),
    "template_query": (views.template_query_sync, views.template_query_async),
    "gateway": (views.gateway_sync, views.gateway_async),
    "brotli": (views.brotli_sync, views.brotli_async),
    RUNTIME: (views.runtime_sync, views.runtime_async),
}


def _views(name: str) -> tuple[View, View, dict[str, Any]]:
    """An endpoint's views and their keyword arguments: a gateway is told how long to wait."""
    seconds = SIMULATED_SECONDS.get(name, 0)
    if seconds:
        return (*VIEWS["gateway"], {"simulated_seconds": seconds})
    return (*VIEWS[name], {})


def _endpoint_patterns() -> list[URLPattern]:
    return [
        path(f"{mode}/{name}", view, kwargs, name=f"{mode}-{name}")
        for name in [*SIMULATED_SECONDS, RUNTIME]
        for (sync_view, async_view, kwargs) in [_views(name)]
        for mode, view in (("sync", sync_view), ("async", async_view))
    ]


app_name = "myapp"
urlpatterns = _endpoint_patterns()
