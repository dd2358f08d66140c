"""A worker's warnings (a script's, in its load, ``init()`` or a hook; Python's own), sent home
rather than written where the worker is: the parent shows each distinct one once, with how many
workers raised it (``-t 8`` printed each eight times), and as a warning of its own, which the
command shows once a ``--tui`` view has left the screen (a worker's stderr wrote over the view).

A worker applies the user's filters as it raises them (``-W``, ``PYTHONWARNINGS``); the parent
applies them again, to the same effect."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

__all__ = ["Raised", "WorkerWarnings", "record", "shown_here", "taken"]


class Raised(NamedTuple):
    """One warning a worker raised: what it says, its category (``module:qualname``), where."""

    message: str
    category: str
    filename: str
    lineno: int


def _raised(message: Warning | str, category: type[Warning], filename: str, lineno: int) -> Raised:
    return Raised(str(message), f"{category.__module__}:{category.__qualname__}", filename, lineno)


_RAISED: dict[Raised, None] = {}  # the worker's, not yet sent home; each once (with "always", one per call)


def record(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """A worker's ``warnings.showwarning``: the warning kept for :func:`taken` (one shown to a file
    of its own is written there)."""
    if file is not None:
        file.write(warnings.formatwarning(message, category, filename, lineno, line))
        return
    _RAISED[_raised(message, category, filename, lineno)] = None


@contextmanager
def shown_here(shown: list[Raised]) -> Iterator[None]:
    """Each warning this process shows while the block runs is kept in ``shown`` too: the script's top
    level, which every worker runs again, raises the same warning in each, and a :class:`WorkerWarnings`
    given them does not show it a second time (it was said once here, then "(from 8 workers)")."""
    show = warnings.showwarning

    def showing(
        message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
    ) -> None:
        shown.append(_raised(message, category, filename, lineno))
        show(message, category, filename, lineno, file, line)

    warnings.showwarning = showing
    try:
        yield
    finally:
        warnings.showwarning = show


def taken() -> tuple[Raised, ...]:
    """The worker's warnings since the last call, for its next message home."""
    raised = tuple(_RAISED)
    _RAISED.clear()
    return raised


class WorkerWarnings:
    """The warnings of a run's workers, by what they say and where: each shown once, and not at all
    when this process showed it (``shown``: the script's top level's, see :func:`shown_here`)."""

    def __init__(self, shown: Iterable[Raised] = ()) -> None:
        self._raised_by: dict[Raised, set[int]] = {}
        self._shown = frozenset(shown)

    def add(self, worker: int, raised: Iterable[Raised]) -> None:
        for warning in raised:
            self._raised_by.setdefault(warning, set()).add(worker)

    def raised(self) -> tuple[Raised, ...]:
        """Each distinct warning, not shown: a Dask task sends its worker's home, to be shown there."""
        return tuple(self._raised_by)

    def show(self) -> None:
        """Raise each in this process, once, saying how many workers raised it when several did."""
        for warning, workers in self._raised_by.items():
            if warning in self._shown:
                continue
            said = warning.message if len(workers) == 1 else f"{warning.message} (from {len(workers)} workers)"
            warnings.warn_explicit(said, _category(warning.category), warning.filename, warning.lineno)
        self._raised_by.clear()


def _category(name: str) -> type[Warning]:
    """The category ``module:qualname``: Python's own or an imported module's; else one of the same
    name (the script's own class: the parent has no module to find it in)."""
    module, _, qualname = name.partition(":")
    found = getattr(sys.modules.get(module), qualname, None)
    if isinstance(found, type) and issubclass(found, Warning):
        return found
    return type(qualname.rpartition(".")[2], (Warning,), {"__module__": module})
