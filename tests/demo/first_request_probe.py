"""Run as a script: import ``demo.asgi``, call the ASGI app directly once per path given, and
print (as JSON) the modules those first requests imported and the statuses they got.

A fresh process is needed: the point is what the *first* requests of a server process import.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any


async def call(application: Any, target: str) -> int:
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    pending = [{"type": "http.request", "body": b"", "more_body": False}]
    started: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.append(message)

    await application(scope, receive, send)
    return started[0]["status"]


async def main(targets: list[str]) -> None:
    from demo.asgi import application

    before = set(sys.modules)
    statuses = [await call(application, target) for target in targets]
    print(json.dumps({"statuses": statuses, "imported": sorted(set(sys.modules) - before)}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
