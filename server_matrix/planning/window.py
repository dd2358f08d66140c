"""A cell's measurement window and the closed-loop bounds a reader compares its rate with: what the
parameters (:meth:`~server_matrix.planning.parameters.Parameters.window`) make of an endpoint, what
results.json keeps of it, and what the report judges a rate against."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """A cell's measurement window: its duration, and for a gateway endpoint the closed-loop bounds (Little's
    law): connections / delay, and the same counting only the responses that arrive within the run (each
    connection's at d, 2d, ...: a 30 s run of a 10 s endpoint gets 2 rounds, not 3; when not even one fits, the
    plain bound). A server that runs fewer requests at once than there are connections (``slots``: a sync
    worker's one, gthread's threads) has bounds of its own, slots / delay, counted the same way."""

    duration_s: float
    ceiling_rps: float | None = None
    window_ceiling_rps: float | None = None
    slots: int | None = None  # requests the server runs at once, at most the connections (None: not bounded so)
    own_ceiling_rps: float | None = None
    window_own_ceiling_rps: float | None = None

    @property
    def own_bound(self) -> tuple[int, float] | None:
        """The server's slots and own bound when that is below the connections' bound (what the rate can reach is
        then the server's limit, not the client's); None otherwise."""
        slots, own, ceiling = self.slots, self.own_ceiling_rps, self.ceiling_rps
        if slots is None or own is None or ceiling is None or own >= ceiling:
            return None
        return slots, own

    @property
    def own_is_lower(self) -> bool:
        return self.own_bound is not None

    @property
    def reachable_rps(self) -> float | None:
        """The bound within the run that a rate is judged against: the lower of the two (None: no bound)."""
        if self.own_is_lower:
            return self.window_own_ceiling_rps or self.own_ceiling_rps
        return self.window_ceiling_rps or self.ceiling_rps
