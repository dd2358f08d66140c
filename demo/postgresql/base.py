"""Django's PostgreSQL backend whose requests fail fast while the server is unreachable.

With the server down, psycopg's pool keeps retrying in the background, and a request that
finds no pooled connection waits the pool's whole timeout (``DEMO_DB_POOL_TIMEOUT``, 10 s)
for one: every thread of the server sits there, and a load generator sees a hang instead of
errors. Here the pool's connection attempts are watched; after one failed, a request waits
at most ``UNREACHABLE_WAIT`` seconds for a connection, then answers 500. The first successful
attempt (the pool's, or one a request's wait started) ends that.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from django.db.backends.postgresql import base

# Seconds a request waits for a pooled connection while the last attempt to connect failed.
UNREACHABLE_WAIT = 1.0

_unreachable = threading.Event()


class WatchedConnection(psycopg.Connection[Any]):
    """A connection whose every opening attempt (the pool's, in its worker threads) is recorded."""

    @classmethod
    def connect(cls, *args: Any, **kwargs: Any) -> WatchedConnection:  # type: ignore[override]
        try:
            connection = super().connect(*args, **kwargs)
        except psycopg.OperationalError:
            _unreachable.set()
            raise
        _unreachable.clear()
        return connection


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, settings_dict: dict[str, Any], alias: str = "default") -> None:
        options = settings_dict.get("OPTIONS", {})
        if isinstance(options.get("pool"), dict):
            pool = {**options["pool"], "connection_class": WatchedConnection}
            settings_dict = {**settings_dict, "OPTIONS": {**options, "pool": pool}}
        super().__init__(settings_dict, alias)

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if self.pool is not None and _unreachable.is_set():
            self.pool.open()
            # Raises PoolTimeout (an OperationalError: a 500) unless a connection comes soon.
            self.pool.putconn(self.pool.getconn(timeout=min(UNREACHABLE_WAIT, self.pool.timeout)))
        return super().get_new_connection(conn_params)
