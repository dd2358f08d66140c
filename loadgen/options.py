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
import numbers
import reprlib
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from . import units
from .errors import UsageError

__all__ = [
    "Flag",
    "Forms",
    "Option",
    "api_value",
    "counted",
    "declared",
    "each",
    "option",
    "percentage",
    "seconds",
    "timed",
    "unit_parsed",
]

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

    @property
    def parameter(self) -> str:
        """The flag's name as a Python identifier: ``--body-file`` -> ``body_file``."""
        return self.names[-1].split("/")[0].lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Forms:
    """What the API takes for an option besides its type (``headers`` as a dict): ``convert``
    makes them the stored value (a TypeError or ValueError for anything else), ``text`` names
    them in the error."""

    convert: Callable[[Any], Any]
    text: str


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
    forms: Forms | None = None


def option(
    default: T,
    *flags: Flag,
    parse: Callable[..., Any] | None = None,
    check: Callable[[T], str | None] | None = None,
    shown: Callable[[T], str] = str,
    forms: Forms | None = None,
) -> T:
    """A dataclass field that is a run option: ``default``, the flags, how their text becomes
    the value (by default the text itself, for one flag), and the API's other forms of it."""
    declared_option = Option(flags, parse or _text, check, shown, forms)
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


def percentage(flag: str) -> Callable[[str | None], float | None]:
    """A percentage, its ``%`` sign optional (``5`` or ``5%``), named ``flag`` in errors."""
    return lambda text: None if text is None else unit_parsed(flag, text, units.parse_percentage)


def seconds(value: float) -> str:
    """A default duration as the flag takes it: ``2s``."""
    return f"{value:g}s"


def each(parse: Callable[[str], T]) -> Callable[[Sequence[str] | None], tuple[T, ...] | None]:
    """A repeatable flag's values, each parsed."""
    return lambda texts: None if not texts else tuple(parse(text) for text in texts)


def api_value(field: dataclasses.Field[Any], kind: Any, value: object) -> object:
    """``value``, given from Python for ``field`` (declared as ``kind``), as the field stores it;
    or a UsageError that names the argument, what was given and what it takes, raised where it
    was given: a wrong type would otherwise fail deep inside the run, naming none of them.
    A number may also be the text its flag takes (``duration="1s"``), read by the flag's parser."""
    declared_option: Option | None = field.metadata.get("option")
    if isinstance(value, str) and declared_option is not None and _is_number(kind):
        try:
            return declared_option.parse(value)
        except UsageError as exc:
            raise UsageError(f"{field.name}={value!r}: {exc}") from None
    forms = declared_option.forms if declared_option is not None else None
    if forms is not None and not (isinstance(value, str) and get_origin(kind) is tuple):  # not split into letters
        try:
            value = forms.convert(value)
        except (TypeError, ValueError):
            pass  # refused below, as given
    if _accepts(kind, value):
        return _stored(field.name, kind, value)
    takes = str(field.type) + (f" or {forms.text}" if forms is not None else "")
    if declared_option is not None and _is_number(kind) and declared_option.flags:
        takes += f" or the text {declared_option.flags[0].names[0]} takes"
    raise UsageError(f"{field.name} must be {takes}, not {reprlib.repr(value)}")


def _stored(name: str, kind: Any, value: object) -> object:
    """A number as its field's own type, as the command's parsers make it: ``duration=2``,
    ``Fraction(1, 2)`` or ``numpy.int64(4)`` as a float or an int (the result's JSON could not
    write numpy's int64 nor a Fraction, and a float field's 2 was written ``2`` where the
    command's run says ``2.0``); one too large for a float is refused here, naming it (it
    overflowed deep in the checks). A float or int already (a default's mark too) is kept."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return value
    if _accepts(kind, 0.5) and not isinstance(value, float):
        try:
            return float(value)
        except OverflowError:
            raise UsageError(f"{name} is too large: {reprlib.repr(value)}") from None
    if isinstance(value, numbers.Integral) and not isinstance(value, int):  # an int field's: _accepts took it
        return int(value)
    return value


def _is_number(kind: Any) -> bool:
    return _accepts(kind, 0)


def _accepts(kind: Any, value: object) -> bool:
    """Whether ``value`` is of the type ``kind`` (the few forms the options' types use); a bool
    is no number here, though Python's bool is an int."""
    origin, args = get_origin(kind), get_args(kind)
    if origin in (Union, types.UnionType):
        return any(_accepts(arg, value) for arg in args)
    if origin is Literal:
        return any(type(value) is type(arg) and value == arg for arg in args)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if args[1:] == (Ellipsis,):
            return all(_accepts(args[0], item) for item in value)
        return len(value) == len(args) and all(map(_accepts, args, value))
    if kind is type(None):
        return value is None
    if kind in (int, float):
        return isinstance(value, numbers.Integral if kind is int else numbers.Real) and not isinstance(value, bool)
    return isinstance(value, kind)
