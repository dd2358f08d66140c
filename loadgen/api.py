"""The engine's public face: ``loadgen.run()``, its awaitable twin ``loadgen.run_async()``, and
:func:`run_settings`, the one door into the engine (the only caller of ``prepare`` and
``execute``: the API, wrk's command, ``capacity`` and Dask runs all come through it).

``run()``'s keyword arguments are :class:`loadgen.Settings`'s fields (declared once there) and
the run's controls (``stop``, ``on_progress``, ``dask``, ``workers``); a type checker reads a call
against :class:`~loadgen.run_options.RunOptions`, the forms a caller may give them.

:class:`Workers` keeps the process that starts a run's workers across runs. Each ``run()`` without
it starts a fresh interpreter that imports the engine and then forks the run's workers
(:mod:`loadgen._run.forkserver`): about a fifth of a second, every run. A program that runs many
short measurements (``server-matrix`` runs hundreds) starts that process once instead; each run
still gets new worker processes, so no run sees another's connections or script state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import os
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, Self, TypeVar, Unpack, cast

from ._run import WORKER_MAIN
from ._run.engine import Progress, execute
from ._run.forkserver import Forker, ForkServer, ForkServerError
from ._run.plan import Plan, prepare
from .errors import NOTHING_MEASURED, Interrupted, UsageError, WorkerError
from .result import Result
from .run_options import RunOptions
from .script import ScriptError, imports_beside
from .settings import Settings

if TYPE_CHECKING:
    from distributed import Client

    from .live.second import LiveSecond
    from .live.sinks import Exporter, OnSecond

__all__ = [
    "NOTHING_MEASURED",
    "Progress",
    "Workers",
    "event_loop_name",
    "nothing_measured",
    "run",
    "run_async",
    "run_settings",
]

P = ParamSpec("P")
T = TypeVar("T")


def nothing_measured(result: Result) -> bool:
    """Whether ``result`` holds no worker's measurement, only the workers' failures."""
    return bool(result.worker_failures) and not result.workers


def _measured(result: Result) -> Result:
    """``result``, or the WorkerError the command's exit 2 says when nothing was measured: a
    Result of 0 requests would read as a measurement of 0 requests/sec; or the ScriptError the
    command's exit 1 says when a hook raised during the run, which cut the run short."""
    if nothing_measured(result):
        raise WorkerError(f"{NOTHING_MEASURED} ({'; '.join(map(str, result.worker_failures))})")
    if result.script_error:
        raise ScriptError(result.script_error)
    return result


def run_settings(
    settings: Settings,
    *,
    stop: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    dask: str | Client | None = None,
    on_prepared: Callable[[Plan], None] | None = None,
    on_start: Callable[[], None] | None = None,
    server: Forker | None = None,
    on_second: OnSecond | None = None,
    exporters: Sequence[Exporter] = (),
    on_notice: Callable[[str], None] | None = None,
) -> Result:
    """Prepare and run ``settings``: here, or on the Dask cluster ``dask`` names (then
    ``on_progress`` is called once a second, from the seconds the tasks post). ``on_prepared``
    sees the checked plan before any worker starts (the command warns from it and keeps it for
    the script's ``done()``); ``on_start`` runs once every worker is ready (wrk prints its header
    then); ``server`` starts the workers (the command's fork server, see
    :mod:`loadgen._run.forkserver`). ``on_second`` and the ``exporters`` are given each second as
    it ends and the final one after the run (:mod:`loadgen.live`); one that fails is dropped with a
    :class:`LiveWarning`. On a cluster, ``on_notice`` is given each line its hosts warn of before
    the run (a local run's are in the plan's notices, which ``on_prepared`` sees)."""
    if dask is not None:  # refused before the plan's warnings, what needs no cluster to be refused
        from ._run.cluster import check_dask

        settings.check()  # bad input first, before the network
        check_dask(dask, settings.threads, stop)
    sinks = _sinks(settings, exporters, on_second, on_progress, dask)
    hub = None
    if sinks:  # the live machinery, and the cluster's below, imported only by the runs that use them
        from .live.sinks import Hub, LiveWarning

        hub = Hub(settings, settings.threads, sinks)
    deliver = hub.deliver if hub is not None else None
    plan = prepare(settings, here=dask is None, stop=stop)
    if on_prepared is not None:
        on_prepared(plan)
    if dask is not None:
        from ._run.cluster import execute_on_cluster

        result = execute_on_cluster(plan, dask, stop=stop, on_start=on_start, on_second=deliver, on_notice=on_notice)
    else:
        result = execute(plan, stop=stop, on_start=on_start, on_progress=on_progress, server=server, on_second=deliver)
    if hub is not None:
        hub.end(result)
        for failure in hub.failures:
            warnings.warn(failure, LiveWarning, stacklevel=_outside_loadgen())
    return result


