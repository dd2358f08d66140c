"""How a run's option is declared: once, as a field of :class:`loadgen.Settings` (or of a
command's own options, as wrk's command's output flags), and everything else derived from it.

A field declared with :func:`option` carries its type (the annotation), its default (the API's
and the command line's), its flags with their help and metavar (the usage text's line), and how
the flags' text becomes the value (the unit parsing, naming the flag in the error). From it come
``Settings``, ``loadgen.run(**options)``'s keyword arguments, the flags of every command that
runs load (wrk's command and ``capacity``) and the usage text. No I/O here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from . import units
from .errors import UsageError

__all__ = ["Flag", "Option", "counted", "declared", "each", "option", "seconds", "timed", "unit_parsed"]

T = TypeVar("T")


@dataclass(frozen=True)
class Flag:
    """One command-line flag: its names (the usage text shows ``names``; ``aliases`` are accepted
    too, as wrk accepts ``-L`` and ``-T`` without showing them), the metavar of its value (none:
    a switch), its help line, and whether it may be given many times."""

    names: tuple[str, ...]
    metavar: str = ""
    help: str = ""
    aliases: tuple[str, ...] = ()
    repeat: bool = False
    switch: bool = False  # on or off; with a ``/--no-...`` name, unset is None
    values: tuple[str, ...] = ()  # a switch that may also be given as NAME=VALUE (``--http2=auto``)
    required: bool = False  # the command refuses to run without it (capacity's ``--slo``)
    kind: type = str  # what the command line reads its value as, before ``parse`` (``float``: typer checks it)

    @property
    def parameter(self) -> str:
        """The flag's name as a Python identifier: ``--body-file`` -> ``body_file``."""
        return self.names[-1].split("/")[0].lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Option:
    """A field's command-line side: its flags, and ``parse`` from their values (in order; None
    for a flag not given) to the field's value (None: keep the default). ``check`` (a message
    or None) runs after wrk's own checks. An option with no flag is the command's extra
    arguments (``script_args``)."""

    flags: tuple[Flag, ...]
    parse: Callable[..., Any]
    check: Callable[[Any], str | None] | None = None
    shown: Callable[[Any], str] = str  # the default as ``--help`` shows it


def option(
    default: T,
    *flags: Flag,
    parse: Callable[..., Any] | None = None,
    check: Callable[[T], str | None] | None = None,
    shown: Callable[[T], str] = str,
) -> T:
    """A dataclass field that is a run option: ``default``, the flags, and how their text becomes
    the value (by default the text itself, for one flag)."""
    declared_option = Option(flags, parse or _text, check, shown)
    return dataclasses.field(default=default, metadata={"option": declared_option})


def _text(text: object) -> object:
    return text


def declared(cls: type) -> Iterator[tuple[str, Option]]:
    """The fields of a dataclass that are options, in declaration order, with their Option."""
    for field in dataclasses.fields(cls):
        if "option" in field.metadata:
            yield field.name, field.metadata["option"]


def unit_parsed(flag: str, text: str, parse: Callable[[str], T]) -> T:
    """A unit-bearing argument, or a usage error that names the option."""
    try:
        return parse(text)
    except units.UnitError as exc:
        raise UsageError(f"invalid {flag}: {exc}") from None


def counted(flag: str) -> Callable[[str | None], int | None]:
    """A count with an SI unit (``1k``), named ``flag`` in errors."""
    return lambda text: None if text is None else unit_parsed(flag, text, units.parse_count)


def timed(flag: str) -> Callable[[str | None], float | None]:
    """A duration with a time unit (``2s``), named ``flag`` in errors."""
    return lambda text: None if text is None else unit_parsed(flag, text, units.parse_duration)


def seconds(value: float) -> str:
    """A default duration as the flag takes it: ``2s``."""
    return f"{value:g}s"


def each(parse: Callable[[str], T]) -> Callable[[Sequence[str] | None], tuple[T, ...] | None]:
    """A repeatable flag's values, each parsed."""
    return lambda texts: None if not texts else tuple(parse(text) for text in texts)
