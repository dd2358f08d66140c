"""A demo server slowed or sped up on purpose, for the compare and flag tests.

    python tests/matrix/probe_server.py PORT slow MS    # every request blocks the event loop MS ms (0: plain)
    python tests/matrix/probe_server.py PORT fast       # /myapp/sync/json answered without Django
    python tests/matrix/probe_server.py PORT few N      # /myapp/sync/json answered on N of loadgen's connections
    python tests/matrix/probe_server.py PORT paced MS   # /myapp/sync/json answered without Django after MS ms
    python tests/matrix/probe_server.py PORT alternate FILE MS1 MS2   # as paced, MS1 and MS2 at alternate starts

Serves demo.asgi with uvicorn in one process. ``slow`` behaves as a slow middleware would (at most
1000 / MS requests/sec); ``fast`` makes one endpoint so cheap that loadgen, not the server, is the
limit; ``few`` answers loadgen's first N connections and never the others (a server that never reads
them), while the warm-up's requests (``http.client``'s, which ask for ``Accept-Encoding``) are answered;
``paced`` answers that endpoint after sleeping MS ms without blocking the loop, so that its rate is
connections / delay whatever else runs on the machine (the steadiest cell there is); ``alternate``
counts its starts in FILE and is paced MS1 ms at the odd ones, MS2 at the even ones (a server whose
speed changes from one round to the next: the noisiest).
Every other path, the runtime endpoint included, is the demo's.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import uvicorn

from demo.asgi import application

FAST_PATH = "/myapp/sync/json"
FAST_BODY = b'{"message": "fast"}'
port, behaviour = int(sys.argv[1]), sys.argv[2]
delay_s = float(sys.argv[3]) / 1000 if behaviour == "slow" else 0.0
pace_s = float(sys.argv[3]) / 1000 if behaviour == "paced" else 0.0
if behaviour == "alternate":
    starts = Path(sys.argv[3])
    started = int(starts.read_text() or 0) + 1 if starts.exists() else 1
    starts.write_text(str(started))
    pace_s = float(sys.argv[4 if started % 2 else 5]) / 1000
answered_clients = int(sys.argv[3]) if behaviour == "few" else 0
served_clients: set[tuple[str, int]] = set()


async def never_answer(receive) -> None:
    """Read nothing more and send nothing, until the client goes away."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def probe_application(scope, receive, send):
    if scope["type"] == "http" and pace_s and scope["path"] == FAST_PATH:
        await asyncio.sleep(pace_s)
    if scope["type"] == "http" and (behaviour == "fast" or pace_s) and scope["path"] == FAST_PATH:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(FAST_BODY))],
            }
        )
        await send({"type": "http.response.body", "body": FAST_BODY})
        return
    if scope["type"] == "http" and behaviour == "few" and scope["path"] == FAST_PATH:
        client = tuple(scope["client"])
        if b"accept-encoding" not in dict(scope["headers"]) and client not in served_clients:
            if len(served_clients) >= answered_clients:
                await never_answer(receive)
                return
            served_clients.add(client)
    if scope["type"] == "http" and delay_s:
        time.sleep(delay_s)  # blocks the loop on purpose: every request waits its turn
    await application(scope, receive, send)


uvicorn.run(probe_application, host="127.0.0.1", port=port, lifespan="off", access_log=False, log_level="warning")
