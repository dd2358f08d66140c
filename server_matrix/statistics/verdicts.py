"""What a run found, as data: per endpoint and variant the fastest server and those that cannot be told apart
from it, each mode's gil=0 / gil=1 ratio, and which servers reach a gateway endpoint's closed-loop bound (or their
own, lower one).

Two cells "cannot be told apart" when the bootstrap interval of their ratio holds 1 (or the ratio
is within the noise threshold): see :mod:`server_matrix.statistics.uncertainty`. Informational combinations
(a mode that is meaningless under this GIL setting) take no part. Pure: results in, verdicts out.
"""

from __future__ import annotations

from dataclasses import dataclass

from server_matrix.measuring.results import OK, Cell
from server_matrix.planning.endpoints import ENDPOINTS, VARIANTS
from server_matrix.planning.window import Window
from server_matrix.statistics import estimates
from server_matrix.statistics.sections import Section
from server_matrix.statistics.uncertainty import Estimate, Ratio, ratio

AT_BOUND = 0.9  # a closed loop at >= 90% of its bound (connections / delay, or the server's own) is "at the bound"
HELPS, HURTS, TIED = "helps", "hurts", "cannot be told apart"
NOT_JUDGED = "not judged"  # a single measurement on either side: no interval, so no verdict


@dataclass(frozen=True)
class Contender:
    label: str  # the server, as the summary names it
    cell: Cell
    rate: Estimate


def cannot_be_told_apart(fastest: Contender, other: Contender, change: Ratio | None) -> bool:
    """``other``'s ratio to ``fastest`` is not significant, or has no interval because a repetition of the fastest got
    no response; never when either was measured once, which is not judged at all."""
    single = fastest.rate.single or other.rate.single
    return not single and (change is None or not change.significant)


@dataclass(frozen=True)
class Race:
    """One CPU-bound endpoint and variant: the fastest server, and every other one's ratio to it."""

    endpoint: str
    variant: str
    fastest: Contender
    others: tuple[tuple[Contender, Ratio | None], ...]  # fastest first

    @property
    def tied(self) -> list[tuple[Contender, Ratio | None]]:
        """Those that cannot be told apart from the fastest at 95% confidence (a single measurement, which has no
        interval, is neither tied nor slower: ``untold``)."""
        return [(other, change) for other, change in self.others if cannot_be_told_apart(self.fastest, other, change)]

    @property
    def untold(self) -> list[Contender]:
        """Those with no verdict: they or the fastest were measured once."""
        return [other for other, change in self.others if change is None and self.single(other)]

    def single(self, other: Contender) -> bool:
        return self.fastest.rate.single or other.rate.single

    @property
    def slower(self) -> list[tuple[Contender, Ratio]]:
        return [(other, change) for other, change in self.others if change is not None and change.significant]


@dataclass(frozen=True)
class GilRatio:
    """gil=0 / gil=1 requests/sec of one mode on one interpreter, for one endpoint and variant. A setting measured
    once still has its ratio of medians (``value``): the mode did run under both, only with no interval to judge it
    by (``ratio`` None)."""

    label: str  # the mode (and interpreter)
    endpoint: str
    variant: str
    value: float  # gil=0's median / gil=1's
    ratio: Ratio | None  # with its interval; None when either setting was measured once, or gil=1's can be 0
    cells: tuple[Cell, Cell]  # gil=0's, gil=1's
    once: bool = False  # either setting measured once (else a ratio with no interval had a gil=1 repetition at 0)

    @property
    def silent(self) -> bool:
        """gil=0 got no response (0 req/s) and there is no interval: no ratio to show, only that."""
        return self.ratio is None and self.value == 0

    @property
    def unbounded(self) -> bool:
        """Repeated, but a gil=1 repetition got no response (0 req/s): the ratio's interval has no upper end."""
        return self.ratio is None and not self.once

    @property
    def verdict(self) -> str:
        """``helps``, ``hurts`` (turning the GIL off), ``cannot be told apart``, or ``not judged`` (measured once)."""
        if self.ratio is None:
            return NOT_JUDGED
        if not self.ratio.significant:
            return TIED
        return HELPS if self.ratio.value > 1 else HURTS


@dataclass(frozen=True)
class Reach:
    """One server on a gateway endpoint: the share it reached of the lower of its bounds within the run."""

    label: str
    share: float
    window: Window  # its bounds: the server's own is the one judged when ``window.own_is_lower``

    @property
    def reached(self) -> bool:
        return self.share >= AT_BOUND


