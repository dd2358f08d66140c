"""The ASGI lifespan protocol, answered in front of Django's handler, which raises for any scope but ``http``.

Servers that speak lifespan (granian ``--interface asgi``, hypercorn, uvicorn's ``auto``) send its
scope to each worker at start; given Django's ValueError, granian and hypercorn log an "ASGI
Lifespan errored" warning per worker, and a log that warns on a clean run hides the warnings that
matter. There is nothing to do at either end: ``start_application`` readied the process at import,
and nothing is left to close at exit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApplication = Callable[[Scope, Receive, Send], Awaitable[None]]

# what the server sends -> what the application answers when it is done
COMPLETE = {"lifespan.startup": "lifespan.startup.complete", "lifespan.shutdown": "lifespan.shutdown.complete"}


def with_lifespan(django_application: ASGIApplication) -> ASGIApplication:
    """``django_application`` for every other scope; the lifespan scope answered here."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
        else:
            await django_application(scope, receive, send)

    return application


async def answer_lifespan(receive: Receive, send: Send) -> None:
    """Complete the startup and the shutdown at once; return after the shutdown, as the protocol asks."""
    while True:
        message_type = (await receive())["type"]
        await send({"type": COMPLETE[message_type]})
        if message_type == "lifespan.shutdown":
            return
