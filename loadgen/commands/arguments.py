"""The command line of every command that runs load, made from the options' declarations (see
:mod:`loadgen.options`): each declared flag becomes a typer option, and the flags' text becomes
the declared field's value, with the option's own parsing and messages."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import typer

from ..errors import UsageError, excerpt, shown
from ..options import Flag, declared, unit_parsed
from ..settings import MAX_STREAMS, Settings
from ..units import UnitError, looks_like_a_number, parse_count

__all__ = [
    "command_parameters",
    "declared_values",
    "settings_values",
    "spelled_out",
    "with_parameters",
    "wrk_abbreviated",
]

T = TypeVar("T")
# where (or in what form) a result goes, in every command that has them: each may be given once
OUTPUT_FLAGS = ("--json", "--html", "--metrics-listen", "--otlp-endpoint", "--format")
# wrk's long options (wrk.c's longopts), which its getopt_long takes abbreviated
WRK_LONG_OPTIONS = (
    "--connections",
    "--duration",
    "--threads",
    "--script",
    "--header",
    "--latency",
    "--timeout",
    "--help",
    "--version",
)


def _annotation(flag: Flag) -> Any:
    if flag.switch:
        return bool | None if "/" in flag.names[0] else bool
    return list[str] | None if flag.repeat else str | None


def _parameter(flag: Flag, help_text: str | None, default_text: str | None, shown: bool) -> inspect.Parameter:
    """A typer option; a flag with a value starts from its default's text (``10s``), as typed."""
    default: object = ... if flag.required else default_text
    if flag.switch:
        default = None if "/" in flag.names[0] else False
    info = typer.Option(default, *flag.names, *flag.aliases, help=help_text, show_default=shown)
    return inspect.Parameter(flag.parameter, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=_annotation(flag))


def command_parameters(
    cls: type,
    *,
    exclude: Collection[str] = (),
    helps: Mapping[str, str] | None = None,
    defaults: Mapping[str, object] | None = None,
    shown: bool = False,
) -> Iterator[inspect.Parameter]:
    """The typer parameters of ``cls``'s declared options (``helps`` and ``defaults``: a
    command's own help and default for a field, as capacity's "of each step"; ``shown``: help
    and defaults in ``--help``, for commands whose help is typer's)."""
    defaults = {field.name: field.default for field in dataclasses.fields(cls)} | dict(defaults or {})
    for name, declared_option in declared(cls):
        if name in exclude:
            continue
        if not declared_option.flags:
            extra = typer.Argument(None, hidden=True)
            yield inspect.Parameter(
                name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=extra, annotation=list[str] | None
            )
        default = defaults[name]
        default_text = None if default in (None, (), False) else declared_option.shown(default)
        for index, flag in enumerate(declared_option.flags):
            help_text = (helps or {}).get(name, flag.help) if shown else None
            yield _parameter(flag, help_text, default_text if index == 0 else None, shown)
            for value in flag.values:  # NAME=VALUE, spelled NAME-VALUE by spelled_out()
                info = typer.Option(False, _switch_name(flag, value), hidden=True)
                keyword = inspect.Parameter.KEYWORD_ONLY
                yield inspect.Parameter(_valued(flag, value), keyword, default=info, annotation=bool)


def _valued(flag: Flag, value: str) -> str:
    return f"{flag.parameter}_{value}"


def _switch_name(flag: Flag, value: str) -> str:
    """The hidden switch a ``NAME=VALUE`` is spelled as (``--http2-auto``): click's switches take no value."""
    return f"{flag.names[-1]}-{value}"


def _names_of(cls: type, field: str) -> frozenset[str]:
    """Every name ``cls``'s field is given by on a command line, its hidden switches too."""
    flags = dict(declared(cls))[field].flags
    return frozenset(
        name
        for flag in flags
        for name in (
            *flag.names[0].split("/"),
            *flag.names[1:],
            *flag.aliases,
            *(_switch_name(flag, v) for v in flag.values),
        )
    )


HTTP2_SWITCHES = _names_of(Settings, "http2")  # --http2, and --http2=auto's hidden switch --http2-auto


def spelled_out(args: list[str], cls: type, params: Iterable[Any]) -> list[str]:
    """The command line with each ``NAME=VALUE`` of a switch that takes one (``--http2=auto``)
    spelled as the hidden switch ``NAME-VALUE``: click's switches take no value. Another value
    is a UsageError naming the ones it takes (click would say it takes none); so is ``-m`` given
    both a number and a word (see :func:`_one_kind_of_m`), and an output flag given twice (see
    :func:`_outputs_once`). Only the flags the command has (``params``, its click parameters) are
    looked at: another command's (``loadgen report --http2=auto``) is left to click, which refuses
    it by the name given (it said ``No such option: --http2-auto``, or that --http2 takes =auto)."""
    params = list(params)
    known = {name for param in params for name in (*param.opts, *param.secondary_opts)}
    valued = _taking_values(params)
    takes = {name: flag for _, option in declared(cls) for flag in option.flags for name in flag.names if name in known}
    if "-m" in known:
        _one_kind_of_m(args, valued)
    _outputs_once(args, known, valued)
    return [_spelled(arg, takes) for arg in args]