@dataclass(frozen=True)
class BoundCheck:
    """A gateway endpoint and variant: which servers reached their bound within the run, the closed-loop one or,
    for a server that runs fewer requests at once than there are connections, its own."""

    endpoint: str
    variant: str
    servers: tuple[Reach, ...]  # fastest first

    def against(self, *, own: bool) -> list[Reach]:
        """Those judged against their own bound (``own``), or against the closed-loop one."""
        return [server for server in self.servers if server.window.own_is_lower == own]


@dataclass(frozen=True)
class Verdicts:
    races: tuple[Race, ...]
    gil_ratios: tuple[GilRatio, ...]
    bounds: tuple[BoundCheck, ...]


def _contenders(all_sections: list[Section], endpoint: str, variant: str) -> list[Contender]:
    found = []
    for section in all_sections:
        cell = section.cell(endpoint, variant)
        rate = estimates.rate(cell) if cell is not None and cell.status == OK and not cell.informational else None
        if cell is not None and rate is not None:
            found.append(Contender(section.label, cell, rate))
    return sorted(found, key=lambda contender: -contender.rate.median)


def _race(contenders: list[Contender], endpoint: str, variant: str) -> Race:
    fastest, *others = contenders
    return Race(endpoint, variant, fastest, tuple((other, ratio(fastest.rate, other.rate)) for other in others))


def share_of_bound(cell: Cell, rate: Estimate) -> float | None:
    """The share of the lower bound within the run (the server's own where it has a lower one); None: no bound."""
    bound = cell.window.reachable_rps
    return rate.median / bound if bound else None


def _bounds(contenders: list[Contender], endpoint: str, variant: str) -> BoundCheck:
    return BoundCheck(
        endpoint,
        variant,
        tuple(
            Reach(contender.label, share_of_bound(contender.cell, contender.rate) or 0.0, contender.cell.window)
            for contender in contenders
        ),
    )


def _gil_ratios(all_sections: list[Section]) -> list[GilRatio]:
    """gil=0 / gil=1 of each mode run under both, on each endpoint and variant measured under both (a
    gateway endpoint's rate is its delay's bound, not the server's: left out)."""
    found = []
    for off, on in _gil_pairs(all_sections):
        label = off.label.replace(" gil=0", "")
        for endpoint in ENDPOINTS:
            if endpoint.delay_s:
                continue
            for variant in VARIANTS:
                entry = _gil_ratio(
                    label, endpoint.name, variant, off.cell(endpoint.name, variant), on.cell(endpoint.name, variant)
                )
                if entry is not None:
                    found.append(entry)
    return found


def _gil_pairs(all_sections: list[Section]) -> list[tuple[Section, Section]]:
    """The gil=0 and gil=1 sections of each mode and interpreter run under both, in report order."""
    by_setting: dict[tuple[str, str], dict[int | None, Section]] = {}
    for section in all_sections:
        first = section.cells[0]
        by_setting.setdefault((first.python, first.mode), {})[first.gil_requested] = section
    return [(pair[0], pair[1]) for pair in by_setting.values() if 0 in pair and 1 in pair]


def _gil_ratio(label: str, endpoint: str, variant: str, off: Cell | None, on: Cell | None) -> GilRatio | None:
    """One cell's gil=0 / gil=1; None unless both were measured, with a rate, gil=1's above 0."""
    if off is None or on is None or off.status != OK or on.status != OK:
        return None
    rate_off, rate_on = estimates.rate(off), estimates.rate(on)
    if rate_off is not None and rate_on is not None and rate_on.median > 0:
        change, once = ratio(rate_on, rate_off), rate_off.single or rate_on.single
        return GilRatio(label, endpoint, variant, rate_off.median / rate_on.median, change, (off, on), once)
    return None


def verdicts(all_sections: list[Section]) -> Verdicts:
    """Every race, bound check and GIL ratio among the servers' sections (:func:`~.sections.sections`)."""
    races, bounds = [], []
    for endpoint in ENDPOINTS:
        for variant in VARIANTS:
            contenders = _contenders(all_sections, endpoint.name, variant)
            if not contenders:
                continue
            if endpoint.delay_s:
                bounds.append(_bounds(contenders, endpoint.name, variant))
            else:
                races.append(_race(contenders, endpoint.name, variant))
    return Verdicts(tuple(races), tuple(_gil_ratios(all_sections)), tuple(bounds))
