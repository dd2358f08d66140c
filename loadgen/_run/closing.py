"""Connections that close (``--no-keepalive``, ``--requests-per-connection N``): what their last
request looks like, encoded once per worker.

A connection that is to close after ``N`` responses says so on its ``N``-th request
(``Connection: close``), so that a server closes it as soon as it has answered, as a browser's or
hey's does; the pool closes it itself when the server keeps it open anyway
(:meth:`loadgen._run.pool.Pool.retire`). A script's ``request()`` is sent as it wrote it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..request import Request
from .spec import WorkerSpec

__all__ = ["Closing", "closing"]


@dataclass(frozen=True)
class Closing:
    """Close each connection after ``after`` responses; the last requests, encoded: the run's
    one (or a script's first, sent when it has no ``request()``), and each target's, by turn."""

    after: int
    request: Any
    targets: tuple[Any, ...] = ()

    def last(self, request: Any, turn: int) -> Any:
        """The form of ``request`` (the ``turn``-th target's, or -1) that closes its connection."""
        if turn >= 0:
            return self.targets[turn]
        return self.request if request is None else request


def _saying_close(request: Request) -> Request:
    return replace(request, headers=(*request.headers, ("Connection", "close")))


def closing(spec: WorkerSpec, first: Request | bytes, encode: Callable[[Any], Any]) -> Closing | None:
    """What a worker's connections send last, when they close (None: they are kept alive)."""
    if spec.closes_after is None:
        return None
    targets = spec.rotation
    return Closing(
        spec.closes_after,
        encode(_saying_close(first)) if isinstance(first, Request) else encode(first),
        tuple(encode(_saying_close(targets.requests[i])) for i in targets.order) if targets is not None else (),
    )
