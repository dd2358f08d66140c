"""Which side goes first in each round of an alternating benchmark: each in turn, so that a
machine that speeds up or slows down during the run (this one moves 10-15% within minutes)
favours none of them.

    from turns import in_turn   # a sibling script, as the benchmarks import each other
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

__all__ = ["in_turn"]

T = TypeVar("T")


def in_turn(sides: Sequence[T], round_: int) -> list[T]:
    """``sides`` in the order of round ``round_``: rotated to begin with side ``round_ % len(sides)``."""
    shift = round_ % len(sides)
    return [*sides[shift:], *sides[:shift]]
