"""What every demo endpoint must answer, checked the same way in-process and over real HTTP."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from demo.myapp.compression import brotli_module
from demo.myapp.posts_payload import load_posts_json
from demo.myapp.seed_data import seed_rows

# Every test process (in-process Django and server subprocesses) runs with this gateway scale.
TEST_GATEWAY_SCALE = 0.01
GATEWAY_SECONDS = {"gateway_1s": 1, "gateway_3s": 3, "gateway_10s": 10}
ENDPOINTS = ("json", "json_query", "template_query", *GATEWAY_SECONDS, "brotli", "runtime")
MODES = ("sync", "async")
JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"
RUNTIME_KEYS = {
    "pid",
    "threads",
    "gil_enabled",
    "free_threaded_build",
    "python_version",
    "python_implementation",
    "executable",
    "versions",
    "database_vendor",
    "database_version",
    "brotli_module_loaded",
}
REPORTED_VERSIONS = {
    "django",
    "asgiref",
    "gunicorn",
    "uvicorn",
    "uvicorn-worker",
    "uvloop",
    "httptools",
    "brotli",
    "psycopg",
}

# Query strings the query endpoints must reject with a JSON 400.
BAD_QUERIES = (
    "color=red",
    "value=abc",
    "value=1.5",
    "value=1&value=2",
    "name__startswith=item",
    "value__regex=1",
    "id__in=1,2",
    "value=99999999999",
    "name=a%00b",
)
# (query string, the ids it selects from the default seed) for the filter tests.
FILTER_CASES = (
    ("value=3", [3, 13, 23, 33, 43, 53, 63, 73, 83, 93]),
    ("name=item-0007", [7]),
    ("value__gte=8&id__lt=20", [8, 9, 18, 19]),
    ("id__gt=97", [98, 99, 100]),
    ("value__lte=0&id__lte=30", [10, 20, 30]),
    ("name=nobody", []),
)
UNKNOWN_PATHS = (
    "/myapp/sync/nope",
    "/myapp/async/nope",
    "/myapp/json",
    "/myapp/sync/json/",
    "/myapp/sync/gateway_2s",
    "/myapp/threads/json",
    "/",
)


@dataclass(frozen=True)
class Observed:
    """The parts of a response the checks look at, whatever client fetched it."""

    status: int
    content_type: str
    content_encoding: str | None
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def expected_rows(ids: list[int] | None = None) -> list[dict[str, int | str]]:
    rows = seed_rows()
    return rows if ids is None else [row for row in rows if row["id"] in ids]


def row_cells(row: dict[str, int | str]) -> str:
    """How the template renders one row."""
    return f"<tr><td>{row['id']}</td><td>{row['name']}</td><td>{row['value']}</td></tr>"


def check_json_error(observed: Observed, status: int) -> None:
    assert observed.status == status, observed
    assert observed.content_type == JSON_TYPE
    error = observed.json()["error"]
    assert isinstance(error, str) and error


def check_rows_json(observed: Observed, rows: list[dict[str, int | str]]) -> None:
    assert observed.status == 200, observed
    assert observed.content_type == JSON_TYPE
    assert observed.json() == rows


def check_rows_page(observed: Observed, rows: list[dict[str, int | str]]) -> None:
    assert observed.status == 200, observed
    assert observed.content_type == HTML_TYPE
    page = observed.body.decode()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<tr><td>") == len(rows)
    for row in rows:
        assert row_cells(row) in page
    if not rows:
        assert "no rows match" in page


def check_endpoint(name: str, observed: Observed, *, database_vendor: str = "sqlite") -> None:
    """Assert ``observed`` is the right answer of endpoint ``name`` (sync or async) on a default seed."""
    if name == "template_query":
        check_rows_page(observed, expected_rows())
        return
    if name == "json_query":
        check_rows_json(observed, expected_rows())
        return
    assert observed.status == 200, observed
    assert observed.content_type == JSON_TYPE
    if name == "brotli":
        assert observed.content_encoding == "br"
        assert brotli_module().decompress(observed.body) == load_posts_json()
        return
    assert observed.content_encoding is None
    document = observed.json()
    if name == "json":
        assert document == [{"name": "name", "value": 1}]
    elif name in GATEWAY_SECONDS:
        seconds = GATEWAY_SECONDS[name]
        assert document == {
            "status": "ok",
            "simulated_seconds": seconds,
            "slept_seconds": seconds * TEST_GATEWAY_SCALE,
        }
    elif name == "runtime":
        assert set(document) == RUNTIME_KEYS
        assert isinstance(document["pid"], int) and document["threads"] >= 1
        assert document["gil_enabled"] is True or document["free_threaded_build"] is True
        assert set(document["versions"]) >= REPORTED_VERSIONS
        assert document["versions"]["django"] and document["versions"]["asgiref"]
        assert document["database_vendor"] == database_vendor
        assert re.fullmatch(r"\d+(\.\d+)+", document["database_version"]), document["database_version"]
    else:
        raise AssertionError(f"no expectation for endpoint {name!r}")
