"""Where merged seconds go: the run's views and exporters, each given every second in order and
the final one at the end. A sink that fails is dropped with one line said about it; the run and
the other sinks go on."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

from ..result import Result
from ..settings import Settings
from .collate import Collator
from .record import LivePost
from .second import LiveSecond

__all__ = ["Exporter", "Hub", "LiveWarning", "OnSecond", "SinkProblem", "dropped"]

OnSecond = Callable[[LiveSecond], None]


class LiveWarning(RuntimeWarning):
    """A view or exporter failed and was dropped; the run went on (the message says which and why)."""


class SinkProblem(Exception):
    """A sink's own account of what went wrong, said as it is."""


@runtime_checkable
class Exporter(Protocol):
    """What the run gives its seconds to: :meth:`start` with the run's settings before it starts,
    :meth:`second` for each second as it ends (from a thread of the run's, never the caller's),
    :meth:`end` once with the final one, after the run."""

    def start(self, settings: Settings) -> None: ...

    def second(self, live: LiveSecond) -> None: ...

    def end(self, live: LiveSecond) -> None: ...


class _Callback:
    """A plain function as an exporter: called with every second, the final one too."""

    def __init__(self, function: OnSecond) -> None:
        self.function = function
        self.name = getattr(function, "__qualname__", repr(function))

    def start(self, settings: Settings) -> None:
        pass

    def second(self, live: LiveSecond) -> None:
        self.function(live)

    def end(self, live: LiveSecond) -> None:
        self.function(live)


class Hub:
    """The workers' records in (:meth:`deliver`, the engine's ``on_second``), every sink's seconds out."""

    def __init__(self, settings: Settings, workers: int, sinks: Iterable[Exporter | OnSecond]) -> None:
        self.sinks: list[Exporter] = [sink if isinstance(sink, Exporter) else _Callback(sink) for sink in sinks]
        self.failures: list[str] = []  # one line per sink that failed, for the caller to say
        self.collator = Collator(settings, workers, self._second)
        self._each(lambda sink: sink.start(settings))

    def deliver(self, post: LivePost) -> None:
        self.collator.add(post)

    def _second(self, live: LiveSecond) -> None:
        self._each(lambda sink: sink.second(live))

    def end(self, result: Result) -> None:
        """Give every sink the final second, taken from the run's result."""
        final = self.collator.final(result)
        self._each(lambda sink: sink.end(final))

    def _each(self, call: Callable[[Exporter], None]) -> None:
        """``call`` on every sink; one that raises is dropped."""
        for sink in list(self.sinks):
            try:
                call(sink)
            except Exception as exc:  # noqa: BLE001 - a view's bug must not stop the run nor the other views
                self._drop(sink, exc)

    def _drop(self, sink: Exporter, exc: Exception) -> None:
        self.sinks.remove(sink)
        self.failures.append(dropped(getattr(sink, "name", type(sink).__name__), exc))


def dropped(name: str, exc: Exception) -> str:
    """Why a live view or callback named ``name`` was dropped from the run, for its LiveWarning."""
    return f"{name}: {exc}" if isinstance(exc, SinkProblem) else f"{name}: stopped: {type(exc).__name__}: {exc}"
