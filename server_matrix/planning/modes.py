"""The server modes: one declarative table of command lines (extra modes come from a file: ``modesfile.py``).

A mode's ``args`` follow the interpreter (the runner adds ``python [-X gil=N]``) and may use the
placeholders ``{host}`` (the address to listen on: ``--bind``, 127.0.0.1 by default), ``{port}``,
``{workers}``, ``{threads}`` and ``{server_timeout}``, and ``{loop}`` (``uvloop`` where the
interpreter has it, else ``asyncio``).

With ``--http2`` each mode has a sibling measured over HTTP/2 (``over_http2()``): its server
started with ``h2c_args``, which serve h2c with prior knowledge *and* HTTP/1.1 on one port (the
runner's readiness checks, warm-up and ``runtime`` queries speak HTTP/1.1); a server that does not
gives a sibling skipped everywhere, with ``no_h2c`` as the reason.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace

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
# gunicorn's Uvicorn worker: uvicorn_worker's module is found without uvicorn, which it imports, so a venv without
# uvicorn ran these modes, whose every server exited at boot, where the other uvicorn modes were skipped.
UVICORN_WORKER_REQUIRES = ("gunicorn", "uvicorn_worker", "uvicorn")

H2_ID = "{id}-h2"  # a mode's sibling measured over HTTP/2
H2_TITLE = "{title}, over HTTP/2 (h2c)"
NO_H2C = "not known to speak h2c (HTTP/2 in clear text, with prior knowledge): no command line for it"
# gunicorn (27): HTTP/2 beside HTTP/1.1, in clear text both with prior knowledge and by upgrade (so that an
# HTTP/1.1 request is served as one), with the h2 library; its gthread and asgi workers speak it.
GUNICORN_H2C = ("--http-protocols", "h2,h1", "--http2-cleartext", "both")
GUNICORN_NO_H2C = (
    "gunicorn's sync worker answers the HTTP/2 preface in HTTP/1.1 (its gthread and asgi workers speak h2c)"
)
UVICORN_NO_H2C = "uvicorn speaks HTTP/2 only with --http zttp (alpha), not measured here"


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
    # A worker keeps the connections it accepts, queued for its own threads (of 32, `ss -tnp`: one gthread worker held
    # 28 to 31, one granian worker 16 to 22): the backlog left after a run may be one worker's, not the whole server's.
    one_worker_backlog: bool = False
    meaningful_on: frozenset[str] = field(default=EVERYWHERE)  # setting keys; elsewhere informational
    informational_note: str = ""  # why it is informational elsewhere
    original_title: str | None = None  # the notes' title, used by the `original` profile
    # HTTP/2: the command line that serves h2c with prior knowledge and HTTP/1.1 alike (None: none does)
    h2c_args: tuple[str, ...] | None = None
    h2c_requires: tuple[str, ...] = ()  # modules that command needs besides ``requires``
    no_h2c: str = NO_H2C  # why not, when ``h2c_args`` is None
    http2: bool = False  # measured over HTTP/2: a sibling made by over_http2()

    def over_http2(self) -> ServerMode:
        """The sibling measured over HTTP/2 (h2c): its own id, title and command line; skipped under
        every GIL setting, with ``no_h2c``, when the server does not speak h2c."""
        sibling = replace(
            self,
            id=H2_ID.format(id=self.id),
            title=H2_TITLE.format(title=self.title),
            http2=True,
            original_title=None,
        )
        if self.h2c_args is None:
            about = f"Not measured over HTTP/2: {self.no_h2c}."
            return replace(sibling, refuses=dict.fromkeys(sorted(EVERYWHERE), self.no_h2c), about=about)
        return replace(sibling, args=self.h2c_args, requires=self.requires + self.h2c_requires, h2c_args=None)

    def command_args(self, **values: object) -> list[str]:
        return [arg.format(**values) for arg in self.args]

    def expected_boots(self, **values: object) -> int:
        return int(self.boots.format(**values)) if self.boots else 0

    def refusal(self, gil: GilSetting) -> str | None:
        return self.refuses.get(setting_key(gil))

    def at_once(self, **values: object) -> int | None:
        """How many requests the server runs at once: the product of its slots (None: not bounded so). A gateway
        endpoint's own closed-loop bound, and the backlog it keeps after a run, follow from it."""
        if not self.slots:
            return None
        return math.prod(int(str(values[name])) for name in self.slots)

    def backlog_s(self, connections: int, delay_s: float, **values: object) -> float:
        """How long a blocking server keeps working, after a run, for the requests the client abandoned: the
        last one of each connection, ``delay_s`` each, as many at once as it has slots, or as one worker has
        when one worker may hold them all (0: not blocking)."""
        at_once = self.at_once(**values)
        workers = int(str(values["workers"])) if self.one_worker_backlog else 1  # the share of one worker's slots
        return 0.0 if at_once is None else connections * delay_s * workers / at_once

    def informational_under(self, gil: GilSetting) -> str | None:
        """Why a cell under ``gil`` is informational (None: the mode is meaningful there). A modes file's mode with
        ``meaningful_on`` and no ``informational_note`` gets one naming the settings: an empty note marked nothing."""
        if setting_key(gil) in self.meaningful_on:
            return None
        settings = ", ".join(sorted(self.meaningful_on))
        return self.informational_note or f"meaningful only on {settings} (its meaningful_on)"


