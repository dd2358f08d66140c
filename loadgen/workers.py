"""``loadgen.Workers``: the process that starts loadgen's workers, kept across runs.

Each ``loadgen.run()`` from the API starts a fresh interpreter that imports the engine and then
forks the run's workers (:mod:`loadgen._run.forkserver`): about a fifth of a second, every run. A
program that runs many short measurements (``server-matrix`` runs hundreds) starts that process
once instead::

    with loadgen.Workers() as workers:
        for url in urls:
            results.append(loadgen.run(url, duration=1, workers=workers))

Every run given ``workers`` forks its workers from that one process: each run still gets new
worker processes, so no run sees another's connections or script state.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Self

from ._run import WORKER_MAIN
from ._run.forkserver import ForkServer, ForkServerError
from .errors import UsageError, WorkerError

__all__ = ["Workers"]


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
        self._server: ForkServer | None = _start()

    @property
    def pid(self) -> int | None:
        """The fork server's process id (its workers' parent); None once closed."""
        return self._server.pid if self._server is not None else None

    @property
    def closed(self) -> bool:
        return self._server is None

    def fork_server(self) -> ForkServer:
        """The fork server for the next run: started again if it died or was left in the middle
        of an exchange. For ``loadgen.run()``; raises :class:`loadgen.UsageError` once closed."""
        with self._lock:
            if self._server is None:
                raise UsageError("these loadgen.Workers are closed")
            if not self._server.usable:
                self._server.close()
                self._server = _start()
            return self._server

    def close(self) -> None:
        """Stop the process (harmless twice)."""
        with self._lock:
            if self._server is not None:
                self._server.close()
                self._server = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<loadgen.Workers pid={self.pid}>" if self._server is not None else "<loadgen.Workers closed>"


def _start() -> ForkServer:
    try:
        return ForkServer(WORKER_MAIN)
    except ForkServerError as exc:
        raise WorkerError(str(exc)) from None
