"""GIL settings: what to ask an interpreter for, and how to name the ask.

A setting is ``0`` or ``1`` (``-X gil=N`` on a free-threaded build) or ``None``: a default build,
which always has the GIL and must never get ``-X gil=0`` (the interpreter aborts).
"""

from __future__ import annotations

GilSetting = int | None

FREE_THREADED_SETTINGS: tuple[int, ...] = (0, 1)


def setting_key(gil: GilSetting) -> str:
    """``gil0``, ``gil1`` or ``default``: the name used in mode tables and file names."""
    return "default" if gil is None else f"gil{gil}"


def describe(gil: GilSetting) -> str:
    """``gil=0``, ``gil=1`` or ``default build``: for progress lines and labels."""
    return "default build" if gil is None else f"gil={gil}"


def heading_suffix(gil: GilSetting) -> str:
    """What follows a mode's title in a report heading: the notes' ``-Xgil=0``, or ``(default build)``."""
    return "(default build)" if gil is None else f"-Xgil={gil}"


def interpreter_flags(gil: GilSetting) -> list[str]:
    return [] if gil is None else ["-X", f"gil={gil}"]


def environment_overrides(gil: GilSetting) -> dict[str, str | None]:
    """``PYTHON_GIL`` exported as well, so processes the server spawns inherit it (``None`` unsets it)."""
    return {"PYTHON_GIL": None if gil is None else str(gil)}
