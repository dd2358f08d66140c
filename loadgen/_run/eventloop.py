"""A worker's event loop: uvloop when it is installed, else asyncio's own."""

from __future__ import annotations

import asyncio

try:  # imported here, not per worker: a worker forked from a process that has it costs no import
    import uvloop
except ImportError:
    uvloop = None  # type: ignore[assignment]

__all__ = ["new_event_loop"]


def new_event_loop() -> tuple[asyncio.AbstractEventLoop, str]:
    """uvloop when it is installed, else asyncio's default loop; and which one it is."""
    if uvloop is None:
        return asyncio.new_event_loop(), "asyncio"
    return uvloop.new_event_loop(), "uvloop"
