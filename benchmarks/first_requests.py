"""How much slower a freshly started server answers its first requests on each endpoint: what the matrix's warm-up
(``WARM_UP_ROUNDS`` requests per worker process and endpoint) must take out of the measured windows.

    python benchmarks/first_requests.py [--profile default] [--modes wsgi-sync,asgi-uvicorn-workers]
        [--python EXE] [--gil 0] [--requests 8] [--starts 3] [--out /tmp/first-requests]

Each group of the plan (``--profile`` for ``--modes`` on ``--python``, as ``server-matrix run`` builds it) is
started ``--starts`` times by the runner's own session, with its warm-up replaced by ``--requests`` requests in
turn to each endpoint that does not just sleep (a new connection each, as the warm-up's), each timed. Printed
per endpoint: the median of each request's time over the starts (ms), the first against the last, so what a
worker process does once (imports, caches, connections) shows in the first ``workers`` columns.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from server_matrix.measuring.session import GroupSession
from server_matrix.planning.discovery import choose_interpreters
from server_matrix.planning.modes import MODES, required_modules, select_modes
from server_matrix.planning.plan import build_plan
from server_matrix.planning.profiles import PROFILES, resolve
from server_matrix.servers.server import ServerProcess, http_get
from server_matrix.servers.watchdog import WATCHDOG

Times = dict[str, list[list[float]]]


class FirstRequests(GroupSession):
    """The runner's session, timing the first requests where it would warm the server up."""

    def __init__(self, group: Any, parameters: Any, out: Path, requests: int, times: Times) -> None:
        super().__init__(group, parameters, out)
        self.requests = requests
        self.times = times  # per "mode path": each start's request times, ms

    def _warm_up(self, server: ServerProcess) -> None:
        for path in sorted({cell.path for cell in self.group.cells if cell.endpoint.delay_s == 0}):
            taken = []
            for _ in range(self.requests):
                started = time.perf_counter()
                http_get(server.port, path, timeout=self.parameters.timeout_s, host=server.host)
                taken.append((time.perf_counter() - started) * 1000)
            self.times[f"{self.group.title} {path}"].append(taken)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--modes", default="wsgi-sync,asgi-uvicorn-workers")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--gil", type=int, choices=(0, 1), help="only this GIL setting (free-threaded builds)")
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("/tmp/first-requests"))
    options = parser.parse_args()
    modes = select_modes(MODES, options.modes.split(","))
    parameters = resolve(PROFILES[options.profile])
    (interpreter,), _ = choose_interpreters([options.python], False, required_modules(modes), print)
    groups = [
        group
        for group in build_plan([interpreter], modes, parameters)
        if not (group.skipped or group.error) and (options.gil is None or group.gil == options.gil)
    ]
    times: Times = defaultdict(list)
    WATCHDOG.start()
    try:
        for _ in range(options.starts):
            for group in groups:
                session = FirstRequests(group, parameters, options.out, options.requests, times)
                try:
                    session.start()
                finally:
                    session.close()
    finally:
        WATCHDOG.close()
    print(f"median ms of request 1..{options.requests} after a start ({options.starts} starts), per endpoint")
    for name, starts in times.items():
        medians = [statistics.median(column) for column in zip(*starts, strict=True)]
        print(f"  {name:70} " + " ".join(f"{value:6.1f}" for value in medians))


if __name__ == "__main__":
    main()