def _sinks(
    settings: Settings,
    exporters: Sequence[Exporter],
    on_second: OnSecond | None,
    on_progress: Callable[[Progress], None] | None,
    dask: str | Client | None,
) -> list[Exporter | OnSecond]:
    """What the run's seconds go to: on a cluster, ``on_progress`` too (:func:`_progress_of_seconds`)."""
    sinks: list[Exporter | OnSecond] = [*exporters, *([on_second] if on_second is not None else [])]
    if dask is not None and on_progress is not None:
        sinks.append(_progress_of_seconds(on_progress, settings.warmup))
    return sinks


def _progress_of_seconds(on_progress: Callable[[Progress], None], warmup_s: float) -> OnSecond:
    """``on_progress`` fed from the run's seconds: a cluster's tasks post those, not the live counts a local run's
    workers keep for it (``--progress --dask`` showed nothing); so once a second, not twice, and not in a warm-up.
    A dead task's requests, which the final second keeps in its counts, are its ``lost`` there, as a local run's."""

    @functools.wraps(on_progress)  # a LiveWarning names it, should it fail
    def second(live: LiveSecond) -> None:
        lost = sum(worker.requests for worker in live.lost)
        on_progress(Progress(live.elapsed_s + warmup_s, live.requests - lost, live.error_count, lost))

    return second


def event_loop_name() -> str:
    """The event loop a worker runs on here (``uvloop`` or ``asyncio``), for ``-v``."""
    from ._run.eventloop import new_event_loop  # only -v needs it

    loop, name = new_event_loop()
    loop.close()
    return name


class Workers:
    """A fork server for loadgen's workers, started at once and kept until :meth:`close` (or the
    ``with`` block's end), for ``loadgen.run(..., workers=...)`` and ``run_async``.

    Runs may share it one after another or at once, from several threads. If its process died
    between runs (killed, or gone with the thread that started it: on Linux it dies with that
    thread, so start it from one that outlives its runs, such as the main thread), the next run
    starts another, transparently; if it dies during a run, that run fails with a
    :class:`loadgen.WorkerError`, as a run's own would. Closing it stops the process, and with it
    (on Linux) any worker still running. Raises :class:`loadgen.WorkerError` when the process
    cannot be started.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # the server, in a list the finalizer shares (it must not hold self): empty once closed
        self._servers: list[ForkServer] = [_start()]
        self._finalizer = weakref.finalize(self, _abandoned, self._servers)

    @property
    def pid(self) -> int | None:
        """The fork server's process id (its workers' parent); None once closed."""
        return self._servers[0].pid if self._servers else None

    def fork_server(self) -> ForkServer:
        """The fork server for the next run: started again if it died or was left in the middle
        of an exchange. For ``loadgen.run()``; raises :class:`loadgen.UsageError` once closed."""
        with self._lock:
            if not self._servers:
                raise UsageError("these loadgen.Workers are closed")
            if not self._servers[0].usable:
                self._servers[0].close()
                self._servers[0] = _start()
            return self._servers[0]

    def close(self) -> None:
        """Stop the process (harmless twice)."""
        with self._lock:
            self._finalizer.detach()
            for server in self._servers:
                server.close()
            self._servers.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<loadgen.Workers pid={self.pid}>" if self._servers else "<loadgen.Workers closed>"


def _abandoned(servers: list[ForkServer]) -> None:
    """Workers never closed, collected or left at exit: its process stopped, and a ResourceWarning
    that names it, as an unclosed file's does (Python's said only "subprocess N is still running"
    and "unclosed <socket ...>", naming no loadgen)."""
    server = servers.pop()  # a closed one's finalizer is detached: it holds its one server
    server.close()
    said = f"unclosed <loadgen.Workers pid={server.pid}>: close() it, or use it in a with block (its process stopped)"
    warnings.warn(said, ResourceWarning, stacklevel=_outside_loadgen())


# the files a finalizer's warning is not put on: weakref's finalize calls it, from loadgen's code or the user's
_NOT_THE_USERS = (weakref.__file__, os.path.dirname(os.path.abspath(__file__)) + os.sep)


def _outside_loadgen() -> int:
    """The stacklevel, for its caller's warning, of the first frame outside loadgen and weakref:
    the user's line where the Workers were dropped (stacklevel 2 named weakref.py; Python 3.12's
    skip_file_prefixes does this), or that called ``run()`` whose callback failed (not the engine's
    line). Past the stack's end at exit, where Python names 'sys:1', as for a file left open then."""
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_NOT_THE_USERS):
        frame, level = frame.f_back, level + 1
    return level


