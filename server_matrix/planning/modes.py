"""The server modes: one declarative table of command lines (extra modes come from a file: ``modesfile.py``).

A mode's ``args`` follow the interpreter (the runner adds ``python [-X gil=N]``) and may use the
placeholders ``{host}`` (the address to listen on: ``--bind``, 127.0.0.1 by default), ``{port}``,
``{workers}``, ``{threads}`` and ``{server_timeout}``, and ``{loop}`` (``uvloop`` where the
interpreter has it, else ``asyncio``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from server_matrix.planning.gil import GilSetting, setting_key

EVERYWHERE = frozenset({"default", "gil0", "gil1"})
# What a mode's templates (args, title, boots) may name; the counts among them can be a mode's ``slots``.
COUNTS = ("workers", "threads")
PLACEHOLDERS = ("host", "port", *COUNTS, "server_timeout", "loop")

# Every gunicorn: on --bind's address (loopback unless asked), a worker timeout far above the slowest endpoint,
# no control socket (two gunicorns would share its path), and "info" so that "Booting worker" lines reach the log.
GUNICORN_COMMON = (
    "--bind",
    "{host}:{port}",
    "--timeout",
    "{server_timeout}",
    "--graceful-timeout",
    "10",
    "--keep-alive",
    "5",
    "--backlog",
    "2048",
    "--no-control-socket",
    "--log-level",
    "info",
)


# Lines a server logs once per worker that has loaded the application (gunicorn: once per worker started).
GUNICORN_BOOT = "Booting worker"
GRANIAN_BOOT = "Started worker-"
UVICORN_BOOT = "Started server process"
HYPERCORN_BOOT = "Running on http://"


class ModeError(ValueError):
    """A mode table entry that cannot be used."""


@dataclass(frozen=True)
class ServerMode:
    id: str
    title: str
    args: tuple[str, ...]
    about: str = ""  # how the server handles concurrency, for the report's mode table
    boot_line: str | None = None  # what the server logs once per worker up, if it does
    boots: str | None = None  # how many boot lines to expect at start (a template)
    requires: tuple[str, ...] = ()  # modules the server's interpreter must import: without one, skipped
    refuses: Mapping[str, str] = field(default_factory=dict)  # setting key -> why the server will not run so
    # For a server where each request holds a thread until done (one the client abandoned too): the
    # placeholders whose product is how many run at once (("workers", "threads"): N x T). Empty: not so.
    slots: tuple[str, ...] = ()
    meaningful_on: frozenset[str] = field(default=EVERYWHERE)  # setting keys; elsewhere informational
    informational_note: str = ""  # why it is informational elsewhere
    original_title: str | None = None  # the notes' title, used by the `original` profile

    def command_args(self, **values: object) -> list[str]:
        return [arg.format(**values) for arg in self.args]

    def expected_boots(self, **values: object) -> int:
        return int(self.boots.format(**values)) if self.boots else 0

    def refusal(self, gil: GilSetting) -> str | None:
        return self.refuses.get(setting_key(gil))

    def backlog_s(self, connections: int, delay_s: float, **values: object) -> float:
        """How long a blocking server keeps working, after a run, for the requests the client abandoned: the
        last one of each connection, ``delay_s`` each, as many at once as it has slots (0: not blocking)."""
        if not self.slots:
            return 0.0
        return connections * delay_s / math.prod(int(str(values[name])) for name in self.slots)

    def is_meaningful(self, gil: GilSetting) -> bool:
        return setting_key(gil) in self.meaningful_on

    def display_title(self, *, original: bool, **values: object) -> str:
        title = self.original_title if original and self.original_title else self.title
        return title.format(**values)


def _gunicorn(app: str, *worker_args: str) -> tuple[str, ...]:
    return ("-m", "gunicorn", app, *worker_args, *GUNICORN_COMMON)


def _granian(interface: str, app: str, *worker_args: str) -> tuple[str, ...]:
    return (
        "-m",
        "granian",
        "--interface",
        interface,
        app,
        "--host",
        "{host}",
        "--port",
        "{port}",
        "--workers",
        "{workers}",
        *worker_args,
        "--http",
        "1",
        "--no-ws",
        "--backlog",
        "2048",
        "--log-level",
        "info",
    )


GRANIAN_REFUSES = {
    "gil1": "granian's free-threaded build runs its workers as threads of one process and refuses to start "
    "with the GIL enabled",
}
GRANIAN_ON_FREE_THREADED = (
    " On a free-threaded build (its gil=0 row) the N workers are threads of one process, "
    "not N processes; with the GIL on it refuses to start."
)


MODES: tuple[ServerMode, ...] = (
    ServerMode(
        "wsgi-sync",
        "WSGI gunicorn sync, {workers} workers",
        _gunicorn("demo.wsgi:application", "-k", "sync", "-w", "{workers}"),
        about="N processes, one request at a time each, no keep-alive. The control: the GIL barely matters.",
        boots="{workers}",
        boot_line=GUNICORN_BOOT,
        requires=("gunicorn",),
        slots=("workers",),
    ),
    ServerMode(
        "wsgi-gthread",
        "WSGI gunicorn gthread, {workers} workers x {threads} threads",
        _gunicorn("demo.wsgi:application", "-k", "gthread", "-w", "{workers}", "--threads", "{threads}"),
        about="N processes x T pool threads. With the GIL off, T threads run Django views in parallel.",
        boots="{workers}",
        boot_line=GUNICORN_BOOT,
        requires=("gunicorn",),
        slots=("workers", "threads"),
    ),
    ServerMode(
        "asgi-uvicorn-workers",
        "ASGI gunicorn + UvicornWorker, {workers} workers",
        _gunicorn("demo.asgi:application", "-k", "uvicorn_worker.UvicornWorker", "-w", "{workers}"),
        about="N processes x 1 event loop; Django runs each sync step on a per-request thread. "
        'The original "with workers".',
        boots="{workers}",
        boot_line=GUNICORN_BOOT,
        requires=("gunicorn", "uvicorn_worker"),
        original_title="ASGI Gunicorn Uvicorn, with workers",
    ),
    ServerMode(
        "asgi-uvicorn-single",
        "ASGI gunicorn + UvicornWorker, 1 process (--threads is ignored by this worker)",
        _gunicorn("demo.asgi:application", "-k", "uvicorn_worker.UvicornWorker", "-w", "1"),
        about='1 process x 1 event loop. What the original "with threads" really ran: the Uvicorn worker '
        "never reads --threads and -w defaulted to 1.",
        boots="1",
        boot_line=GUNICORN_BOOT,
        requires=("gunicorn", "uvicorn_worker"),
        original_title="ASGI Gunicorn Uvicorn, with threads",
    ),
    ServerMode(
        "asgi-gunicorn",
        "ASGI gunicorn native worker (-k asgi), {workers} workers",
        _gunicorn("demo.asgi:application", "-k", "asgi", "-w", "{workers}", "--asgi-lifespan", "off"),
        about="N processes x 1 event loop, gunicorn's own ASGI worker (gunicorn >= 24).",
        boots="{workers}",
        boot_line=GUNICORN_BOOT,
        requires=("gunicorn",),
    ),
    ServerMode(
        "asgi-threads",
        "ASGI uvicorn, 1 process x {threads} threads with an event loop each",
        (
            "-m",
            "server_matrix.servers.asgi_threads",
            "demo.asgi:application",
            "--host",
            "{host}",
            "--port",
            "{port}",
            "--threads",
            "{threads}",
        ),
        about="1 process x T threads, each running its own event loop and uvicorn server on its own "
        "SO_REUSEPORT socket: the real threads experiment.",
        requires=("uvicorn",),
        meaningful_on=frozenset({"gil0"}),
        informational_note="with a GIL, T event loops in one process share one core's worth of Python; "
        "this mode is meaningful only on a free-threaded build with -X gil=0",
    ),
    ServerMode(
        "granian-wsgi",
        "WSGI granian, {workers} workers x {threads} blocking threads",
        _granian("wsgi", "demo.wsgi:application", "--blocking-threads", "{threads}"),
        about="A Rust HTTP server: N workers, each running Django views on T blocking threads."
        + GRANIAN_ON_FREE_THREADED,
        boots="{workers}",
        boot_line=GRANIAN_BOOT,
        requires=("granian",),
        refuses=GRANIAN_REFUSES,
        slots=("workers", "threads"),
    ),
    ServerMode(
        "granian-asgi",
        "ASGI granian, {workers} workers",
        _granian("asgi", "demo.asgi:application"),
        about="A Rust HTTP server: N workers x 1 event loop." + GRANIAN_ON_FREE_THREADED,
        boots="{workers}",
        boot_line=GRANIAN_BOOT,
        requires=("granian",),
        refuses=GRANIAN_REFUSES,
    ),
    ServerMode(
        "uvicorn-workers",
        "ASGI uvicorn --workers {workers}",
        (
            "-m",
            "uvicorn",
            "demo.asgi:application",
            "--host",
            "{host}",
            "--port",
            "{port}",
            "--workers",
            "{workers}",
            "--lifespan",
            "off",
            "--no-access-log",
            "--backlog",
            "2048",
            "--timeout-keep-alive",
            "5",
        ),
        about="N processes x 1 event loop under uvicorn's own supervisor, no gunicorn.",
        boots="{workers}",
        boot_line=UVICORN_BOOT,
        requires=("uvicorn",),
    ),
    ServerMode(
        "hypercorn",
        "ASGI hypercorn, {workers} workers",
        (
            "-m",
            "hypercorn",
            "demo.asgi:application",
            "--bind",
            "{host}:{port}",
            "--workers",
            "{workers}",
            "--worker-class",
            "{loop}",
            "--backlog",
            "2048",
            "--keep-alive",
            "5",
            "--log-level",
            "info",
            "--error-logfile",
            "-",
        ),
        about="N processes x 1 event loop (uvloop where installed, else asyncio).",
        boots="{workers}",
        boot_line=HYPERCORN_BOOT,
        requires=("hypercorn",),
    ),
    ServerMode(
        "daphne",
        "ASGI daphne, 1 process",
        ("-m", "daphne", "-b", "{host}", "-p", "{port}", "-v", "0", "demo.asgi:application"),
        about="1 process x 1 Twisted reactor: daphne (the Channels project's server) has no workers option, "
        "so it runs one process whatever the profile's worker count.",
        requires=("daphne",),
    ),
)


def loop_values(modules: Collection[str] | None) -> dict[str, str]:
    """``{loop}``: uvloop where the interpreter has it, else asyncio; both, when not known (a listing)."""
    if modules is None:
        return {"loop": "uvloop|asyncio"}
    return {"loop": "uvloop" if "uvloop" in modules else "asyncio"}


def required_modules(modes: Collection[ServerMode]) -> tuple[str, ...]:
    """Every module the modes need, and uvloop for ``{loop}``: what to ask each interpreter about."""
    return tuple(dict.fromkeys([name for mode in modes for name in mode.requires] + ["uvloop"]))


def select_modes(table: tuple[ServerMode, ...], ids: list[str]) -> list[ServerMode]:
    """The modes named by ``ids``, in that order."""
    by_id = {mode.id: mode for mode in table}
    unknown = [mode_id for mode_id in ids if mode_id not in by_id]
    if unknown:
        raise ModeError(f"unknown mode(s) {', '.join(unknown)}; known: {', '.join(by_id)}")
    return [by_id[mode_id] for mode_id in ids]
