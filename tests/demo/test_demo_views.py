"""Every endpoint through Django's test client: sync views via Client, async views via AsyncClient."""

from __future__ import annotations

import asyncio
import inspect
import time

import pytest
from demo_expectations import (
    BAD_QUERIES,
    ENDPOINTS,
    FILTER_CASES,
    GATEWAY_SECONDS,
    MODES,
    TEST_GATEWAY_SCALE,
    UNKNOWN_PATHS,
    Observed,
    check_endpoint,
    check_json_error,
    check_rows_json,
    check_rows_page,
    expected_rows,
)

pytestmark = pytest.mark.usefixtures("django_app")


def get(mode: str, path: str) -> Observed:
    """GET through the test client that matches the view kind: WSGI-style or ASGI."""
    from django.test import AsyncClient, Client

    if mode == "async":
        response = asyncio.run(AsyncClient().get(path))
    else:
        response = Client().get(path)
    return Observed(
        status=response.status_code,
        content_type=response.get("Content-Type", ""),
        content_encoding=response.get("Content-Encoding"),
        body=response.content,
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_endpoint_answers(mode: str, endpoint: str) -> None:
    check_endpoint(endpoint, get(mode, f"/myapp/{mode}/{endpoint}"))


@pytest.mark.parametrize("mode", MODES)
def test_views_are_sync_and_async_as_named(mode: str) -> None:
    from django.urls import resolve

    for endpoint in ENDPOINTS:
        view = resolve(f"/myapp/{mode}/{endpoint}").func
        assert inspect.iscoroutinefunction(view) is (mode == "async"), endpoint


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("query", "ids"), FILTER_CASES)
def test_query_endpoints_filter_rows(mode: str, query: str, ids: list[int]) -> None:
    rows = expected_rows(ids)
    check_rows_json(get(mode, f"/myapp/{mode}/json_query?{query}"), rows)
    check_rows_page(get(mode, f"/myapp/{mode}/template_query?{query}"), rows)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("query", BAD_QUERIES)
def test_bad_query_parameters_give_json_400(mode: str, query: str) -> None:
    for endpoint in ("json_query", "template_query"):
        check_json_error(get(mode, f"/myapp/{mode}/{endpoint}?{query}"), 400)


@pytest.mark.parametrize("mode", MODES)
def test_unknown_paths_give_json_404(mode: str) -> None:
    for path in UNKNOWN_PATHS:
        check_json_error(get(mode, path), 404)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("endpoint", GATEWAY_SECONDS)
def test_gateway_takes_at_least_its_scaled_delay(mode: str, endpoint: str) -> None:
    delay = GATEWAY_SECONDS[endpoint] * TEST_GATEWAY_SCALE
    started = time.monotonic()
    observed = get(mode, f"/myapp/{mode}/{endpoint}")
    elapsed = time.monotonic() - started
    check_endpoint(endpoint, observed)
    assert elapsed >= delay, f"{endpoint} answered after {elapsed:.4f} s, expected >= {delay} s"


def test_gateway_bodies_say_the_scaled_delay_to_the_microsecond() -> None:
    """At the default profile's scale, 0.1, gateway_3s said it slept 0.30000000000000004 s: 78 bytes against 62."""
    from django.test import override_settings

    from demo.myapp.responses import gateway_response

    with override_settings(DEMO_GATEWAY_SCALE=0.1):
        bodies = [gateway_response(seconds).content for seconds in GATEWAY_SECONDS.values()]
    assert bodies == [
        b'{"status": "ok", "simulated_seconds": %d, "slept_seconds": %s}' % (seconds, slept)
        for seconds, slept in ((1, b"0.1"), (3, b"0.3"), (10, b"1.0"))
    ]


@pytest.mark.parametrize("mode", MODES)
def test_brotli_uses_the_configured_quality(mode: str) -> None:
    from django.test import override_settings

    from demo.myapp.compression import brotli_module
    from demo.myapp.posts_payload import load_posts_json

    payload = load_posts_json()
    assert get(mode, f"/myapp/{mode}/brotli").body == brotli_module().compress(payload, quality=11)
    with override_settings(DEMO_BROTLI_QUALITY=1):
        assert get(mode, f"/myapp/{mode}/brotli").body == brotli_module().compress(payload, quality=1)


def test_disallowed_host_gives_json_400() -> None:
    from django.test import Client

    response = Client(headers={"host": "evil.example"}).get("/myapp/sync/json")
    assert response.status_code == 400
    assert "evil.example" in response.json()["error"]
