"""stdout and stderr that outlive their reader: a pipe closed early (``| head -1``: EPIPE) or a terminal
gone (EIO) must not cost the run what it measured. Python ignores SIGPIPE, so a write to a closed pipe
raises, and a progress line written mid-run would end the run there, before its --json and --html
files. Wrapped here, the first write that finds its reader gone points the descriptor at /dev/null,
and the run goes on to its end, its files and its exit code, as wrk does (it ignores SIGPIPE and
its printf fails quietly). Nor does a script's ``sys.stdout.close()`` (or stderr's): wrk's
``io.stdout:close()`` is refused (``cannot close standard file``), and so is it here, with a
warning at the script's line (loadgen writes there after the script: closed, the worker failed
at this module's line, or the command in a traceback). Nor does text the terminal's encoding cannot
hold (a URL with ``é`` in an ASCII or Latin-1 locale) end the run in a UnicodeEncodeError: stdout
writes it backslash-escaped (``\\xe9``), as Python's own stderr does. Nor does a stream closed before
the start (``>&-``: Python gives no ``sys.stdout``, and the first socket or file opened would take
descriptor 1, and the report and a worker's prints with it): it is opened again on /dev/null. Nor does one
that refuses what is written (``> /dev/full``, a full disk: ENOSPC) end the run in a traceback before its
files: it goes to /dev/null too, and its error is kept (:func:`write_failed`) for the command to say that
what went there is lost."""

from __future__ import annotations

import errno
import io
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any, TextIO, TypeVar, cast

__all__ = ["kept_open", "outlive_closed_output", "outliving", "write_failed"]

# the reader closed the pipe; the terminal went away; the descriptor is not open for writing (a wrapper
# script, as pyenv's shim, run with 2>&- leaves one of its own files on it)
GONE = (errno.EPIPE, errno.EIO, errno.EBADF)
T = TypeVar("T")


class _Outliving:
    """``stream`` whose ``write`` and ``flush`` go to /dev/null once its reader is gone, never raising for it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.failed: OSError | None = None  # the first write refused with its reader there: a loss to say

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _kept(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except OSError as error:
            if error.errno not in GONE:
                self.failed = self.failed or error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)
        return call()  # what was left in the buffer goes to /dev/null now

    def write(self, text: str) -> int:
        return self._kept(lambda: self._stream.write(text))

    def flush(self) -> None:
        self._kept(self._stream.flush)

    def close(self) -> None:
        if not kept_open(self):
            self._stream.close()


def kept_open(stream: object) -> bool:
    """Whether ``stream``, asked to close, is ``sys.stdout`` or ``sys.stderr`` and stays open (a
    warning at the line of the caller of its ``close()``, the script's)."""
    name = next((name for name in ("stdout", "stderr") if getattr(sys, name) is stream), None)
    if name is None:
        return False
    warning = (
        f"sys.{name}.close() does nothing: loadgen writes there after the script (wrk: cannot close standard file)"
    )
    warnings.warn(warning, RuntimeWarning, stacklevel=3)
    return True


def write_failed(stream: object) -> OSError | None:
    """Why a write to ``stream`` was lost though its reader was there (``/dev/full``, a full disk); None
    when none was, or only to a reader gone (``| head -1``), which asked for no more."""
    return stream.failed if isinstance(stream, _Outliving) else None


def _on_devnull(fd: int) -> TextIO:
    """A stream on descriptor ``fd``, closed when the process started (``>&-``), opened again on /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    if devnull != fd:
        os.dup2(devnull, fd)
        os.close(devnull)
    return open(fd, "w", errors="backslashreplace", closefd=False)


def outliving(stream: TextIO) -> TextIO:
    """``stream`` wrapped so that a reader gone makes its writes vanish instead of raising (once is enough)."""
    return stream if isinstance(stream, _Outliving) else cast(TextIO, _Outliving(stream))


def outlive_closed_output() -> None:
    """From now on, ``sys.stdout`` and ``sys.stderr`` write to /dev/null once their reader is gone, and
    never raise for a character their encoding lacks."""
    if sys.stdout is None:  # closed when Python started: it gave no stream
        sys.stdout = _on_devnull(1)
    if sys.stderr is None:
        sys.stderr = _on_devnull(2)
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")
    sys.stdout = outliving(sys.stdout)
    sys.stderr = outliving(sys.stderr)
