"""A run's parameters, declared once: each field of :class:`Parameters` with its option, help, default, rule.

Everything else is derived from this one declaration: the profiles set some of the fields
(``profiles.py``), ``server-matrix run`` has one option per field that has a ``flag`` (``cli.py``
builds them from :data:`KNOBS`), :func:`resolve_values` sizes the unset ones to the machine and checks
every value against its rule, the plan records the ``measured`` ones with each cell (a cell
finished in an earlier run is kept only if they are unchanged), and results.json's schema of
``parameters`` comes from the field types and rules. Adding a parameter is adding a field here
(and the code that uses it).
"""

from __future__ import annotations

import math
import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from functools import cache
from typing import Any

import loadgen
from demo.endpoints import MAX_GATEWAY_SCALE
from demo.myapp.seed_data import DEFAULT_ROW_COUNT, MAX_ROW_COUNT
from server_matrix.planning.endpoints import ENDPOINTS, VARIANTS, Endpoint
from server_matrix.planning.gil import FREE_THREADED_SETTINGS
from server_matrix.planning.modes import MODES
from server_matrix.planning.optiontext import cpu_list, listen_address, names, settings
from server_matrix.planning.window import Window

MIN_REPEAT = 2  # an adaptive cell's least repetitions: one run says nothing of the next
# the longest a window or a wait may be: loadgen's for -d (a socket's timeout overflows far above it)
LONGEST_S = loadgen.LONGEST_S


class ProfileError(ValueError):
    """A parameter that cannot be used (one line, naming its option)."""


@dataclass(frozen=True)
class Machine:
    """What the unset parameters are sized from."""

    server_cores: int
    client_cores: int
    slowest_delay_s: float  # the slowest selected endpoint's delay, scaled
    available: tuple[int, ...]  # the CPUs this process may use
    client_pinned: bool


@dataclass(frozen=True)
class Knob:
    """How one parameter is set and checked."""

    flag: str | None  # its option of `server-matrix run` (None: set by profiles only)
    help: str
    least: float | None = None  # a number's least value...
    inclusive: bool = True  # ...and whether that value itself is allowed
    most: float | None = None  # a number's greatest value (the demo's bound on what it is given)
    measured: bool = False  # a cell's numbers depend on it: a kept cell must have been measured with the same
    sized: Callable[[Machine], Any] | None = None  # the value when none is given (None: the default stands)
    parse: Callable[[str], Any] | None = None  # its option's text to the value (a list, CPUs)
    known: tuple[object, ...] | None = None  # the values a list may hold, in their order
    negative_flag: str | None = None  # a switch's other name (--gateway-everywhere)
    instead_of: str | None = None  # given, it replaces this parameter's profile value (which may not be given too)
    newer: bool = False  # results.json files written before it existed lack it: not required there (see EARLIER)


def knob(default: object, flag: str | None, help: str, **rules: Any) -> Any:
    """A field of :class:`Parameters` with its knob."""
    return field(default=default, metadata={"knob": Knob(flag, help, **rules)})


