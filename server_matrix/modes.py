"""The server modes: one declarative table of command lines, and a loader for extra modes.

A mode's ``args`` follow the interpreter (the runner adds ``python [-X gil=N]``) and may use the
placeholders ``{port}``, ``{workers}``, ``{threads}`` and ``{server_timeout}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from server_matrix.gil import GilSetting, setting_key

EVERYWHERE = frozenset({"default", "gil0", "gil1"})

# Every gunicorn: loopback only, a worker timeout far above the slowest endpoint, no control socket
# (two gunicorns would share its path), and "info" so that "Booting worker" lines reach the log.
GUNICORN_COMMON = (
    "--bind", "127.0.0.1:{port}", "--timeout", "{server_timeout}", "--graceful-timeout", "10",
    "--keep-alive", "5", "--backlog", "2048", "--no-control-socket", "--log-level", "info",
)


class ModeError(ValueError):
    """A mode table entry that cannot be used."""


@dataclass(frozen=True)
class ServerMode:
    id: str
    title: str
    args: tuple[str, ...]
    about: str = ""  # how the server handles concurrency, for the report's mode table
    gunicorn_workers: str | None = None  # "Booting worker" lines expected at start (a template), if gunicorn
    meaningful_on: frozenset[str] = field(default=EVERYWHERE)  # setting keys; elsewhere informational
    informational_note: str = ""  # why it is informational elsewhere
    original_title: str | None = None  # the notes' title, used by the `original` profile

    def command_args(self, **values: object) -> list[str]:
        return [arg.format(**values) for arg in self.args]

    def expected_boots(self, **values: object) -> int:
        return int(self.gunicorn_workers.format(**values)) if self.gunicorn_workers else 0

    def is_meaningful(self, gil: GilSetting) -> bool:
        return setting_key(gil) in self.meaningful_on

    def display_title(self, *, original: bool, **values: object) -> str:
        title = self.original_title if original and self.original_title else self.title
        return title.format(**values)


def _gunicorn(app: str, *worker_args: str) -> tuple[str, ...]:
    return ("-m", "gunicorn", app, *worker_args, *GUNICORN_COMMON)


MODES: tuple[ServerMode, ...] = (
    ServerMode(
        "wsgi-sync", "WSGI gunicorn sync, {workers} workers",
        _gunicorn("demo.wsgi:application", "-k", "sync", "-w", "{workers}"),
        about="N processes, one request at a time each, no keep-alive. The control: the GIL barely matters.",
        gunicorn_workers="{workers}",
    ),
    ServerMode(
        "wsgi-gthread", "WSGI gunicorn gthread, {workers} workers x {threads} threads",
        _gunicorn("demo.wsgi:application", "-k", "gthread", "-w", "{workers}", "--threads", "{threads}"),
        about="N processes x T pool threads. With the GIL off, T threads run Django views in parallel.",
        gunicorn_workers="{workers}",
    ),
    ServerMode(
        "asgi-uvicorn-workers", "ASGI gunicorn + UvicornWorker, {workers} workers",
        _gunicorn("demo.asgi:application", "-k", "uvicorn_worker.UvicornWorker", "-w", "{workers}"),
        about="N processes x 1 event loop; Django runs each sync step on a per-request thread. "
              "The original \"with workers\".",
        gunicorn_workers="{workers}",
        original_title="ASGI Gunicorn Uvicorn, with workers",
    ),
    ServerMode(
        "asgi-uvicorn-single", "ASGI gunicorn + UvicornWorker, 1 process (--threads is ignored by this worker)",
        _gunicorn("demo.asgi:application", "-k", "uvicorn_worker.UvicornWorker", "-w", "1"),
        about="1 process x 1 event loop. What the original \"with threads\" really ran: the Uvicorn worker "
              "never reads --threads and -w defaulted to 1.",
        gunicorn_workers="1",
        original_title="ASGI Gunicorn Uvicorn, with threads",
    ),
    ServerMode(
        "asgi-gunicorn", "ASGI gunicorn native worker (-k asgi), {workers} workers",
        _gunicorn("demo.asgi:application", "-k", "asgi", "-w", "{workers}", "--asgi-lifespan", "off"),
        about="N processes x 1 event loop, gunicorn's own ASGI worker (gunicorn >= 24).",
        gunicorn_workers="{workers}",
    ),
    ServerMode(
        "asgi-threads", "ASGI uvicorn, 1 process x {threads} threads with an event loop each",
        ("-m", "server_matrix.asgi_threads", "demo.asgi:application", "--port", "{port}",
         "--threads", "{threads}"),
        about="1 process x T threads, each running its own event loop and uvicorn server on its own "
              "SO_REUSEPORT socket: the real threads experiment.",
        meaningful_on=frozenset({"gil0"}),
        informational_note="with a GIL, T event loops in one process share one core's worth of Python; "
                           "this mode is meaningful only on a free-threaded build with -X gil=0",
    ),
)


def load_modes_file(path: Path) -> tuple[ServerMode, ...]:
    """Extra modes from a JSON list of objects with the fields of :class:`ServerMode`."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModeError(f"cannot read modes file {path}: {error}") from None
    if not isinstance(entries, list):
        raise ModeError(f"modes file {path}: expected a JSON list of modes")
    modes = []
    for entry in entries:
        try:
            args = tuple(str(arg) for arg in entry.pop("args"))
            meaningful = frozenset(entry.pop("meaningful_on", EVERYWHERE))
            modes.append(ServerMode(args=args, meaningful_on=meaningful, **entry))
        except (AttributeError, KeyError, TypeError) as error:
            raise ModeError(f"modes file {path}: bad mode {entry!r}: {error}") from None
    return tuple(modes)


def select_modes(table: tuple[ServerMode, ...], ids: list[str]) -> list[ServerMode]:
    """The modes named by ``ids``, in that order."""
    by_id = {mode.id: mode for mode in table}
    unknown = [mode_id for mode_id in ids if mode_id not in by_id]
    if unknown:
        raise ModeError(f"unknown mode(s) {', '.join(unknown)}; known: {', '.join(by_id)}")
    return [by_id[mode_id] for mode_id in ids]
