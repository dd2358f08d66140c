"""Bring the database to a servable state at process start: reachable, migrated, seeded.

Every server process runs this once, before it serves anything; N workers booting together
are serialised by a file lock in the data directory, so exactly one of them creates and seeds
the database and the others find it ready. Nothing here ever runs inside a request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from demo.databases import describe_database, postgres_failure
from demo.errors import StartupError, one_line
from demo.file_lock import LockTimeout, exclusive_file_lock
from demo.myapp.models import Item
from demo.myapp.seed_data import seed_rows

LOCK_FILE_NAME = "provisioning.lock"
# Long enough for a slow first migration by another worker, short enough to fail visibly.
LOCK_TIMEOUT = 120.0
# Seconds a PostgreSQL connection attempt may take before the server is reported unreachable.
POSTGRES_CONNECT_TIMEOUT = 5


class ProvisioningError(StartupError):
    """The database cannot be reached or prepared. The message is one line naming the database."""


class _Server:
    """The database server's version, read at provisioning (``15.18``; SQLite's library's): the runtime endpoint
    reports it without a query, so it answers while the database is down."""

    version: str | None = None


def database_version() -> str | None:
    return _Server.version


def provision_database(*, rows: int | None = None, replace_rows: bool = False) -> None:
    """Check the database, migrate it, and seed it with ``rows`` rows (default ``DEMO_ROWS``) unless it holds that
    many: a table seeded by an earlier server with another count must not leak into this one's numbers.
    ``replace_rows`` seeds it whatever it holds."""
    rows = settings.DEMO_ROWS if rows is None else rows
    database = settings.DATABASES[DEFAULT_DB_ALIAS]
    label = describe_database(database)
    data_dir = Path(settings.DEMO_DATA_DIR)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ProvisioningError(f"{label}: cannot create the data directory {data_dir}: {error.strerror}") from None
    try:
        with exclusive_file_lock(data_dir / LOCK_FILE_NAME, timeout=LOCK_TIMEOUT):
            _provision_locked(database, rows=rows, replace_rows=replace_rows)
    except (DatabaseError, ImproperlyConfigured, LockTimeout, OSError) as error:
        raise ProvisioningError(f"{label}: {one_line(error)}") from None
    finally:
        _release_connections()


def _provision_locked(database: dict[str, Any], *, rows: int, replace_rows: bool) -> None:
    if database["ENGINE"].endswith("postgresql"):
        _probe_postgres(database)
    connection = connections[DEFAULT_DB_ALIAS]
    connection.ensure_connection()
    _Server.version = ".".join(map(str, connection.get_database_version()))
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            # Persistent in the file: readers never block the (rare) writer and vice versa.
            cursor.execute("PRAGMA journal_mode=WAL")
    call_command("migrate", database=DEFAULT_DB_ALIAS, interactive=False, verbosity=0)
    if replace_rows or Item.objects.count() != rows:
        _replace_rows(rows)


def _probe_postgres(database: dict[str, Any]) -> None:
    """Connect once without the pool (psycopg, the `postgres` extra, checked by demo.startup before Django loaded)."""
    if failure := postgres_failure(database, POSTGRES_CONNECT_TIMEOUT):
        raise ProvisioningError(failure)


def _replace_rows(count: int) -> None:
    connection = connections[DEFAULT_DB_ALIAS]
    with transaction.atomic():
        Item.objects.all().delete()
        Item.objects.bulk_create(Item(**row) for row in seed_rows(count))
        # Explicit ids leave PostgreSQL's sequence behind; move it past them (as loaddata does).
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), [Item]):
                cursor.execute(statement)


def _release_connections() -> None:
    """Close what provisioning opened: a pool's threads and sockets would not survive a fork."""
    for connection in connections.all(initialized_only=True):
        connection.close()
        if connection.vendor == "postgresql":
            connection.close_pool()
