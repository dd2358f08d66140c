"""The deterministic rows the table is seeded with; tests compare responses against them."""

from __future__ import annotations

DEFAULT_ROW_COUNT = 100
# A million rows take about 300 MB and seconds to build; 1e10 would have exhausted the memory at boot.
MAX_ROW_COUNT = 1_000_000
# Values cycle through 0..9, so `?value=3` selects a tenth of the rows.
VALUE_CYCLE = 10


def seed_rows(count: int = DEFAULT_ROW_COUNT) -> list[dict[str, int | str]]:
    """Row i (1-based) is ``{"id": i, "name": "item-000i", "value": i % 10}``, in id order."""
    return [{"id": i, "name": f"item-{i:04d}", "value": i % VALUE_CYCLE} for i in range(1, count + 1)]
