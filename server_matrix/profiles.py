"""Profiles: named sets of run parameters, and their resolution against this machine and the command line.

``original`` repeats the notes' exact parameters (wrk -t20 -c2000 -d10s, 20 workers), artefacts
included. ``default`` fixes the methodology: a client timeout above the slowest endpoint, each
endpoint measured long enough for every connection to get at least one response (2 s, and 1.2x
the gateway delays: a closed loop's rate there is set by the delay, not by the run's length),
workers and connections sized to the machine, each gateway endpoint on a mode's first server only
(``plan.GATEWAY_ONCE``); every mode, within 45 minutes on 2 cores with one free-threaded
interpreter (``estimate.py``). ``quick`` runs every mode briefly, with the gateway
delays shrunk, for CI.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar

from server_matrix.endpoints import ENDPOINTS, VARIANTS, Endpoint
from server_matrix.gil import FREE_THREADED_SETTINGS
from server_matrix.modes import MODES

ALL_MODES = tuple(mode.id for mode in MODES)
MIN_AUTO_TIMEOUT_S = 5.0
MIN_SERVER_TIMEOUT_S = 60.0
Number = TypeVar("Number", int, float)


@dataclass(frozen=True)
class Profile:
    """Unset numbers (None) are sized to the machine when the profile is resolved."""

    name: str
    description: str
    modes: tuple[str, ...] = ALL_MODES
    endpoints: tuple[str, ...] = tuple(endpoint.name for endpoint in ENDPOINTS)
    variants: tuple[str, ...] = VARIANTS
    gil: tuple[int, ...] = FREE_THREADED_SETTINGS
    duration_s: float = 2.0
    duration_factor: float = 1.2  # each endpoint runs for at least this many times its delay
    timeout_s: float | None = None  # None: twice the slowest endpoint's delay, at least 5 s
    client_threads: int | None = None  # None: half the client's cores, at least 1
    connections: int | None = None  # None: 16 per server core
    workers: int | None = None  # None: one per server core
    threads: int | None = None  # None: two per server core
    server_timeout_s: float | None = None  # None: 60 s, or 3x the slowest endpoint if longer
    gateway_scale: float = 1.0
    original_titles: bool = False  # the notes' section titles for the original two modes
    startup_timeout_s: float = 120.0
    repeat: int = 3  # rounds for the CPU-bound endpoints; a gateway endpoint's rate is known, it runs once
    gateway_once: bool = False  # each gateway endpoint on a mode's first server only (``plan.GATEWAY_ONCE``)


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            "original",
            "The notes' exact parameters: wrk -t20 -c2000 -d10s (2 s timeout), 20 workers or threads, "
            "the two original modes under -Xgil=0 and -Xgil=1.",
            modes=("asgi-uvicorn-single", "asgi-uvicorn-workers"),
            duration_s=10.0,
            duration_factor=0.0,
            timeout_s=2.0,
            client_threads=20,
            connections=2000,
            workers=20,
            threads=20,
            original_titles=True,
            repeat=1,
        ),
        Profile(
            "default",
            "The methodology fixed: client timeout above the slowest endpoint, each endpoint measured for "
            "at least 2 s and 1.2x its latency (one full round of responses), workers and connections sized to "
            "the machine; each gateway endpoint once per mode, on its first server.",
            gateway_once=True,
        ),
        Profile(
            "quick",
            "Every mode briefly, for CI: 1 s per endpoint, few connections, gateway delays scaled by "
            "DEMO_GATEWAY_SCALE=0.01 (gateway_10s sleeps 0.1 s).",
            duration_s=1.0,
            connections=8,
            client_threads=1,
            workers=2,
            threads=2,
            gateway_scale=0.01,
            startup_timeout_s=60.0,
            repeat=1,
        ),
    )
}


@dataclass(frozen=True)
class Parameters:
    """A profile resolved to numbers: everything a run needs, stored with its results."""

    profile: str
    modes: tuple[str, ...]
    endpoints: tuple[str, ...]
    variants: tuple[str, ...]
    gil: tuple[int, ...]
    duration_s: float
    duration_factor: float
    timeout_s: float
    client_threads: int
    connections: int
    workers: int
    threads: int
    server_timeout_s: float
    gateway_scale: float
    original_titles: bool
    startup_timeout_s: float
    repeat: int = 1
    gateway_once: bool = False
    server_cpus: tuple[int, ...] | None = None
    client_cpus: tuple[int, ...] | None = None
    bind: str = "127.0.0.1"  # the servers' address; another than loopback for a client on a Dask cluster
    client_dask: str | None = None  # loadgen's workers run on this Dask cluster, off the servers' CPUs

    def selected_endpoints(self) -> list[Endpoint]:
        by_name = {endpoint.name: endpoint for endpoint in ENDPOINTS}
        return [by_name[name] for name in self.endpoints]

    def repetitions(self, endpoint: Endpoint) -> int:
        """``repeat`` for a CPU-bound endpoint; one run for a gateway endpoint, whose closed-loop rate is known
        in advance: that run checks that the server reaches it."""
        return 1 if endpoint.delay_s > 0 else self.repeat

    def cell_duration_s(self, endpoint: Endpoint) -> float:
        """The profile's duration, stretched to ``duration_factor`` x the delay, in whole seconds as wrk runs."""
        stretched = self.duration_factor * endpoint.scaled_delay_s(self.gateway_scale)
        return float(max(self.duration_s, math.ceil(stretched)))

    def ceiling_rps(self, endpoint: Endpoint) -> float | None:
        """The closed-loop bound (Little's law): no more than connections / delay responses per second."""
        delay = endpoint.scaled_delay_s(self.gateway_scale)
        return self.connections / delay if delay > 0 else None

    def window_ceiling_rps(self, endpoint: Endpoint) -> float | None:
        """The same bound for a run of this length: each connection's responses arrive at d, 2d, ...,
        and only those before the end count, so a 30 s run of a 10 s endpoint gets 2 rounds, not 3.
        When not even one round fits, the plain bound is what a reader compares with."""
        delay = endpoint.scaled_delay_s(self.gateway_scale)
        if delay <= 0:
            return None
        duration = self.cell_duration_s(endpoint)
        rounds = math.ceil(duration / delay) - 1
        return self.connections * rounds / duration if rounds >= 1 else self.connections / delay

    def server_values(self, port: int | str) -> dict[str, object]:
        """The values a mode's command-line template may use."""
        return {
            "host": self.bind,
            "port": port,
            "workers": self.workers,
            "threads": self.threads,
            "server_timeout": math.ceil(self.server_timeout_s),
        }

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class ProfileError(ValueError):
    """A parameter that cannot be used."""


