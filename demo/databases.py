"""The ``DATABASES["default"]`` entry: SQLite in the data directory, or PostgreSQL from DATABASE_URL.

DATABASE_URL is parsed here with ``urllib.parse`` so the demo needs no extra dependency.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import django
from django.core.exceptions import ImproperlyConfigured

from demo.errors import one_line

SQLITE_FILE_NAME = "demo.sqlite3"
# How long (seconds) an SQLite connection waits on a lock before "database is locked".
SQLITE_BUSY_TIMEOUT = 20
POSTGRES_SCHEMES = frozenset({"postgres", "postgresql"})
POSTGRES_DEFAULT_PORT = 5432


def sqlite_database(data_dir: Path) -> dict[str, Any]:
    """SQLite in ``data_dir``. WAL mode is set on the file once, when it is provisioned."""
    options: dict[str, Any] = {"timeout": SQLITE_BUSY_TIMEOUT}
    if django.VERSION >= (5, 1):  # the option appeared in Django 5.1
        # BEGIN IMMEDIATE takes the write lock up front, so a transaction never fails on a
        # read-to-write lock upgrade (the classic "database is locked" under concurrency).
        options["transaction_mode"] = "IMMEDIATE"
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(data_dir / SQLITE_FILE_NAME),
        "OPTIONS": options,
        "CONN_MAX_AGE": 0,
    }


def postgres_database(url: str, *, pool_min: int, pool_max: int, pool_timeout: float) -> dict[str, Any]:
    """PostgreSQL (psycopg 3) with Django's built-in pool.

    ``CONN_MAX_AGE`` must be 0: Django refuses a pool with persistent connections, and under
    ASGI persistent connections leak (each request runs in its own short-lived thread).
    Query-string items of the URL (``?sslmode=disable``) become libpq connection options.
    """
    parts = urlsplit(url)
    if parts.scheme not in POSTGRES_SCHEMES:
        raise ImproperlyConfigured(
            f"DATABASE_URL must start with postgres:// or postgresql://, got scheme {parts.scheme!r}"
        )
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured("DATABASE_URL names no database (expected postgres://user:pass@host:port/dbname)")
    try:
        port = parts.port or POSTGRES_DEFAULT_PORT
    except ValueError:
        raise ImproperlyConfigured("DATABASE_URL has an invalid port") from None
    options: dict[str, Any] = dict(parse_qsl(parts.query))
    options["pool"] = {"min_size": min(pool_min, pool_max), "max_size": pool_max, "timeout": pool_timeout}
    return {
        "ENGINE": "demo.postgresql",  # Django's, failing fast while the server is down
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "localhost",
        "PORT": str(port),
        "OPTIONS": options,
        "CONN_MAX_AGE": 0,
    }


def describe_database(database: dict[str, Any]) -> str:
    """A one-line, password-free name of a database for error messages."""
    if database["ENGINE"].endswith("sqlite3"):
        return f"SQLite database {database['NAME']}"
    user = f"{database['USER']}@" if database.get("USER") else ""
    return f"PostgreSQL database {database['NAME']!r} at {user}{database['HOST']}:{database['PORT']}"


def postgres_failure(database: dict[str, Any], connect_timeout: float) -> str | None:
    """Why one connection without the pool fails (the pool would retry silently for its whole timeout), in one
    password-free line naming the database; None: it connects. Each server's boot asks, and server_matrix's run
    before any server starts (every cell said it, one line each)."""
    import psycopg  # the `postgres` extra: its callers check it is there

    options = {key: value for key, value in database["OPTIONS"].items() if key != "pool"}
    params = {
        "dbname": database["NAME"],
        "user": database["USER"],
        "password": database["PASSWORD"],
        "host": database["HOST"],
        "port": database["PORT"],
        "connect_timeout": connect_timeout,
        **options,  # a DATABASE_URL's ?connect_timeout=N wins: it was passed twice, a TypeError
    }
    try:
        psycopg.connect(**{key: value for key, value in params.items() if value}).close()
    except psycopg.Error as error:
        return f"{describe_database(database)}: {one_line(error)}"
    return None