def _gunicorn(app: str, *worker_args: str) -> tuple[str, ...]:
    return ("-m", "gunicorn", app, *worker_args, *GUNICORN_COMMON)


def _granian(interface: str, app: str, *worker_args: str, http: str = "1") -> tuple[str, ...]:
    """granian's command line; ``http="auto"`` serves HTTP/1.1 and h2c with prior knowledge on one port
    (``--http 2`` would refuse the runner's HTTP/1.1 readiness checks). A worker that does not stop
    on SIGTERM is killed after 3 s: one in about 25 stops hung (granian issue 875), and the
    runner would wait its whole stop grace (15 s) for it."""
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
        http,
        "--no-ws",
        "--backlog",
        "2048",
        "--log-level",
        "info",
        "--workers-kill-timeout",
        "3",
    )


GRANIAN_REFUSES = {
    "gil1": "granian's free-threaded build runs its workers as threads of one process and refuses to start "
    "with the GIL enabled",
}
GRANIAN_ON_FREE_THREADED = (
    " On a free-threaded build (its gil=0 row) the N workers are threads of one process, "
    "not N processes; with the GIL on it refuses to start."
)


HYPERCORN_ARGS = (
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
)  # hypercorn serves h2c with prior knowledge beside HTTP/1.1


MODES: tuple[ServerMode, ...] = (
    ServerMode(
        "wsgi-sync",
        "WSGI gunicorn sync, {workers} workers",
        _gunicorn("demo.wsgi:application", "-k", "sync", "-w", "{workers}"),
        about="N processes, one request at a time each, no keep-alive. The control: the GIL barely matters.",
        boots="{workers}",
        boot_line=GUNICORN_BOOT,
        requires=("gunicorn",),
        no_h2c=GUNICORN_NO_H2C,
        slots=("workers",),
    ),
    ServerMode(
        "wsgi-gthread",
        "WSGI gunicorn gthread, {workers} workers x {threads} threads",
        _gunicorn("demo.wsgi:application", "-k", "gthread", "-w", "{workers}", "--threads", "{threads}"),
        h2c_args=_gunicorn(
            "demo.wsgi:application", "-k", "gthread", "-w", "{workers}", "--threads", "{threads}", *GUNICORN_H2C
        ),
        h2c_requires=("h2",),
        about="N processes x T pool threads. With the GIL off, T threads run Django views in parallel.",
        boots="{workers}",
        boot_line=GUNICORN_BOOT,
        requires=("gunicorn",),
        slots=("workers", "threads"),
        one_worker_backlog=True,
    ),
    ServerMode(
        "asgi-uvicorn-workers",
        "ASGI gunicorn + UvicornWorker, {workers} workers",
        _gunicorn("demo.asgi:application", "-k", "uvicorn_worker.UvicornWorker", "-w", "{workers}"),
        about="N processes x 1 event loop; Django runs each sync step on a per-request thread. "
        'The original "with workers".',
        boots="{workers}",
        boot_line=GUNICORN_BOOT,
        requires=UVICORN_WORKER_REQUIRES,
        no_h2c=UVICORN_NO_H2C,
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
        requires=UVICORN_WORKER_REQUIRES,
        no_h2c=UVICORN_NO_H2C,
        original_title="ASGI Gunicorn Uvicorn, with threads",
    ),
    ServerMode(
        "asgi-gunicorn",
        "ASGI gunicorn native worker (-k asgi), {workers} workers",
        _gunicorn("demo.asgi:application", "-k", "asgi", "-w", "{workers}", "--asgi-lifespan", "off"),
        h2c_args=_gunicorn(
            "demo.asgi:application", "-k", "asgi", "-w", "{workers}", "--asgi-lifespan", "off", *GUNICORN_H2C
        ),
        h2c_requires=("h2",),
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
        no_h2c=UVICORN_NO_H2C,
        meaningful_on=frozenset({"gil0"}),
        informational_note="with a GIL, T event loops in one process share one core's worth of Python; "
        "this mode is meaningful only on a free-threaded build with -X gil=0",
    ),
    ServerMode(
        "granian-wsgi",
        "WSGI granian, {workers} workers x {threads} blocking threads",
        _granian("wsgi", "demo.wsgi:application", "--blocking-threads", "{threads}"),
        h2c_args=_granian("wsgi", "demo.wsgi:application", "--blocking-threads", "{threads}", http="auto"),
        about="A Rust HTTP server: N workers, each running Django views on T blocking threads."
        + GRANIAN_ON_FREE_THREADED,
        boots="{workers}",
        boot_line=GRANIAN_BOOT,
        requires=("granian",),
        refuses=GRANIAN_REFUSES,
        slots=("workers", "threads"),
        one_worker_backlog=True,
    ),
    ServerMode(
        "granian-asgi",
        "ASGI granian, {workers} workers",
        _granian("asgi", "demo.asgi:application"),
        h2c_args=_granian("asgi", "demo.asgi:application", http="auto"),
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
        no_h2c=UVICORN_NO_H2C,
    ),
    ServerMode(
        "hypercorn",
        "ASGI hypercorn, {workers} workers",
        HYPERCORN_ARGS,
        about="N processes x 1 event loop (uvloop where installed, else asyncio).",
        boots="{workers}",
        boot_line=HYPERCORN_BOOT,
        requires=("hypercorn",),
        h2c_args=HYPERCORN_ARGS,
    ),
    ServerMode(
        "daphne",
        "ASGI daphne, 1 process",
        ("-m", "daphne", "-b", "{host}", "-p", "{port}", "-v", "0", "demo.asgi:application"),
        about="1 process x 1 Twisted reactor: daphne (the Channels project's server) has no workers option, "
        "so it runs one process whatever the profile's worker count.",
        requires=("daphne",),
        no_h2c="daphne speaks HTTP/2 only over TLS (ALPN), not h2c",
    ),
)


