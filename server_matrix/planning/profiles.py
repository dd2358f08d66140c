"""Profiles: named sets of run parameters, and their resolution against this machine and the command line.

``original`` repeats the notes' exact parameters (wrk -t20 -c2000 -d10s, 20 workers), artefacts
included. ``default`` fixes the methodology: a client timeout above the slowest endpoint, each
endpoint measured long enough for every connection to get at least one response (2 s, and 1.2x
the gateway delays: a closed loop's rate there is set by the delay, not by the run's length),
workers and connections sized to the machine, each CPU-bound cell repeated adaptively
(``statistics/stopping.py``), each gateway endpoint on a mode's first server only (``plan.GATEWAY_ONCE``)
and with its delay scaled by :data:`GATEWAY_CHECK_SCALE`. ``quick`` runs every mode briefly, with the gateway
delays shrunk, for CI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from server_matrix.planning.parameters import DEFAULTS, Parameters, ProfileError, resolve_values

__all__ = ["GATEWAY_CHECK_SCALE", "PROFILES", "Profile", "ProfileError", "resolve"]

# What a gateway cell shows is whether the server holds every connection's request at once (Little's law:
# connections / delay), which depends on its concurrency, not on how long each request sleeps. At a tenth of
# the notes' delays (0.1, 0.3 and 1 s) each cell takes 2 s instead of 2, 4 and 12, with at least one full round
# of responses in each, and the rate stays far below what the CPU-bound endpoints reach.
GATEWAY_CHECK_SCALE = 0.1
# Two idle default runs (benchmarks/matrix_spread.py): a CPU-bound cell's rate varies by a median 14% from one
# 2 s window to the next, most of it between windows (a second inside one varies by 9%: 6% for two, were they
# independent), so its spread shrinks with more windows, not longer ones; and at five repetitions of 2 s a run
# took 23 minutes. Two repetitions of 1.5 s (a window's first second is as fast as its second on json, 5-7%
# slower on json_query and template_query, a third to a half on brotli: a shorter window reads lower there) and
# a 10-minute budget for the rounds beyond them.
DEFAULT_WINDOW_S = 1.5
DEFAULT_BUDGET_S = 600.0


@dataclass(frozen=True)
class Profile:
    """A name and the parameters it sets (:class:`Parameters` fields); the rest keep their declared defaults, or
    are sized to the machine. What each is for: this module's docstring and the README's Profiles table."""

    name: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.values) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"profile {self.name}: no such parameter {', '.join(sorted(unknown))}")


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            "original",
            {
                "modes": ("asgi-uvicorn-single", "asgi-uvicorn-workers"),
                "duration_s": 10.0,
                "duration_factor": 0.0,
                "timeout_s": 2.0,
                "client_threads": 20,
                "connections": 2000,
                "workers": 20,
                "threads": 20,
                "original_titles": True,
                "repeat": 1,
                "rows": 0,  # the notes' json_query answered [] and template_query an empty table
            },
        ),
        Profile(
            "default",
            {
                "duration_s": DEFAULT_WINDOW_S,
                "time_budget_s": DEFAULT_BUDGET_S,
                "gateway_once": True,
                "gateway_scale": GATEWAY_CHECK_SCALE,
            },
        ),
        Profile(
            "quick",
            {
                "duration_s": 1.0,
                "connections": 8,
                "client_threads": 1,
                "workers": 2,
                "threads": 2,
                "gateway_scale": 0.01,
                "startup_timeout_s": 60.0,
                "repeat": 1,
            },
        ),
    )
}


def resolve(profile: Profile, **given: object) -> Parameters:
    """The profile with the command line's values on top (None: not given), sized to this machine, checked."""
    return resolve_values({"profile": profile.name, **profile.values}, **given)
