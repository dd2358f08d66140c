"""One process, T threads, each with its own event loop and uvicorn server: the real "ASGI with threads".

    python -X gil=0 -m server_matrix.servers.asgi_threads demo.asgi:application --port 8000 --threads 4

Runs inside the server's interpreter, so it imports only the standard library and uvicorn.
Each thread listens on its own ``SO_REUSEPORT`` socket on the same port: the kernel spreads new
connections over the T sockets, instead of waking every loop for every accept on a shared one.
The application is imported once, in the main thread, and shared by every loop. Only on a
free-threaded build with the GIL off do the T loops run Python at the same time.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import socket
import sys
import threading
from typing import Any

import uvicorn

JOIN_POLL_S = 0.2  # the main thread wakes up this often, so SIGTERM is handled promptly


def load_application(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module_name), attribute or "application")


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m server_matrix.servers.asgi_threads", description=__doc__.split("\n")[0]
    )
    parser.add_argument("app", help="module:attribute of the ASGI application")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--loop", default="auto", help="uvicorn --loop: auto, asyncio, uvloop")
    parser.add_argument("--http", default="auto", help="uvicorn --http: auto, h11, httptools")
    parser.add_argument("--backlog", type=int, default=2048)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    options = parse_arguments(sys.argv[1:] if argv is None else argv)
    application = load_application(options.app)
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                application,
                loop=options.loop,
                http=options.http,
                lifespan="off",
                access_log=False,
                log_config=None,
                log_level="warning",
                backlog=options.backlog,
            )
        )
        for _ in range(options.threads)
    ]
    sockets = [listening_socket(options.host, options.port, options.backlog) for _ in servers]
    threads = [
        threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"loop-{index}")
        for index, (server, sock) in enumerate(zip(servers, sockets, strict=True))
    ]

    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()
        for server in servers:
            server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for thread in threads:
        thread.start()
    print(
        f"asgi_threads: serving {options.app} on {options.host}:{options.port} with {len(threads)} "
        f"threads (GIL {'enabled' if getattr(sys, '_is_gil_enabled', lambda: True)() else 'disabled'})",
        file=sys.stderr,
        flush=True,
    )
    failed = False
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(JOIN_POLL_S)
        if not stopping.is_set() and not all(thread.is_alive() for thread in threads):
            print("asgi_threads: a server thread ended on its own; stopping the others", file=sys.stderr, flush=True)
            failed = True
            stop()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