def wrk_abbreviated(args: list[str], params: Iterable[Any]) -> list[str]:
    """The command line with wrk's long options spelled out where they are abbreviated, as wrk's
    getopt_long takes them (``--conn 100``, ``--lat``): a prefix of one of them only is that option,
    of several (``--t``: ``--threads`` and ``--timeout``) a UsageError naming them, as getopt's.
    ``params`` are the command's click parameters: their flags are never taken for prefixes, nor
    the value a flag takes (``-b --lat`` sends the body ``--lat``), nor anything after ``--``."""
    options = [param for param in params if getattr(param, "param_type_name", "") == "option"]
    known = {name for param in options for name in (*param.opts, *param.secondary_opts)}
    valued = _taking_values(options)
    spelled: list[str] = []
    words = iter(args)
    for word in words:
        if word == "--":
            return [*spelled, word, *words]
        given, equals, value = word.partition("=")
        name = given if given in known else _wrk_option(given)
        spelled.append(name + equals + value)
        if name in valued and not equals:  # its value is the next word, whatever it looks like
            spelled += [following] if (following := next(words, None)) is not None else []
    return spelled


def _taking_values(params: Iterable[Any]) -> frozenset[str]:
    """The names of the options among a command's click ``params`` that take a value (``-b``, ``--json``)."""
    options = (param for param in params if getattr(param, "param_type_name", "") == "option")
    return frozenset(name for param in options if not param.is_flag for name in param.opts)


def _wrk_option(given: str) -> str:
    """The one of wrk's long options ``given`` abbreviates, or ``given`` itself (not one of them)."""
    matches = [option for option in WRK_LONG_OPTIONS if given.startswith("--") and option.startswith(given)]
    if len(matches) > 1 and given != "--":
        possibilities = " ".join(f"'{option}'" for option in matches)
        raise UsageError(f"option '{given}' is ambiguous; possibilities: {possibilities}")
    return matches[0] if len(matches) == 1 else given


def _outputs_once(args: list[str], known: Collection[str], valued: Collection[str]) -> None:
    """A flag that says where (or in what form) a result goes takes one value: click keeps the
    last, and the output the first asked for was never written, in silence (``--json a.json
    --json b.json``: no a.json). Which of the two was meant cannot be told, so neither is guessed
    (the same value again loses nothing). The run's settings (``-c``, ``-d``, ...) keep wrk's
    rule: the last one given wins."""
    for flag in (flag for flag in OUTPUT_FLAGS if flag in known):
        given = list(dict.fromkeys(_values(args, valued, flag)))
        if len(given) > 1:
            raise UsageError(f"{flag} given twice ({shown(given[0])} and {shown(given[1])}): give it once")


def json_to_stdout(args: list[str], params: Iterable[Any]) -> bool:
    """Whether ``--json -`` asked for stdout to carry the JSON document alone (``params``: the
    command's click parameters)."""
    return "-" in _values(args, _taking_values(params), "--json")


def _one_kind_of_m(args: list[str], valued: Collection[str]) -> None:
    """``-m`` is h2load's streams when a number, else the method: given as both (``-m 10 -m POST``),
    click keeps the last and one of them was dropped in silence."""
    given = _values(args, valued, "--method", "-m")
    numbers = [value for value in given if looks_like_a_number(value)]
    words = [value for value in given if not looks_like_a_number(value)]
    if numbers and words:
        _streams_of_m(numbers[-1], http2=any(name in HTTP2_SWITCHES for name, _ in _given(args, valued)))
        raise UsageError(
            f"-m {numbers[-1]} and -m {shown(words[-1])}: give the streams per connection as --streams {numbers[-1]}"
        )


def _streams_of_m(text: str, *, http2: bool) -> int:
    """``-m``'s number as the streams per connection, for a hint to name (give it as --streams, add
    --http2); one that --streams refuses too is said to be no value -m takes: the hint named it
    (``-m -3 -m POST``: "give the streams per connection as --streams -3", itself refused). What -m
    takes is said as it applies: the streams "with --http2" only when --http2 was not given."""
    try:
        streams = parse_count(text)
    except UnitError:
        streams = 0
    if not 1 <= streams <= MAX_STREAMS:
        each = "the streams per connection"
        takes = f"a method or {each}" if http2 else f"a method, or with --http2 {each}"
        raise UsageError(f"-m {shown(text)}: -m takes {takes} (h2load's -m), a whole number from 1 to {MAX_STREAMS}")
    return streams


def _values(args: list[str], valued: Collection[str], *names: str) -> list[str]:
    """The values of the option ``names`` (its long and short names) on a command line whose
    options ``valued`` take a value: see :func:`_given`."""
    return [value for name, value in _given(args, valued) if name in names]


