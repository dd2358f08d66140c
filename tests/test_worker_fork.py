"""A worker forked from loadgen's process leaves what that process made out of its garbage
collections (``gc.freeze``): a full collection in the worker would visit every inherited object,
and the kernel would copy every page it wrote to."""

from __future__ import annotations

import gc
import os

from loadgen._run.forkserver import DirectFork


def _report_frozen(fd: int) -> int:
    """A worker's entry point that writes how many objects its collections leave out."""
    os.write(fd, str(gc.get_freeze_count()).encode())
    return 0


def test_a_forked_worker_leaves_the_inherited_objects_out_of_its_collections() -> None:
    inherited = len(gc.get_objects())
    readable, writable = os.pipe()
    forker = DirectFork(_report_frozen)
    try:
        pid = forker.fork([writable])
    finally:
        os.close(writable)
    with os.fdopen(readable, "rb") as reading:
        frozen = int(reading.read())
    assert forker.wait(pid) == 0
    assert frozen >= inherited // 2  # all that this process tracked when it forked (give or take its own churn)
