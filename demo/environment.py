"""Typed reads of the DEMO_* environment variables.

Settings are read once, at import of ``demo.settings``; a malformed value raises
``ImproperlyConfigured`` naming the variable, so a server refuses to boot instead of
failing later inside a request.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured


def env_float(name: str, default: float, *, minimum: float, maximum: float) -> float:
    """A float within [minimum, maximum] from ``name``, or ``default`` when unset or empty.

    Every float knob is a duration or scales one: ``maximum`` keeps it within what a sleep or a
    lock wait accepts (``time.sleep(1e10)`` raises OverflowError inside the view).
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):  # inf sleeps forever (gateway) or overflows a lock wait (pool)
        raise ImproperlyConfigured(f"{name} must be a finite number, got {raw!r}")
    return within(name, raw, value, minimum, maximum)


def env_int(name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    """An integer within [minimum, maximum] from ``name``, or ``default`` when unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    return within(name, raw, value, minimum, maximum)


Number = TypeVar("Number", int, float)


def within(name: str, raw: str, value: Number, minimum: Number, maximum: Number | None) -> Number:
    """``value`` if within [minimum, maximum] (no upper bound when ``maximum`` is None), else refused."""
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise ImproperlyConfigured(f"{name} must be >= {minimum}{upper}, got {raw!r}")
    return value


def env_list(name: str) -> list[str]:
    """The comma-separated, non-empty items of ``name``."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def data_dir() -> Path:
    """Where the SQLite file and the provisioning lock live.

    ``DEMO_DATA_DIR`` if set, else ``$XDG_CACHE_HOME/loadgen-demo`` (``~/.cache/loadgen-demo``):
    a per-user, writable place that is never inside site-packages, even when the demo is
    installed as a regular (non-editable) package.
    """
    explicit = os.environ.get("DEMO_DATA_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser().resolve()
    cache_home = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return (Path(cache_home).expanduser() / "loadgen-demo").resolve()
