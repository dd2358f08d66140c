"""A demo server that dies in the middle of a measurement, for the failure tests.

    python tests/matrix/dying_server.py PORT KILL_AT

Serves demo.asgi with uvicorn and SIGKILLs its own process on request number KILL_AT to
/myapp/sync/json (warm-up sends a few; the measurement sends many more), after saying so on
stderr. A restarted server counts from zero again, and no other path is counted.
"""

from __future__ import annotations

import os
import signal
import sys

import uvicorn

from demo.asgi import application

DYING_PATH = "/myapp/sync/json"
port, kill_at = int(sys.argv[1]), int(sys.argv[2])
seen = 0


async def dying_application(scope, receive, send):
    global seen
    if scope["type"] == "http" and scope["path"] == DYING_PATH:
        seen += 1
        if seen == kill_at:
            print(f"dying on purpose at request {seen} to {DYING_PATH}", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    await application(scope, receive, send)


uvicorn.run(dying_application, host="127.0.0.1", port=port, lifespan="off", access_log=False, log_level="warning")
