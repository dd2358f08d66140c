"""Process start shared by the ASGI and WSGI entry points.

Each server process (every gunicorn worker, or the single uvicorn process) runs this once at
import of ``demo.asgi``/``demo.wsgi``: check dependencies, build the Django application,
provision the database, and import everything the first request would otherwise import.
A failure prints one line on stderr and exits non-zero, so a misconfigured server stops at
boot instead of answering every request with a traceback.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

from demo.databases import describe_database
from demo.errors import STARTUP_FAILURE_PREFIX, StartupError, one_line

# asgiref < 3.12 joins each request's thread on the event loop (django/asgiref#535), stalling
# the loop for as long as a cancelled sync view keeps running.
MINIMUM_ASGIREF = (3, 12)
# gunicorn's APP_LOAD_ERROR: the arbiter halts instead of respawning the worker forever.
STARTUP_FAILURE_EXIT_CODE = 4

Application = TypeVar("Application")


def start_application(build: Callable[[], Application]) -> Application:
    """Build the application with ``build`` and make it ready to serve, or exit with one clear line."""
    try:
        require_asgiref()
        require_brotli()
        require_database_driver()
        application = build()
        from demo.myapp.provisioning import provision_database  # needs the app registry built above

        run_on_helper_thread(provision_database)
        warm_up()
    except (StartupError, ImproperlyConfigured) as error:
        print(f"{STARTUP_FAILURE_PREFIX} {one_line(error)}", file=sys.stderr, flush=True)
        raise SystemExit(STARTUP_FAILURE_EXIT_CODE) from None
    return application


def run_on_helper_thread(function: Callable[[], None]) -> None:
    """Run ``function`` on a short-lived thread of its own, re-raising what it raises.

    Some servers import the app from inside their running event loop (``uvicorn --workers N``
    does, in each child), and Django refuses database work on such a thread. A helper thread
    works in every case, and the connections it opens stay (and are closed) there.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-startup") as executor:
        executor.submit(function).result()


def require_asgiref() -> None:
    installed = importlib.metadata.version("asgiref")
    if version_tuple(installed) < MINIMUM_ASGIREF:
        minimum = ".".join(map(str, MINIMUM_ASGIREF))
        raise StartupError(
            f"asgiref {installed} is installed but the demo needs asgiref >= {minimum} "
            "(older versions block the event loop on every cancelled request)"
        )


def require_brotli() -> None:
    """Look for a brotli module without importing it (importing may re-enable the GIL)."""
    if importlib.util.find_spec("brotli") is None and importlib.util.find_spec("brotlicffi") is None:
        raise StartupError("neither brotli nor brotlicffi is installed (pip install brotli)")


def require_database_driver() -> None:
    """Name the missing driver before Django's own, context-free "Error loading psycopg" does."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("postgresql") and importlib.util.find_spec("psycopg") is None:
        raise StartupError(
            f"{describe_database(database)}: DATABASE_URL is set but psycopg is not installed "
            "(pip install 'loadgen[postgres]')"
        )


def version_tuple(version: str) -> tuple[int, ...]:
    """``"3.12.0rc1"`` -> ``(3, 12, 0)``: the leading number of each dotted part."""
    numbers = []
    for part in version.split("."):
        match = re.match(r"\d+", part)
        if match is None:
            break
        numbers.append(int(match.group()))
    return tuple(numbers)


def warm_up() -> None:
    """Import the URLconf, views and error handlers and render the template now, not on the first request.

    Under ASGI, URL resolution runs on the event loop: a first request that imports modules
    stalls every connection of the process. Rendering (with a request, as the views do) also
    compiles the template and imports the context processors and number formats it uses.
    """
    from django.http import HttpRequest
    from django.template.loader import render_to_string
    from django.urls import get_resolver

    from demo.myapp.responses import ROWS_TEMPLATE
    from demo.myapp.seed_data import seed_rows

    resolver = get_resolver()
    _ = resolver.url_patterns  # evaluating the property imports every view module now
    for status in (400, 404, 500):
        resolver.resolve_error_handler(status)
    render_to_string(ROWS_TEMPLATE, {"rows": seed_rows(1)}, request=HttpRequest())
    "".encode("unicode_escape")  # the codec Django's log_response loads on the first 4xx