def resolve(
    profile: Profile,
    *,
    server_cpus: Sequence[int] | None = None,
    client_cpus: Sequence[int] | None = None,
    **overrides: Any,
) -> Parameters:
    """The profile with the command line's overrides (None means "not given": ``overrides`` are :class:`Profile`
    fields) and machine-sized defaults."""
    chosen = replace(
        profile,
        **{
            name: value
            for name, value in overrides.items()
            if value is not None and name in Profile.__dataclass_fields__
        },
    )
    # A pinned client must not hand its pinning down to the servers it starts.
    server_cpus = server_cpus or (sorted(os.sched_getaffinity(0)) if client_cpus else None)
    available = len(os.sched_getaffinity(0))
    server_cores = len(server_cpus) if server_cpus else available
    client_cores = len(client_cpus) if client_cpus else available
    endpoints = [endpoint for endpoint in ENDPOINTS if endpoint.name in chosen.endpoints]
    slowest = max((endpoint.scaled_delay_s(chosen.gateway_scale) for endpoint in endpoints), default=0.0)
    parameters = Parameters(
        profile=chosen.name,
        modes=chosen.modes,
        endpoints=tuple(endpoint.name for endpoint in endpoints),
        variants=tuple(variant for variant in VARIANTS if variant in chosen.variants),
        gil=chosen.gil,
        duration_s=chosen.duration_s,
        duration_factor=chosen.duration_factor,
        timeout_s=_given(chosen.timeout_s, max(MIN_AUTO_TIMEOUT_S, 2 * slowest)),
        client_threads=_given(chosen.client_threads, max(1, client_cores // 2)),
        connections=_given(chosen.connections, 16 * server_cores),
        workers=_given(chosen.workers, server_cores),
        threads=_given(chosen.threads, 2 * server_cores),
        server_timeout_s=_given(chosen.server_timeout_s, max(MIN_SERVER_TIMEOUT_S, 3 * slowest)),
        gateway_scale=chosen.gateway_scale,
        original_titles=chosen.original_titles,
        startup_timeout_s=chosen.startup_timeout_s,
        repeat=chosen.repeat,
        gateway_once=chosen.gateway_once,
        server_cpus=tuple(server_cpus) if server_cpus else None,
        client_cpus=tuple(client_cpus) if client_cpus else None,
        bind=str(overrides.get("bind") or "127.0.0.1"),
        client_dask=str(overrides["client_dask"]) if overrides.get("client_dask") else None,
    )
    _check(parameters, chosen)
    return parameters


def _given(value: Number | None, automatic: Number) -> Number:
    """The value given (0 included: it is refused by the checks, never silently replaced), else the automatic one."""
    return automatic if value is None else value


# What each number may be: (the option that sets it, the least value, whether that value itself is allowed).
NUMBER_LIMITS: dict[str, tuple[str, float, bool]] = {
    "duration_s": ("--duration", 0, False),
    "duration_factor": ("--duration-factor", 0, True),
    "timeout_s": ("--timeout", 0, False),
    "client_threads": ("--client-threads", 1, True),
    "connections": ("--connections", 1, True),
    "workers": ("--workers", 1, True),
    "threads": ("--threads", 1, True),
    "server_timeout_s": ("--server-timeout", 0, False),
    "gateway_scale": ("--gateway-scale", 0, False),
    "startup_timeout_s": ("--startup-timeout", 0, False),
    "repeat": ("--repeat", 1, True),
}


def _check_numbers(parameters: Parameters) -> None:
    for name, (option, least, inclusive) in NUMBER_LIMITS.items():
        value = getattr(parameters, name)
        if not math.isfinite(value) or value < least or (value == least and not inclusive):
            bound = f"at least {least:g}" if inclusive else f"more than {least:g}"
            raise ProfileError(f"{option} must be {bound} (got {value:g})")


def _check(parameters: Parameters, chosen: Profile) -> None:
    unknown_endpoints = set(chosen.endpoints) - {endpoint.name for endpoint in ENDPOINTS}
    if unknown_endpoints:
        raise ProfileError(
            f"unknown endpoint(s) {', '.join(sorted(unknown_endpoints))}; "
            f"known: {', '.join(endpoint.name for endpoint in ENDPOINTS)}"
        )
    unknown_variants = set(chosen.variants) - set(VARIANTS)
    if unknown_variants or not parameters.variants:
        raise ProfileError(f"variants must be among {', '.join(VARIANTS)}")
    if set(parameters.gil) - set(FREE_THREADED_SETTINGS) or not parameters.gil:
        raise ProfileError("--gil takes 0, 1 or both")
    _check_numbers(parameters)
    if parameters.connections < parameters.client_threads:
        raise ProfileError("connections must be at least the number of client threads")