def loop_values(*modules: Collection[str] | None) -> dict[str, str]:
    """``{loop}``: uvloop where the interpreters (their modules) have it, else asyncio; both where they
    differ, or where none is known (a listing without interpreters)."""
    loops = {"uvloop" if "uvloop" in found else "asyncio" for found in modules if found is not None}
    return {"loop": loops.pop() if len(loops) == 1 else "uvloop|asyncio"}


def required_modules(modes: Collection[ServerMode]) -> tuple[str, ...]:
    """Every module the modes need, and uvloop for ``{loop}``: what to ask each interpreter about."""
    return tuple(dict.fromkeys([name for mode in modes for name in mode.requires] + ["uvloop"]))


def select_modes(table: tuple[ServerMode, ...], ids: list[str]) -> list[ServerMode]:
    """The modes named by ``ids``, in that order. An HTTP/2 sibling's id (``server-matrix modes`` lists some) is
    refused with what measures it: ``--http2`` beside its mode."""
    by_id = {mode.id: mode for mode in table}
    unknown = [mode_id for mode_id in ids if mode_id not in by_id]
    siblings = {mode.over_http2().id: mode.id for mode in table}
    if unknown and set(unknown) <= set(siblings):
        named = [siblings[mode_id] for mode_id in unknown]
        raise ModeError(
            f"{', '.join(unknown)}: HTTP/2 sibling(s) of {', '.join(named)}, measured only with run --http2 "
            f"(--modes {','.join(named)} --http2)"
        )
    if unknown:
        raise ModeError(f"unknown mode(s) {', '.join(unknown)}; known: {', '.join(by_id)}")
    return [by_id[mode_id] for mode_id in ids]


def with_http2(modes: list[ServerMode]) -> list[ServerMode]:
    """``--http2``: each mode followed by its sibling measured over HTTP/2."""
    return [sibling for mode in modes for sibling in (mode, mode.over_http2())]
