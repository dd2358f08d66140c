"""Where a server-matrix cell's time goes outside its window, phase by phase, with one ``loadgen.Workers`` for
every cell and with a fresh fork server per cell (as before it), in turn.

    python benchmarks/cell_phases.py [--profile default] [--modes wsgi-sync,asgi-uvicorn-single]
        [--python EXE] [--visits 2] [--out /tmp/cell-phases]

The plan of ``--profile`` for ``--modes`` on ``--python`` (default: this interpreter) is built as ``server-matrix
run`` builds it; each group's server is started, its cells measured by the runner's own session
(``GroupSession.measure``), and stopped; ``--visits`` times per side, alternating which goes first. Each phase is
timed around the session's own methods: the server's start (``_ensure_server``, when it starts one), loadgen's
call beyond its window (``_load``), the settling after it (``_settle``: the wait for the server to answer, then
``runtime_reports``, timed apart), and the rest (the interference watch, the log's events). Medians [quartiles]
per endpoint and overall, milliseconds; the cells that started a server are left out of the overall figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spread import spread_ms

import loadgen
from server_matrix.measuring.session import GroupSession
from server_matrix.planning.discovery import choose_interpreters
from server_matrix.planning.modes import MODES, required_modules, select_modes
from server_matrix.planning.plan import build_plan
from server_matrix.planning.profiles import PROFILES, resolve
from server_matrix.servers.server import ServerProcess
from server_matrix.servers.watchdog import WATCHDOG

PHASES = ("load", "settle", "reports", "rest")


class Timer:
    """Seconds spent in the functions it wraps, by phase, since the last :meth:`take`."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)

    def wrap(self, phase: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                return function(*args, **kwargs)
            finally:
                self.spent[phase] += time.monotonic() - started

        return timed

    def take(self) -> dict[str, float]:
        spent, self.spent = dict(self.spent), defaultdict(float)
        return spent


def visit(group: Any, parameters: Any, out: Path, workers: loadgen.Workers | None, timer: Timer) -> list[dict]:
    """Every cell of the group once, on one server: each one's phases (seconds)."""
    session = GroupSession(group, parameters, out, workers)
    session._load = timer.wrap("load", session._load)  # type: ignore[method-assign]
    session._settle = timer.wrap("settle", session._settle)  # type: ignore[method-assign]
    session._ensure_server = timer.wrap("start", session._ensure_server)  # type: ignore[method-assign]
    rows = []
    try:
        for planned in group.cells:
            if planned.skipped:
                continue
            timer.take()
            cell = session.measure(planned)
            spent = timer.take()
            (sample,) = cell.samples
            if sample.result is None or sample.elapsed_s is None:
                print(f"{group.mode.id} {planned.endpoint.name}: {sample.reason}", flush=True)
                continue
            window = sample.result.runtime_us / 1e6
            start, load, settle, reports = (spent.get(phase, 0.0) for phase in ("start", "load", "settle", "reports"))
            rows.append(
                {
                    "endpoint": planned.endpoint.name,
                    "started_server": start > 0.05,
                    "beyond": sample.elapsed_s - window - start,
                    "load": load - window,
                    "settle": settle - reports,
                    "reports": reports,
                    "rest": sample.elapsed_s - load - settle - start,
                }
            )
    finally:
        session.close()
    return rows


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    ms = spread_ms(values)
    return f"{ms.median:6.0f} [{ms.q1:.0f}, {ms.q3:.0f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--modes", default="wsgi-sync,asgi-uvicorn-single")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--visits", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("/tmp/cell-phases"))
    options = parser.parse_args()
    modes = select_modes(MODES, options.modes.split(","))
    parameters = resolve(PROFILES[options.profile])
    (interpreter,), _ = choose_interpreters([options.python], False, required_modules(modes), print)
    groups = [group for group in build_plan([interpreter], modes, parameters) if not (group.skipped or group.error)]
    timer = Timer()
    ServerProcess.runtime_reports = timer.wrap("reports", ServerProcess.runtime_reports)  # type: ignore[method-assign]
    rows: dict[str, list[dict]] = {"pool": [], "fresh": []}
    WATCHDOG.start()
    try:
        with loadgen.Workers() as workers:
            sides = [("pool", workers), ("fresh", None)]
            for _ in range(options.visits):
                for group in groups:
                    for side, pool in sides:
                        rows[side] += visit(group, parameters, options.out, pool, timer)
                    sides.reverse()
    finally:
        WATCHDOG.close()
    for side, measured in rows.items():
        running = [row for row in measured if not row["started_server"]]
        print(f"\n{side}: {len(running)} cells on a running server (ms, median [quartiles])")
        print(f"  {'endpoint':22} {'beyond window':>18} " + " ".join(f"{phase:>18}" for phase in PHASES))
        by_endpoint: dict[str, list[dict]] = defaultdict(list)
        for row in running:
            by_endpoint[row["endpoint"]].append(row)
        for endpoint, chosen in [*sorted(by_endpoint.items()), ("all", running)]:
            figures = " ".join(f"{summary([row[phase] for row in chosen]):>18}" for phase in PHASES)
            print(f"  {endpoint:22} {summary([row['beyond'] for row in chosen]):>18} {figures}")


if __name__ == "__main__":
    main()
