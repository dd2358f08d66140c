"""Django's PostgreSQL backend whose requests fail fast while the server is unreachable.

With the server down, psycopg's pool keeps retrying in the background, and a request that
finds no pooled connection waits the pool's whole timeout (``DEMO_DB_POOL_TIMEOUT``, 10 s)
for one: every thread of the server sits there, and a load generator sees a hang instead of
errors. Here, while no request of this process holds a working connection (so nothing shows
that the server serves), a request waits for one in slices of ``WAIT_SLICE`` seconds, and gives
up, with a 500 that says how that attempt failed, at the end of a slice that finds the pool's last
attempt to connect failed (the server down, or full: ``too many clients``).
While some request holds a working one, requests queue in the pool's order for its whole
timeout, as before: a server that refuses only new connections (``too many clients``) is still
serving.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from django.db.backends.postgresql import base

from demo.errors import one_line

# Seconds between two looks at the server's state while a request waits for a connection and
# no request holds one.
WAIT_SLICE = 0.25


class _LastAttempt:
    """How the pool's last attempt to connect ended: None when it connected, else psycopg's reason, in one line.
    A request that gives up says it: "the server is unreachable" was said of one that answered "too many clients"."""

    def __init__(self) -> None:
        self.failure: str | None = None


_last_attempt = _LastAttempt()


class WatchedConnection(psycopg.Connection[Any]):
    """A connection whose every opening attempt (the pool's, in its worker threads) is recorded."""

    @classmethod
    def connect(cls, *args: Any, **kwargs: Any) -> WatchedConnection:  # type: ignore[override]
        try:
            connection = super().connect(*args, **kwargs)
        except psycopg.OperationalError as error:
            _last_attempt.failure = one_line(error)
            raise
        _last_attempt.failure = None
        return connection


class _HeldConnections:
    """The pooled connections this process's requests hold: a working one means the server serves.

    A request whose query failed because the server went away keeps its (now closed) connection
    until Django's ``request_finished``, which runs after the response is sent: the client's next
    request can arrive before that, and must not take the dead connection as a sign of life.
    """

    def __init__(self) -> None:
        self._connections: set[psycopg.Connection[Any]] = set()
        self._lock = threading.Lock()

    def add(self, connection: psycopg.Connection[Any]) -> None:
        with self._lock:
            self._connections.add(connection)

    def discard(self, connection: psycopg.Connection[Any]) -> None:
        with self._lock:
            self._connections.discard(connection)

    def none_working(self) -> bool:
        with self._lock:
            return all(connection.closed for connection in self._connections)


_held = _HeldConnections()


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, settings_dict: dict[str, Any], alias: str = "default") -> None:
        options = settings_dict.get("OPTIONS", {})
        if isinstance(options.get("pool"), dict):
            pool = {**options["pool"], "connection_class": WatchedConnection}
            settings_dict = {**settings_dict, "OPTIONS": {**options, "pool": pool}}
        super().__init__(settings_dict, alias)

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if self.pool is None:
            return super().get_new_connection(conn_params)
        if _held.none_working():
            self._wait_for_the_server()
        connection = super().get_new_connection(conn_params)
        _held.add(connection)
        return connection

    def _wait_for_the_server(self) -> None:
        """Wait until the pool has a connection (and give it back), or raise PoolTimeout: a 500."""
        from psycopg_pool import PoolTimeout  # present: Django built the pool with it

        pool = self.pool
        pool.open()
        start = time.monotonic()
        while True:
            try:
                pool.putconn(pool.getconn(timeout=min(WAIT_SLICE, pool.timeout)))
                return
            except PoolTimeout:
                waited = time.monotonic() - start
                failure = _last_attempt.failure
                if failure is not None:
                    raise PoolTimeout(
                        f"no connection after {waited:.2f} sec: the last attempt failed: {failure}"
                    ) from None
                if waited >= pool.timeout:
                    raise

    def _close(self) -> None:
        # Before the pool gets it back: another request may take it from there at once.
        if self.pool is not None and self.connection is not None:
            _held.discard(self.connection)
        super()._close()
