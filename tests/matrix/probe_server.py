"""A demo server slowed or sped up on purpose, for the compare and flag tests.

    python tests/matrix/probe_server.py PORT slow MS    # every request blocks the event loop MS ms (0: plain)
    python tests/matrix/probe_server.py PORT fast       # /myapp/sync/json answered without Django

Serves demo.asgi with uvicorn in one process. ``slow`` behaves as a slow middleware would (at most
1000 / MS requests/sec); ``fast`` makes one endpoint so cheap that loadgen, not the server, is the
limit. Every other path, the runtime endpoint included, is the demo's.
"""

from __future__ import annotations

import sys
import time

import uvicorn

from demo.asgi import application

FAST_PATH = "/myapp/sync/json"
FAST_BODY = b'{"message": "fast"}'
port, behaviour = int(sys.argv[1]), sys.argv[2]
delay_s = float(sys.argv[3]) / 1000 if behaviour == "slow" else 0.0


async def probe_application(scope, receive, send):
    if scope["type"] == "http" and behaviour == "fast" and scope["path"] == FAST_PATH:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(FAST_BODY))],
            }
        )
        await send({"type": "http.response.body", "body": FAST_BODY})
        return
    if scope["type"] == "http" and delay_s:
        time.sleep(delay_s)  # blocks the loop on purpose: every request waits its turn
    await application(scope, receive, send)


uvicorn.run(probe_application, host="127.0.0.1", port=port, lifespan="off", access_log=False, log_level="warning")