def _given(args: list[str], valued: Collection[str]) -> Iterator[tuple[str, str]]:
    """Each option of ``valued`` (those taking a value) on a command line with its value, as click
    reads them (``--name X``, ``--name=X``, ``-m X``, ``-mX``), and each long switch with its
    ``=VALUE`` or "" (``--http2``, ``--http2=auto``), up to ``--`` (the script's arguments). A word
    that is an option's value is that value, whatever it looks like: ``-b --json`` sends the body
    ``--json``, which was read as a --json taking the next word (a second --json naming the URL as
    its file, or the --json of ``--json -`` with ``-`` for its value)."""
    words = iter(args)
    for word in words:
        if word == "--":
            return
        name, equals, value = word.partition("=")
        if word in valued:
            yield word, next(words, "")
        elif equals and name in valued and name.startswith("--"):
            yield name, value
        elif not word.startswith("--") and word[:2] in valued and len(word) > 2:  # -m-3 is -m -3, as click reads it
            yield word[:2], word[2:]
        elif word.startswith("--"):  # a switch, its =VALUE if any: --http2, --http2=auto
            yield name, value


def _spelled(arg: str, takes: dict[str, Flag]) -> str:
    name, equals, value = arg.partition("=")
    if not (equals and name in takes and takes[name].values):
        return arg
    flag = takes[name]
    if value not in flag.values:
        raise UsageError(f"{name} takes no value, or ={' or ='.join(flag.values)}, not {excerpt(value)}")
    return _switch_name(flag, value)


def declared_values(cls: type, given: Mapping[str, Any], *, exclude: Collection[str] = ()) -> dict[str, Any]:
    """``cls``'s fields from the flags' values: each option's parse, in declaration order (so the
    first bad flag is the one named); a field whose flags were not given keeps its default."""
    values: dict[str, Any] = {}
    for name, declared_option in declared(cls):
        if name in exclude:
            continue
        texts = [
            given.get(parameter)
            for flag in declared_option.flags
            for parameter in (flag.parameter, *(_valued(flag, value) for value in flag.values))
        ] or [given.get(name)]
        value = declared_option.parse(*texts)
        if value is not None:
            values[name] = value
    return values


def url_or_targets(url: str | None, values: Mapping[str, Any]) -> str | None:
    """The URL a command loads, "" when ``--targets`` gives the requests instead, None when neither
    is given; both is a usage error (the targets would run, the URL silently ignored)."""
    if url is not None and values.get("targets"):
        raise UsageError(f"give either a URL or --targets, not both ({url})")
    if url is None and not values.get("targets"):
        return None
    return url or ""


def settings_values(ctx: typer.Context, given: Mapping[str, Any], *, exclude: Collection[str] = ()) -> dict[str, Any]:
    """:class:`~loadgen.Settings`' fields from the flags of a command that runs load, with h2load's
    ``-m N``: ``-m`` followed by a number (``10``, ``1k``; ``10.5`` and ``-3`` are refused as
    ``--streams`` refuses them) is the streams per connection (``--streams N``) with ``--http2``,
    and refused with the hint without it (no HTTP method is a number: it is h2load's ``-m``; one
    that is no count of streams either is said to be neither); otherwise ``-m`` is the method."""
    values = _typed_or_own(ctx, declared_values(Settings, given, exclude=exclude))
    method = values.get("method")
    if method is None or not looks_like_a_number(method):
        return values
    if not values.get("http2"):
        _streams_of_m(method, http2=False)
        raise UsageError(
            f"-m {shown(method)} is not a method: for {shown(method)} streams per connection (h2load's -m), add --http2"
        )
    streams = unit_parsed("-m", method, parse_count)
    if _typed(ctx, "streams"):
        raise UsageError(
            f"-m {shown(method)} and --streams {values['streams']} both give the streams per connection: give one"
        )
    del values["method"]
    return values | {"streams": streams}


def _typed(ctx: typer.Context, parameter: str) -> bool:
    """Whether the flag was on the command line (not its default)."""
    source = ctx.get_parameter_source(parameter)
    return source is not None and source.name == "COMMANDLINE"


def _typed_or_own(ctx: typer.Context, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` without those of flags left out that are Settings' own defaults: the field keeps
    its default itself, which the stages may replace (``-d``, ``-c``), while the same value typed
    is the user's. A command's own default (capacity's step) stays."""
    defaults = {field.name: field.default for field in dataclasses.fields(Settings)}
    flags = dict(declared(Settings))
    return {
        name: value
        for name, value in values.items()
        if value != defaults[name] or any(_typed(ctx, flag.parameter) for flag in flags[name].flags)
    }


def with_parameters(function: Callable[..., T], parameters: list[inspect.Parameter]) -> Callable[..., T]:
    """``function`` (taking ``**values``) presented to typer with ``parameters``."""
    ordered = sorted(parameters, key=lambda parameter: parameter.kind)  # positional ones first
    function.__signature__ = inspect.Signature(ordered)  # type: ignore[attr-defined]
    return function