@dataclass(frozen=True)
class Parameters:
    """A profile resolved to values: everything a run needs, stored with its results."""

    profile: str = knob("default", None, "the profile these values start from")
    modes: tuple[str, ...] = knob(
        tuple(mode.id for mode in MODES), "--modes", "Comma-separated mode ids (default: the profile's).", parse=names
    )
    endpoints: tuple[str, ...] = knob(
        tuple(endpoint.name for endpoint in ENDPOINTS),
        "--endpoints",
        "Comma-separated endpoints (default: all).",
        parse=names,
        known=tuple(endpoint.name for endpoint in ENDPOINTS),
    )
    variants: tuple[str, ...] = knob(
        VARIANTS, "--variants", "sync, async or sync,async (default: both).", parse=names, known=VARIANTS
    )
    gil: tuple[int, ...] = knob(
        FREE_THREADED_SETTINGS,
        "--gil",
        "GIL settings on free-threaded builds: 0, 1 or 0,1.",
        parse=settings,
        known=FREE_THREADED_SETTINGS,
    )
    duration_s: float = knob(
        2.0,
        "--duration",
        "Seconds per CPU-bound endpoint (per gateway endpoint too with --duration-factor 0).",
        least=0,
        inclusive=False,
        most=LONGEST_S,
        measured=True,
    )
    duration_factor: float = knob(
        1.2, "--duration-factor",
        "A gateway endpoint runs this many times its delay, whole seconds (half a delay more when a round of responses "
        "would end with the run; 0: --duration).",
        least=0,
        measured=True,
    )  # fmt: skip
    timeout_s: float = knob(
        None, "--timeout", "Client timeout, seconds (default: twice the slowest endpoint, at least 5).", least=0,
        inclusive=False, most=LONGEST_S, measured=True, sized=lambda machine: max(5.0, 2 * machine.slowest_delay_s),
    )  # fmt: skip
    client_threads: int = knob(
        None, "--client-threads", "loadgen threads (worker processes) (default: half the client's cores).", least=1,
        measured=True, sized=lambda machine: max(1, machine.client_cores // 2),
    )  # fmt: skip
    connections: int = knob(
        None, "--connections", "loadgen connections (default: 16 per server core).", least=1, measured=True,
        sized=lambda machine: 16 * machine.server_cores,
    )  # fmt: skip
    workers: int = knob(
        None, "--workers", "Server worker processes (default: one per server core).", least=1, measured=True,
        sized=lambda machine: machine.server_cores,
    )  # fmt: skip
    threads: int = knob(
        None, "--threads", "Server threads (gthread, asgi-threads) (default: two per server core).", least=1,
        measured=True, sized=lambda machine: 2 * machine.server_cores,
    )  # fmt: skip
    server_timeout_s: float = knob(
        None, "--server-timeout", "gunicorn --timeout, seconds (default: 60, or 3x the slowest endpoint).", least=0,
        inclusive=False, most=LONGEST_S, measured=True, sized=lambda machine: max(60.0, 3 * machine.slowest_delay_s),
    )  # fmt: skip
    gateway_scale: float = knob(
        1.0,
        "--gateway-scale",
        f"DEMO_GATEWAY_SCALE for the servers (at most {MAX_GATEWAY_SCALE:g}).",
        least=0,
        inclusive=False,
        most=MAX_GATEWAY_SCALE,
        measured=True,
    )
    rows: int = knob(
        DEFAULT_ROW_COUNT, "--rows", "DEMO_ROWS for the servers: the rows json_query and template_query serve "
        f"(default: 100; the original profile: 0, the notes' empty table; at most {MAX_ROW_COUNT}).", least=0,
        most=MAX_ROW_COUNT, measured=True, newer=True,
    )  # fmt: skip
    original_titles: bool = knob(False, None, "the notes' section titles for the original two modes")
    startup_timeout_s: float = knob(
        120.0, "--startup-timeout", "Seconds a server has to become ready.", least=0, inclusive=False, most=LONGEST_S
    )
    repeat: int | None = knob(
        None, "--repeat", "A fixed number of repetitions of each CPU-bound cell (default: adaptive, see --precision; "
        "gateway endpoints run once).", least=1,
    )  # fmt: skip
    precision: float = knob(
        0.05, "--precision", "Repeat a CPU-bound cell until its 95% interval's half-width is within this share of "
        f"its median (0.05: 5%), {MIN_REPEAT} repetitions at least and --max-repeat at most (instead of a profile's "
        "--repeat).", least=0, inclusive=False, instead_of="repeat", newer=True,
    )  # fmt: skip
    max_repeat: int = knob(
        5, "--max-repeat", "The most repetitions of a CPU-bound cell whose interval is still wider than --precision.",
        least=MIN_REPEAT, instead_of="repeat", newer=True,
    )  # fmt: skip
    time_budget_s: float = knob(
        0.0, "--time-budget", "Seconds a run may take: a round beyond each cell's least repetitions is added only if "
        "the run, at the pace measured so far, would end within them (0: no limit; the default profile: 600).",
        least=0, newer=True,
    )  # fmt: skip
    gateway_once: bool = knob(
        False, "--gateway-once", "Measure each gateway endpoint on a mode's first server only, or under every "
        "interpreter and GIL setting (default: once for the default profile, everywhere for original and quick).",
        negative_flag="--gateway-everywhere",
    )  # fmt: skip
    server_cpus: tuple[int, ...] | None = knob(
        None, "--server-cpus", "Pin the servers to these CPUs (0,1 or 0-3).", measured=True, parse=cpu_list,
        sized=lambda machine: machine.available if machine.client_pinned else None,
    )  # fmt: skip
    client_cpus: tuple[int, ...] | None = knob(
        None, "--client-cpus", "Pin loadgen to these CPUs.", measured=True, parse=cpu_list
    )
    http2: bool = knob(
        False, "--http2", "Also measure each mode whose server speaks h2c over HTTP/2, as a mode of its own "
        "(<mode>-h2); the others' are skipped with the reason.", newer=True,
    )  # fmt: skip
    bind: str = knob(
        "127.0.0.1", "--bind", "The servers' address, an IPv4 address of this machine (with --client-dask: one the "
        "Dask workers reach).", parse=listen_address,
    )  # fmt: skip
    client_dask: str | None = knob(
        None, "--client-dask", "Run loadgen's workers on this Dask cluster (tcp://HOST:8786, local:N), off the "
        "servers' CPUs.",
    )  # fmt: skip

    def selected_endpoints(self) -> list[Endpoint]:
        return [endpoint for endpoint in ENDPOINTS if endpoint.name in self.endpoints]

    def repetitions(self, endpoint: Endpoint) -> Repetitions:
        """A gateway endpoint runs once: its closed-loop rate is known in advance, and that run checks that the
        server reaches it. A CPU-bound one runs ``repeat`` times, or, adaptive, from ``MIN_REPEAT`` up to
        ``max_repeat`` times until its interval is within ``precision``."""
        if endpoint.delay_s > 0:
            return Repetitions(1, 1)
        if self.repeat is not None:
            return Repetitions(self.repeat, self.repeat)
        return Repetitions(MIN_REPEAT, self.max_repeat)

    def window(self, endpoint: Endpoint, at_once: int | None = None) -> Window:
        """How long the endpoint is measured, and the closed-loop bounds a reader compares its rate with: the
        connections', and for a server that runs ``at_once`` requests at a time (None: not bounded so), its own."""
        delay = endpoint.scaled_delay_s(self.gateway_scale)
        if delay <= 0:
            return Window(self.duration_s)
        # One full round of responses and a little more is what shows the bound: whole seconds, as wrk, unless a
        # round of responses is due at the window's end, where a run ended a few ms late (a busy machine) counted
        # some of them (2 s of a 1 s endpoint: 14 of 8 slots' 8, "172%" of the bound): then half a delay more
        duration = float(math.ceil(self.duration_factor * delay)) if self.duration_factor else self.duration_s
        if self.duration_factor and _ends_on_a_round(duration, delay):
            duration += delay / 2
        rounds = math.ceil(duration / delay) - 1

        def bounds(in_flight: int) -> tuple[float, float]:
            """``in_flight`` / delay, and the same counting only the rounds that end within the run."""
            bound = in_flight / delay
            return bound, in_flight * rounds / duration if rounds >= 1 else bound

        if at_once is None:
            return Window(duration, *bounds(self.connections))
        slots = min(self.connections, at_once)
        return Window(duration, *bounds(self.connections), slots, *bounds(slots))

    def server_values(self, port: int | str) -> dict[str, object]:
        """The values a mode's command-line template may use."""
        return {
            "host": self.bind,
            "port": port,
            "workers": self.workers,
            "threads": self.threads,
            "server_timeout": math.ceil(self.server_timeout_s),
        }

    def demo_environment(self) -> dict[str, str]:
        """The demo's variables the servers run with."""
        return {"DEMO_GATEWAY_SCALE": repr(self.gateway_scale), "DEMO_ROWS": str(self.rows)}

    def measured(self) -> dict[str, object]:
        """The values every cell's numbers depend on (its server's command aside)."""
        return {name: _plain(getattr(self, name)) for name, rule in KNOBS.items() if rule.measured}

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Repetitions:
    """How many times a cell is measured: ``least`` always, up to ``most`` while its interval is wider than the
    run's precision (adaptive when ``most > least``)."""

    least: int
    most: int

    @property
    def adaptive(self) -> bool:
        return self.most > self.least


NONE = Repetitions(0, 0)  # a cell not measured


KNOBS: dict[str, Knob] = {item.name: item.metadata["knob"] for item in fields(Parameters)}
DEFAULTS: dict[str, Any] = {item.name: item.default for item in fields(Parameters)}
# What the cells of a results.json written before a parameter they depend on existed were measured with: its
# default, which every run had then (100 rows: a run into such a directory with --rows 0 measures them again).
EARLIER: dict[str, Any] = {name: DEFAULTS[name] for name, rule in KNOBS.items() if rule.measured and rule.newer}


def _ends_on_a_round(duration: float, delay: float) -> bool:
    """Whether a closed loop's responses, each connection's at delay, 2 x delay, ..., have a round due right at
    the window's end (within a millisecond)."""
    rounds = duration / delay
    return abs(rounds - round(rounds)) * delay < 0.001


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


@cache
def _annotation(name: str) -> Any:
    """The field's type without ``None``."""
    annotation = typing.get_type_hints(Parameters)[name]
    if isinstance(annotation, types.UnionType):
        return next(kind for kind in typing.get_args(annotation) if kind is not type(None))
    return annotation


def value_type(name: str) -> type:
    """The field's type without ``None``: ``float``, ``int``, ``bool``, ``str`` or ``tuple``."""
    annotation = _annotation(name)
    return typing.get_origin(annotation) or annotation  # type: ignore[no-any-return]


def item_type(name: str) -> type | None:
    """What a tuple field holds (``str``, ``int``); None for other fields."""
    arguments = typing.get_args(_annotation(name))
    return arguments[0] if arguments else None


def optional(name: str) -> bool:
    """The field may be None once resolved (no CPUs pinned, no Dask cluster)."""
    return type(None) in typing.get_args(typing.get_type_hints(Parameters)[name])


def _check(name: str, value: object) -> object:
    """The value, in its list's order (each item once: a mode named twice is not run twice), or ProfileError naming
    the option (an empty list too: ``--modes ""`` is refused, not read as "the profile's modes")."""
    rule = KNOBS[name]
    option = rule.flag or name
    known = f" (known: {', '.join(map(str, rule.known))})" if rule.known is not None else ""
    if isinstance(value, list | tuple):
        value = tuple(dict.fromkeys(value))
        if not value:
            raise ProfileError(f"{option}: empty list, name at least one{known}")
    if rule.known is not None and isinstance(value, tuple):
        unknown = [item for item in value if item not in rule.known]
        if unknown:
            raise ProfileError(f"{option}: unknown {', '.join(map(str, unknown))}{known}")
        return tuple(item for item in rule.known if item in value)
    if rule.least is not None and isinstance(value, int | float) and not _within(value, rule.least, rule.inclusive):
        raise ProfileError(f"{option} must be {_bound_text(name, rule, value)} (got {value:g})")
    if rule.most is not None and isinstance(value, int | float) and value > rule.most:
        raise ProfileError(f"{option} must be at most {rule.most:.15g} (got {value:.15g})")
    return value


def _bound_text(name: str, rule: Knob, value: float) -> str:
    """``at least 1``, ``more than 0``; ``a finite number of seconds more than 0`` for inf and nan."""
    bound = f"at least {rule.least:g}" if rule.inclusive else f"more than {rule.least:g}"
    if math.isfinite(value):
        return bound
    return f"a finite number{' of seconds' if name.endswith('_s') else ''} {bound}"


def _within(value: float, least: float, inclusive: bool) -> bool:
    return math.isfinite(value) and (value > least or (inclusive and value == least))


def resolve_values(base: Mapping[str, object], /, **given: object) -> Parameters:
    """``base`` (a profile's values) with ``given`` on top (None: not given), the rest sized to the machine, every
    value checked."""
    chosen = _chosen(base, {name: value for name, value in given.items() if value is not None})
    machine = _machine(chosen)
    for name, rule in KNOBS.items():
        if chosen[name] is None and rule.sized is not None:
            chosen[name] = _check(name, rule.sized(machine))
    parameters = Parameters(**chosen)
    if parameters.connections < parameters.client_threads:
        raise ProfileError("--connections must be at least --client-threads")
    if parameters.duration_factor * machine.slowest_delay_s > LONGEST_S:  # else an error in every gateway cell
        raise ProfileError(
            f"--duration-factor {parameters.duration_factor:g} runs the slowest gateway endpoint "
            f"({machine.slowest_delay_s:g} s) over a year: it must be at most {LONGEST_S / machine.slowest_delay_s:g}"
        )
    return parameters


def _chosen(base: Mapping[str, object], given: dict[str, object]) -> dict[str, Any]:
    """The defaults, ``base`` and ``given`` on top, each checked; a value given resets the one it stands instead of."""
    chosen = {**DEFAULTS, **base, **given}
    unknown = set(chosen) - set(KNOBS)
    if unknown:
        raise ProfileError(f"no such parameter: {', '.join(sorted(unknown))}")
    for name in given:
        replaced = KNOBS[name].instead_of
        if replaced is not None and replaced in given:
            raise ProfileError(f"{KNOBS[name].flag} cannot be used with {KNOBS[replaced].flag}")
        if replaced is not None:
            chosen[replaced] = DEFAULTS[replaced]
    return {name: _check(name, value) for name, value in chosen.items()}


def _machine(chosen: Mapping[str, Any]) -> Machine:
    """What the values left unset are sized to: the cores each side has, the slowest gateway delay."""
    available = tuple(sorted(os.sched_getaffinity(0)))
    endpoints = [endpoint for endpoint in ENDPOINTS if endpoint.name in chosen["endpoints"]]
    return Machine(
        server_cores=len(chosen["server_cpus"] or available),
        client_cores=len(chosen["client_cpus"] or available),
        slowest_delay_s=max((endpoint.scaled_delay_s(chosen["gateway_scale"]) for endpoint in endpoints), default=0),
        available=available,
        client_pinned=bool(chosen["client_cpus"]),
    )
