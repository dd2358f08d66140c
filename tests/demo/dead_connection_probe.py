"""Run as a script with DATABASE_URL set, pool of 2, and a cluster directory as the argument:
hold a pooled connection, stop PostgreSQL, and time a query while the held connection is dead.

That is what a web request sees when the previous request failed on the pool's last live-looking
connection and Django has not given it back yet (it does so after sending the response): the
process holds a connection, but a dead one, so nothing shows that the server serves. Prints (as
JSON) each step's outcome and the last query's wait.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

POSTGRES_SCRIPT = ["bash", str(Path(__file__).resolve().parents[2] / ".ci" / "postgres.sh")]


def query() -> str:
    """``ok``, or the name of the error a ``SELECT 1`` on this thread's connection raised."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:  # the outcome is the report
        return type(error).__name__
    return "ok"


def query_and_close() -> str:
    """A request's life: a query, then its connection back to the pool."""
    from django.db import connection

    try:
        return query()
    finally:
        connection.close()


def in_thread(work: Callable[[], str]) -> str:
    """``work()`` run in a thread of its own: another request, with its own Django connection."""
    results: list[str] = []
    thread = threading.Thread(target=lambda: results.append(work()))
    thread.start()
    thread.join()
    return results[0]


def main(cluster: str) -> None:
    import demo.wsgi  # noqa: F401  (Django set up as a server process sets it up)

    outcomes = [query(), in_thread(query_and_close)]  # this thread holds one; the other is idle
    subprocess.run([*POSTGRES_SCRIPT, "stop", cluster], capture_output=True, timeout=60, check=True)
    outcomes.append(query())  # fails: the held connection is dead, and still held
    outcomes.append(in_thread(query_and_close))  # fails on the idle one: the pool's attempts fail
    start = time.monotonic()
    outcomes.append(in_thread(query_and_close))
    print(json.dumps({"outcomes": outcomes, "waited": time.monotonic() - start}))


if __name__ == "__main__":
    main(sys.argv[1])
