"""A server that misbehaves on purpose, for the stopping and failure tests. Standard library only: it starts in a
tenth of a second.

    python tests/matrix/misbehaving_server.py PORT stubborn   # answers 200 on every path, ignores SIGTERM
    python tests/matrix/misbehaving_server.py PORT silent     # listens, never answers (never ready), ignores SIGTERM
    python tests/matrix/misbehaving_server.py PORT failing    # 500 and a traceback on every path but the runtime one
    python tests/matrix/misbehaving_server.py PORT freezing   # SIGSTOPs itself at the 20th request of a measurement
    python tests/matrix/misbehaving_server.py PORT late       # at the 20th, says the demo cannot start, stops, exits 4
    python tests/matrix/misbehaving_server.py PORT loud       # answers 200, logs a traceback when stopped

A graceful stop of the first two lasts the whole grace the runner gives (15 s at a group's end): after Ctrl-C the
runner must not wait that long. The third is ready, then fails every request, as the demo does when its database
is gone, and logs Django's traceback. The fourth is held stopped mid-cell, as by a user's SIGSTOP or a debugger
(the warm-up sends it 2 requests). The fifth is gunicorn whose second worker failed the demo's start-up
(PostgreSQL full) after the first made it ready: its master closes its socket and its workers' connections, and
exits a moment later (HALT_S). The sixth is granian stopped with the demo's async views still queued: each fails,
a traceback.
The runtime endpoint answers the JSON the runner reads (the pid, the GIL).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RUNTIME_PATH = "/myapp/sync/runtime"
FREEZE_AT = 20
HALT_S = 2.0  # from the late server's closed socket to its exit: past the 0.5 s cell's end, within the runner's wait
LATE_FAILURE = "demo: startup failed: PostgreSQL database 'bench' at demo@127.0.0.1:5432: too many clients already"
TRACEBACK = """Traceback (most recent call last):
  File "concurrent/futures/thread.py", line 169, in submit
RuntimeError: cannot schedule new futures after interpreter shutdown"""
DATABASE_GONE = """Traceback (most recent call last):
  File "django/db/backends/base/base.py", line 279, in ensure_connection
    self.connect()
django.db.utils.OperationalError: no connection after 0.25 sec: the last attempt failed: Connection refused"""
requests = 0
halted = threading.Event()
# One report at a time in the log, as a real server's logging handler writes them: print() and socketserver's
# handle_error write line by line, and a request's traceback cut by another thread's "----" line (the client gone at
# the run's end) made that line the log's last error ("the last error in its log: -----...", once under load)
LOG = threading.Lock()


class Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        with LOG:
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        global requests
        requests += self.path != RUNTIME_PATH
        if behaviour == "freezing" and requests == FREEZE_AT:
            os.kill(os.getpid(), signal.SIGSTOP)
        if behaviour == "late" and requests == FREEZE_AT:
            with LOG:
                print(f"{LATE_FAILURE}\n[ERROR] Reason: App failed to load.", file=sys.stderr, flush=True)
            halted.set()
            threading.Thread(target=self.server.shutdown).start()  # serve_forever returns: the socket is closed
        if halted.is_set():
            self.close_connection = True
            return
        failed = behaviour == "failing" and self.path != RUNTIME_PATH
        if failed:
            with LOG:
                print(f"Internal Server Error: {self.path}\n{DATABASE_GONE}", file=sys.stderr, flush=True)
        body = b'{"error": "failing on purpose"}' if failed else json.dumps({"pid": os.getpid(), "gil_enabled": True})
        self.send_response(500 if failed else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode() if isinstance(body, str) else body)

    def log_message(self, *_: object) -> None:
        pass


def fail_loudly(*_: object) -> None:
    print(f"Internal Server Error: /myapp/async/gateway_10s\n{TRACEBACK}", file=sys.stderr, flush=True)
    os._exit(0)


port, behaviour = int(sys.argv[1]), sys.argv[2]
if behaviour in ("stubborn", "silent"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if behaviour == "loud":
    signal.signal(signal.SIGTERM, fail_loudly)
print(f"misbehaving server ({behaviour}) on port {port}", flush=True)
if behaviour == "silent":
    listener = socket.create_server(("127.0.0.1", port))
    time.sleep(3600)
else:
    server = Server(("127.0.0.1", port), Answer)
    server.serve_forever(poll_interval=0.05)
    server.server_close()
    time.sleep(HALT_S)
    os._exit(4)