def _start() -> ForkServer:
    try:
        return ForkServer(WORKER_MAIN)
    except ForkServerError as exc:
        raise WorkerError(str(exc)) from None


class _Notices:
    """What the command prints before a run (a ``delay()`` that ``rate`` does not call, a header
    HTTP/2 does not send, ``http2="auto"`` fallen back to HTTP/1.1, a cluster host's warning),
    kept to be warned on the caller's line once the run returns: ``run()`` dropped them all."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def prepared(self, plan: Plan) -> None:
        self.lines.extend(plan.notices)

    def warn(self) -> None:
        for line in self.lines:
            said = line.removeprefix("loadgen: ").removeprefix("warning: ")
            warnings.warn(said, RuntimeWarning, stacklevel=_outside_loadgen())


class _RunStop(threading.Event):
    """One run's stop: set by cancelling its ``run_async`` (or by Ctrl-C in it), and set as well
    while the caller's ``stop`` is. The caller's event is only read: cancelling one run set it,
    which stopped every other run given it and made each later one raise Interrupted."""

    def __init__(self, given: threading.Event | None) -> None:
        super().__init__()
        self._given = given

    def is_set(self) -> bool:
        return super().is_set() or (self._given is not None and self._given.is_set())


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Call(Settings):
    """A call of :func:`run`: the settings, and how to run them."""

    stop: threading.Event | None = None
    on_progress: Callable[[Progress], None] | None = None
    dask: str | Client | None = None
    on_second: OnSecond | None = None
    exporters: Sequence[Exporter] = ()
    workers: Workers | None = None

    def __post_init__(self) -> None:
        """The controls checked at the call too, as the settings are: each names itself."""
        if self.url and self.targets:  # the command's refusal (the URL's path was never sent)
            raise UsageError(f"give either url or targets, not both ({self.url})")
        super().__post_init__()
        if self.workers is not None and not isinstance(self.workers, Workers):
            raise UsageError(f"workers must be a loadgen.Workers or None, not {self.workers!r}")
        if self.stop is not None and (isinstance(self.stop, type) or not callable(getattr(self.stop, "is_set", None))):
            raise UsageError(f"stop must be an event (threading.Event: its is_set()) or None, not {self.stop!r}")
        for name in ("on_progress", "on_second"):
            if (hook := getattr(self, name)) is not None and not callable(hook):
                raise UsageError(f"{name} must be a function or None, not {hook!r}")
        if not _exporters(self.exporters):
            takes = "a list of loadgen.Exporter (start, second, end) or functions"
            raise UsageError(f"exporters must be {takes}, not {self.exporters!r}")

    def run_stop(self) -> _RunStop:
        return _RunStop(self.stop)

    def runner(self, stop: threading.Event, notices: _Notices) -> Callable[[], Result]:
        """The run, as :func:`run` and :func:`run_async` (in its executor's thread) make it: its workers' starter
        taken here, in the caller's thread (see :meth:`server`), the command's notices kept in ``notices``; the
        script's imports undone after it (:func:`loadgen.script.imports_beside`)."""
        run = functools.partial(
            run_settings,
            self.settings(),
            stop=stop,
            on_progress=_kept(self.on_progress),
            dask=self.dask,
            on_prepared=notices.prepared,
            server=self.server(),
            on_second=self.on_second,
            exporters=self.exporters,
            on_notice=notices.lines.append,
        )
        return functools.partial(_beside_script, self.script, run)

    def settings(self) -> Settings:
        return Settings(**{field.name: getattr(self, field.name) for field in dataclasses.fields(Settings)})

    def server(self) -> Forker | None:
        """What starts the run's workers: ``workers``' fork server (taken in the caller's thread:
        one started again there lives as long as that thread), or None for a fresh one."""
        if self.workers is None:
            return None
        if self.dask is not None:
            raise UsageError("workers= cannot be used with dask=: the cluster's tasks run the workers")
        return self.workers.fork_server()


def _exporters(given: object) -> bool:
    """Whether ``given`` is a sequence of exporters (or of functions, called as ``on_second``): one
    of another type would fail only when the run first gives it a second, dropped as a failing one."""
    return (
        isinstance(given, Sequence)
        and not isinstance(given, str | bytes)
        and all(
            callable(sink) or all(callable(getattr(sink, method, None)) for method in ("start", "second", "end"))
            for sink in given
        )
    )


def _kept(on_progress: Callable[[Progress], None] | None) -> Callable[[Progress], None] | None:
    """``on_progress``, dropped with a LiveWarning the first time it raises, as a failing
    ``on_second`` is: a bug in the caller's progress display must not end the run and lose what
    it measured (it is called from the loop that gathers the workers)."""
    if on_progress is None:
        return None
    from .live.sinks import LiveWarning, dropped

    failed = False

    def call(progress: Progress) -> None:
        nonlocal failed
        if failed:
            return
        try:
            on_progress(progress)
        except Exception as exc:  # noqa: BLE001 - said as the LiveWarning, as a failing on_second's
            failed = True
            said = dropped(getattr(on_progress, "__qualname__", repr(on_progress)), exc)
            warnings.warn(said, LiveWarning, stacklevel=_outside_loadgen())  # on the caller's line, not the engine's

    return call


def _beside_script(script: str | None, run: Callable[[], Result]) -> Result:
    with imports_beside(script):
        return run()


def _call(url: str = "", **options: Unpack[RunOptions]) -> _Call:
    """The call's arguments as :class:`_Call` checks and stores them; typed for the caller's type checker
    with the forms it may give (``headers`` a dict, ``duration="1s"``), which _Call's stored types are not."""
    return _Call(url, **cast("dict[str, Any]", options))


def _called_as(call: Callable[P, _Call]) -> Callable[[Callable[[_Call], T]], Callable[P, T]]:
    """``function``, called with ``call``'s arguments (Settings' fields, then the controls)."""

    def wrap(function: Callable[[_Call], T]) -> Callable[P, T]:
        signature = inspect.Signature(list(inspect.signature(_Call).parameters.values()))

        @functools.wraps(function)
        def called(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                signature.bind(*args, **kwargs)
            except TypeError as exc:  # as Python says it, naming this function, not _Call
                raise TypeError(f"{function.__name__}() {exc}") from None
            return function(call(*args, **kwargs))

        called.__signature__ = signature  # type: ignore[attr-defined]
        return called

    return wrap


@_called_as(_call)
def run(call: _Call) -> Result:
    """Load ``url`` as ``wrk -t threads -c connections -d duration`` would, and return the result.

    The options are :class:`loadgen.Settings`'s fields: ``duration`` and ``timeout`` are
    seconds; ``rate`` switches to a constant total rate (requests/sec, latency from the intended
    send times); ``requests`` stops after that many responses (``duration`` still bounds the run
    unless it is None). Setting ``stop`` ends the run early with what was measured. ``dask`` runs
    each worker as a task on a Dask cluster: a scheduler's address (``"tcp://10.0.0.5:8786"``),
    ``"local:N"`` for N worker processes here, or a connected ``distributed.Client``
    (``on_progress`` is then called once a second, from the tasks' seconds). ``on_second`` is
    called with each second of the run as it ends (a :class:`loadgen.LiveSecond`, from a thread
    of the run's; the last one, ``final``, after the run), and so are the ``exporters``
    (:class:`loadgen.PrometheusExporter`, :class:`loadgen.OtlpExporter`, or any
    :class:`loadgen.Exporter`). ``targets``, instead of
    ``url``, is a list of requests (:class:`loadgen.Target`, or a URL for a GET) on one server,
    sent in turn by weight, each with its line in ``Result.targets``. ``workers`` (a
    :class:`loadgen.Workers`) starts the run's workers from a process kept across runs, instead
    of a fresh one per run (not with ``dask``). Raises :class:`loadgen.LoadgenError` subclasses
    with wrk's messages for bad settings, an unreachable target or a script's error (during the
    run too: a hook that raised cut it short, and the command prints no report), a :class:`loadgen.WorkerError`
    when every worker failed and no measurement came home (the command exits 2 without a
    report then), a :class:`loadgen.UsageError` naming an argument of the wrong type, and a
    TypeError for an unknown keyword.
    """
    notices = _Notices()
    try:
        result = call.runner(call.run_stop(), notices)()
    except Interrupted as exc:
        if exc.running:  # Ctrl-C in the script's top level or setup(): as in the rest of the run, not a LoadgenError
            raise KeyboardInterrupt(f"interrupted while {exc.running}") from None
        raise
    notices.warn()
    return _measured(result)


@_called_as(_call)
async def run_async(call: _Call) -> Result:
    """:func:`run` for code already inside an event loop: the run happens in worker processes
    watched from a thread, so the loop stays free. Cancelling stops the run."""
    stop = call.run_stop()
    notices = _Notices()
    future = asyncio.get_running_loop().run_in_executor(None, call.runner(stop, notices))
    try:
        result = await asyncio.shield(future)
        notices.warn()  # here, on the caller's line: the run's thread has none
        return _measured(result)
    except asyncio.CancelledError:
        stop.set()
        # the workers are stopped and reaped before we give up; how the run ended (Interrupted, when
        # it had not started) is taken, not left to be logged as a future's exception never retrieved
        await asyncio.gather(future, return_exceptions=True)
        raise
